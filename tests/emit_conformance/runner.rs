//! Building and running the emitted conformance modules: all of them compiled into one
//! `#![no_std]` rlib with `-D warnings` plus one runner binary (rebuilt only when a module
//! changed), and the runner driven through a job file, surviving a crash of the generated code.

use super::Emitted;
use gos_opt::emit;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// rustc flags of both builds. The modules are tiny: no optimization compiles fastest (4 s for
/// 300 modules against 5.5 s at opt-level=1), and it checks overflow and debug assertions.
const RUSTC_FLAGS: [&str; 10] = [
    "--edition",
    "2021",
    "-C",
    "opt-level=0",
    "-C",
    "debug-assertions=on",
    "-C",
    "codegen-units=16",
    "-C",
    "debuginfo=0",
];

/// Writes `path` only when its contents change.
fn write_if_changed(path: &Path, contents: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

/// Writes a module into `src/IDENT` unless the files there already hold it.
pub(crate) fn write_module(src: &Path, case: &Emitted) {
    let dir = src.join(&case.ident);
    let same_rs = std::fs::read(dir.join("model.rs")).ok().as_deref() == Some(case.generated.source.as_bytes());
    let same_bin = std::fs::read(dir.join("weights.bin")).ok() == case.generated.weights;
    if !(same_rs && same_bin) {
        emit::write(case.generated.clone(), &dir).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    }
}

/// The library including `modules`, and the runner dispatching to them.
fn crate_sources(modules: &[&Emitted]) -> (String, String) {
    let mut lib = String::from("#![no_std]\n//! Generated conformance modules under test.\n");
    let mut dispatch = String::new();
    for case in modules {
        let id = &case.ident;
        let _ = writeln!(lib, "/// `{}`.\npub mod {id} {{\n    include!(\"{id}/model.rs\");\n}}", case.name);
        let call = if case.inputs == 1 && case.outputs.len() == 1 {
            format!("single(m::{id}::run, m::{id}::INPUT_LEN, m::{id}::OUTPUT_LEN, m::{id}::ARENA_LEN, x)")
        } else {
            format!("multi(m::{id}::run, m::{id}::INPUT_LENS, m::{id}::OUTPUT_LENS, m::{id}::ARENA_LEN, x)")
        };
        let _ = writeln!(dispatch, "        \"{id}\" => {call},");
    }
    let main = format!(
        r#"//! Runs generated modules: each line of the job file is `MODULE<TAB>INPUT<TAB>OUTPUT`. INPUT holds
//! the module's inputs one after another (raw little-endian f32); OUTPUT receives its outputs
//! one after another, or OUTPUT.panic the message when the module panics.
use emitconf as m;

/// A one-input, one-output module.
fn single(run: fn(&[f32], &mut [f32], &mut [f32]), ilen: usize, olen: usize, alen: usize, x: &[f32]) -> Vec<f32> {{
    assert_eq!(x.len(), ilen, "input length");
    // NaN everywhere: a value nobody wrote poisons the output.
    let (mut y, mut arena) = (vec![f32::NAN; olen], vec![f32::NAN; alen]);
    run(x, &mut y, &mut arena);
    y
}}

/// A module with several inputs or outputs.
fn multi<const N: usize, const M: usize>(
    run: fn([&[f32]; N], [&mut [f32]; M], &mut [f32]),
    ilens: [usize; N],
    olens: [usize; M],
    alen: usize,
    x: &[f32],
) -> Vec<f32> {{
    assert_eq!(x.len(), ilens.iter().sum::<usize>(), "input length");
    let mut rest = x;
    let inputs: [&[f32]; N] = std::array::from_fn(|k| {{
        let (a, b) = rest.split_at(ilens[k]);
        rest = b;
        a
    }});
    let (mut y, mut arena) = (vec![f32::NAN; olens.iter().sum()], vec![f32::NAN; alen]);
    let mut rest: &mut [f32] = &mut y;
    let outputs: [&mut [f32]; M] = std::array::from_fn(|k| {{
        let (a, b) = std::mem::take(&mut rest).split_at_mut(olens[k]);
        rest = b;
        a
    }});
    run(inputs, outputs, &mut arena);
    y
}}

fn dispatch(module: &str, x: &[f32]) -> Vec<f32> {{
    match module {{
{dispatch}        other => panic!("unknown module {{other}}"),
    }}
}}

fn main() {{
    std::panic::set_hook(Box::new(|_| {{}}));
    let jobs = std::env::args().nth(1).expect("job file");
    for line in std::fs::read_to_string(jobs).expect("job file").lines() {{
        let parts: Vec<&str> = line.split('\t').collect();
        let bytes = std::fs::read(parts[1]).expect("input");
        let x: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        match std::panic::catch_unwind(|| dispatch(parts[0], &x)) {{
            Ok(y) => {{
                let out: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
                std::fs::write(parts[2], out).expect("output");
            }}
            Err(p) => {{
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                std::fs::write(format!("{{}}.panic", parts[2]), msg).expect("panic file");
            }}
        }}
    }}
}}
"#
    );
    (lib, main)
}

/// Compiles `modules` (written under `root/src`) into `root/run`: one no_std rlib with
/// `-D warnings`, one runner. A module that does not compile is left out (and the rest built
/// again); returns those with rustc's errors. The build is skipped when the modules hash as at
/// the last one (the stamp keeps the hash and the modules left out).
pub(crate) fn compile(root: &Path, modules: &[&Emitted]) -> (PathBuf, Vec<(String, String)>) {
    let src = root.join("src");
    let (runner, stamp) = (root.join("run"), root.join("stamp"));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let mut h = DefaultHasher::new();
    (crate_sources(modules), &rustc, RUSTC_FLAGS).hash(&mut h);
    for m in modules {
        (&m.generated.source, &m.generated.weights).hash(&mut h);
    }
    let hash = format!("{:016x}", h.finish());
    if let Some(rest) =
        std::fs::read_to_string(&stamp).ok().and_then(|s| s.strip_prefix(&format!("{hash}\n")).map(String::from))
    {
        if runner.exists() {
            let broken = rest.lines().filter_map(|l| l.split_once('\t')).map(|(n, e)| (n.into(), e.into())).collect();
            return (runner, broken);
        }
    }
    let _ = std::fs::remove_file(&stamp);
    let mut modules = modules.to_vec();
    let mut broken = Vec::new();
    let started = std::time::Instant::now();
    loop {
        let (lib, main) = crate_sources(&modules);
        write_if_changed(&src.join("lib.rs"), &lib);
        write_if_changed(&src.join("main.rs"), &main);
        let out = Command::new(&rustc)
            .args(RUSTC_FLAGS)
            .args(["-D", "warnings", "--crate-type", "rlib", "--crate-name", "emitconf", "--out-dir"])
            .arg(root)
            .arg(src.join("lib.rs"))
            .output()
            .expect("run rustc");
        if out.status.success() {
            break;
        }
        // Leave out the modules rustc complains about, and build the others.
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let before = modules.len();
        modules.retain(|m| match rustc_errors(&stderr, &m.ident) {
            Some(errors) => {
                broken.push((m.name.clone(), format!("does not compile: {errors}")));
                false
            }
            None => true,
        });
        assert!(modules.len() < before, "the conformance crate does not compile:\n{stderr}");
    }
    let lib_secs = started.elapsed().as_secs_f64();
    let out = Command::new(&rustc)
        .args(RUSTC_FLAGS)
        .args(["--crate-type", "bin", "--crate-name", "run", "--extern"])
        .arg(format!("emitconf={}", root.join("libemitconf.rlib").display()))
        .arg("-o")
        .arg(&runner)
        .arg(src.join("main.rs"))
        .output()
        .expect("run rustc");
    assert!(out.status.success(), "the runner does not compile:\n{}", String::from_utf8_lossy(&out.stderr));
    println!(
        "compiled {} modules in {lib_secs:.1} s ({} left out), the runner in {:.1} s",
        modules.len(),
        broken.len(),
        started.elapsed().as_secs_f64() - lib_secs
    );
    let lines: String = broken.iter().map(|(n, e)| format!("{n}\t{e}\n")).collect();
    std::fs::write(&stamp, format!("{hash}\n{lines}")).expect("write the stamp");
    (runner, broken)
}

/// rustc's errors in module `ident`, one line: each message with its place in `model.rs`.
fn rustc_errors(stderr: &str, ident: &str) -> Option<String> {
    let file = format!("/{ident}/model.rs:");
    let errors: Vec<String> = stderr
        .split("\n\n")
        .filter(|block| block.starts_with("error") && block.contains(&file))
        .map(|block| {
            let message = block.lines().next().unwrap_or_default();
            let place = block.split(&file).nth(1).and_then(|r| r.split(':').next()).unwrap_or("?");
            format!("{message} (model.rs line {place})")
        })
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

/// One run of a test set: where its output goes.
pub(crate) struct Job {
    pub case: usize,
    pub set: usize,
    pub output: PathBuf,
}

/// Runs `jobs` (job-file lines) through the runner; when the runner dies (a crash rather than a
/// panic, which it catches), the job it died on is marked and the rest run again. Returns the
/// message of each job, by index, that did not finish.
pub(crate) fn run_jobs(runner: &Path, io: &Path, jobs: &[(String, Job)]) -> HashMap<usize, String> {
    let mut failed = HashMap::new();
    let mut start = 0;
    while start < jobs.len() {
        let job_file = io.join("jobs");
        let lines: String = jobs[start..].iter().map(|(line, _)| format!("{line}\n")).collect();
        std::fs::write(&job_file, lines).expect("write jobs");
        let run = Command::new(runner).arg(&job_file).output().expect("run the generated code");
        let mut next = jobs.len();
        for (k, (_, job)) in jobs.iter().enumerate().skip(start) {
            let panic_file = PathBuf::from(format!("{}.panic", job.output.display()));
            if let Ok(msg) = std::fs::read_to_string(&panic_file) {
                failed.insert(k, format!("generated code panicked: {msg}"));
            } else if !job.output.exists() {
                failed.insert(k, format!("generated code crashed the runner ({})", run.status));
                next = k + 1;
                break;
            }
        }
        if next == jobs.len() && !run.status.success() {
            panic!("the runner failed: {}", String::from_utf8_lossy(&run.stderr));
        }
        start = next;
    }
    failed
}
