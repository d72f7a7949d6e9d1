//! Compiling and running emitted modules (shared by the back end's tests): every module
//! under `root/src/IDENT/model.rs` goes into one `#![no_std]` library compiled with
//! `-D warnings`, and a runner executes jobs on it (built for the host, or cross-compiled and run
//! under an emulator: [`Toolchain`]); and how outputs are compared.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes `path` only when its contents change (so an unchanged check crate is not rebuilt).
pub fn write_if_changed(path: &Path, contents: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

/// How the modules and their runner are built and started.
pub struct Toolchain {
    /// Subdirectory of the root for the build's outputs (empty: the root itself).
    pub dir: &'static str,
    /// `--target` triple, `None` for the host.
    pub target: Option<&'static str>,
    /// `-C linker=`, when the target needs one.
    pub linker: Option<&'static str>,
    /// `-C opt-level=`.
    pub opt_level: u8,
    /// `-C target-feature=`, empty for the target's default features.
    pub features: &'static str,
    /// Program and arguments the runner is started under (an emulator), empty for none.
    pub launcher: Vec<String>,
}

impl Toolchain {
    /// The host, `opt-level=2`, outputs in the root (what `tests/emit.rs` uses).
    pub fn host() -> Self {
        Toolchain { dir: "", target: None, linker: None, opt_level: 2, features: "", launcher: Vec::new() }
    }

    /// A command starting the runner `exe` (under the launcher, if any).
    pub fn command(&self, exe: &Path) -> Command {
        match self.launcher.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }
}

/// Compiles the modules under `root/src` into `root/run` (one no_std rlib, one runner) for the
/// host, skipping the build when the sources are unchanged since the last one.
pub fn compile(root: &Path, idents: &[String], compile_only: &[&str]) -> Result<PathBuf, String> {
    compile_with(root, idents, compile_only, &Toolchain::host())
}

/// [`compile`] with a toolchain: the rlib, runner and stamp go to `root/<dir>`.
pub fn compile_with(
    root: &Path,
    idents: &[String],
    compile_only: &[&str],
    toolchain: &Toolchain,
) -> Result<PathBuf, String> {
    let src = root.join("src");
    let mut lib = String::from("#![no_std]\n//! Generated modules under test.\n");
    let mut dispatch = String::new();
    for id in compile_only {
        let _ = writeln!(lib, "/// Generated.\npub mod {id} {{\n    include!(\"{id}/model.rs\");\n}}");
    }
    for id in idents {
        let _ = writeln!(lib, "/// Generated.\npub mod {id} {{\n    include!(\"{id}/model.rs\");\n}}");
        let _ = writeln!(
            dispatch,
            "        \"{id}\" => go(m::{id}::run, m::{id}::INPUT_LEN, m::{id}::OUTPUT_LEN, m::{id}::ARENA_LEN, &x),"
        );
    }
    let main = format!(
        r#"//! Runs generated modules: each line of the job file is `MODULE INPUT OUTPUT` (raw little-endian
//! f32; the input may hold several samples, one after another).
use emitcheck as m;

type Run = fn(&[f32], &mut [f32], &mut [f32]);

/// Runs the model on each `ilen` values of `x` in turn; the outputs one after another.
fn go(run: Run, ilen: usize, olen: usize, alen: usize, x: &[f32]) -> Vec<f32> {{
    assert!(!x.is_empty() && x.len() % ilen == 0, "input length");
    let mut y = vec![0.0; olen * (x.len() / ilen)];
    for (x, y) in x.chunks(ilen).zip(y.chunks_mut(olen)) {{
        // NaN everywhere: reading an arena slot nobody wrote poisons the output.
        let mut arena = vec![f32::NAN; alen];
        run(x, y, &mut arena);
    }}
    y
}}

fn main() {{
    let jobs = std::env::args().nth(1).expect("job file");
    for line in std::fs::read_to_string(jobs).expect("job file").lines() {{
        let parts: Vec<&str> = line.split(' ').collect();
        let bytes = std::fs::read(parts[1]).expect("input");
        let x: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let y = match parts[0] {{
{dispatch}            other => panic!("unknown module {{other}}"),
        }};
        let out: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(parts[2], out).expect("output");
    }}
}}
"#
    );
    write_if_changed(&src.join("lib.rs"), &lib);
    write_if_changed(&src.join("main.rs"), &main);
    let out = root.join(toolchain.dir);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let stamp = out.join("stamp");
    let newest = newest_mtime(&src);
    let runner = out.join("run");
    let fresh = std::fs::metadata(&stamp).and_then(|m| m.modified()).ok().zip(newest).is_some_and(|(s, n)| s >= n);
    if fresh && runner.exists() {
        return Ok(runner);
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let mut common: Vec<String> = ["--edition", "2021", "-C", "codegen-units=16", "-C", "debuginfo=0", "-C"]
        .into_iter()
        .map(String::from)
        .collect();
    common.push(format!("opt-level={}", toolchain.opt_level));
    if let Some(target) = toolchain.target {
        common.extend(["--target".into(), target.into()]);
    }
    if let Some(linker) = toolchain.linker {
        common.extend(["-C".into(), format!("linker={linker}")]);
    }
    if !toolchain.features.is_empty() {
        common.extend(["-C".into(), format!("target-feature={}", toolchain.features)]);
    }
    let started = std::time::Instant::now();
    let status = Command::new(&rustc)
        .args(&common)
        .args(["-D", "warnings", "--crate-type", "rlib", "--crate-name", "emitcheck", "--out-dir"])
        .arg(&out)
        .arg(src.join("lib.rs"))
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if !status.status.success() {
        return Err(format!("generated code does not compile:\n{}", String::from_utf8_lossy(&status.stderr)));
    }
    let status = Command::new(&rustc)
        .args(&common)
        .args(["--crate-type", "bin", "--crate-name", "run", "--extern"])
        .arg(format!("emitcheck={}", out.join("libemitcheck.rlib").display()))
        .arg("-o")
        .arg(&runner)
        .arg(src.join("main.rs"))
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if !status.status.success() {
        return Err(format!("the runner does not compile:\n{}", String::from_utf8_lossy(&status.stderr)));
    }
    println!(
        "compiled {} generated modules for {}{} in {:.1} s",
        idents.len(),
        toolchain.target.unwrap_or("the host"),
        if toolchain.features.is_empty() { String::new() } else { format!(" ({})", toolchain.features) },
        started.elapsed().as_secs_f64()
    );
    std::fs::write(&stamp, "").map_err(|e| e.to_string())?;
    Ok(runner)
}

fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let t =
            if entry.path().is_dir() { newest_mtime(&entry.path()) } else { entry.metadata().ok()?.modified().ok() };
        newest = newest.max(t);
    }
    newest
}

/// Largest absolute and relative difference, and whether every value is within 1e-4 of the
/// reference absolutely or relatively.
pub fn agree(reference: &[f32], actual: &[f32]) -> (f64, f64, bool) {
    let (mut abs, mut rel, mut ok) = (0f64, 0f64, reference.len() == actual.len());
    for (&r, &a) in reference.iter().zip(actual) {
        let d = (r as f64 - a as f64).abs();
        let rd = d / (r as f64).abs().max(f64::MIN_POSITIVE);
        abs = abs.max(d);
        rel = rel.max(rd.min(d));
        if !(d <= 1e-4 || rd <= 1e-4) {
            ok = false;
        }
    }
    (abs, rel, ok)
}

/// For integer kernels: how many values are further than 1e-4 from the reference, and whether
/// each of those is within one quantization step `step`.
pub fn one_step(reference: &[f32], actual: &[f32], step: f64) -> (usize, bool) {
    let mut off = 0;
    let mut within = reference.len() == actual.len();
    for (&r, &a) in reference.iter().zip(actual) {
        let d = (r as f64 - a as f64).abs();
        if d > 1e-4 && d > 1e-4 * (r as f64).abs() {
            off += 1;
            within &= d <= step * 1.001;
        }
    }
    (off, within)
}

/// The quantization step of the last quantized tensor before the graph's first output: the
/// scale of the nearest DequantizeLinear on the first-input path back from it (a value one step
/// off there moves the output by at most about one step).
pub fn last_step(graph: &gos_opt::graph::Graph) -> Option<f64> {
    use gos_opt::graph::ValueKind;
    use gos_opt::ops::Op;
    let mut at = graph.outputs.first().copied();
    while let Some(v) = at {
        let ValueKind::Node { node } = graph.value(v).kind else { break };
        let n = graph.node(node);
        if matches!(n.op, Op::DequantizeLinear(_)) {
            return n.inputs.get(1).copied().flatten().and_then(|s| graph.constant(s)).and_then(|t| t.scalar_f64());
        }
        at = n.inputs.first().copied().flatten();
    }
    None
}

/// Judges generated outputs against tract's `reference` as `tests/emit.rs` does: every value
/// within 1e-4 absolute or relative; where tract itself disagrees with the `stored`
/// (onnxruntime) outputs, those judge; with integer kernels (`step`, the last quantization
/// step) values may be one step off. Whether it passes, and the figures in one line.
pub fn judge(reference: &[f32], stored: Option<&[f32]>, actual: &[f32], step: Option<f64>) -> (bool, String) {
    let (abs, rel, mut ok) = agree(reference, actual);
    let mut line = format!("vs tract: max abs {abs:.2e}, max rel {rel:.2e}");
    let mut judge = reference;
    if let Some(stored) = stored.filter(|s| !ok && !agree(s, reference).2) {
        let (abs, rel, vs_stored) = agree(stored, actual);
        let _ =
            write!(line, "; tract disagrees with the stored outputs, vs stored: max abs {abs:.2e}, max rel {rel:.2e}");
        ok = vs_stored;
        judge = stored;
    }
    if let Some(step) = step.filter(|_| !ok) {
        let (off, within) = one_step(judge, actual, step);
        let all = if within { "all" } else { "not all" };
        let _ = write!(line, "; {off} value(s) differ, {all} within one quantization step ({step:.3e})");
        ok = within;
    }
    (ok, line)
}
