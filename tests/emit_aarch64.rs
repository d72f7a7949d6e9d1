//! The Rust back end on aarch64 (issue 12, items 1 and 7): generated modules cross-compiled for
//! `aarch64-unknown-linux-gnu` (`opt-level=3`, linked by `aarch64-linux-gnu-gcc`) and run under
//! `qemu-aarch64 -L /usr/aarch64-linux-gnu` on the models' test sets, so the NEON microkernels
//! (`fmla` tiles of the float matrix product and direct convolution, `smlal` tiles of the packed
//! integer convolution) and the code the Arm vectorizer makes of the portable kernels are
//! executed, not only compiled. A second aarch64 build with `-C target-feature=+dotprod`, run
//! under `qemu-aarch64 -cpu max`, executes the `sdot` tiles of the integer convolution instead;
//! its outputs must equal the first aarch64 build's bit for bit (integer sums are exact; the
//! float code is the same). The same modules built for the host at the same `opt-level` run on
//! the same inputs; the aarch64 outputs must agree with the host's (float kernels: within 1e-4
//! absolute or relative, the figure printed: both fuse each product and sum (FMA) in the
//! explicit-SIMD tiles, but the two hosts' kernels do not all sum in the same order; integer
//! kernels: bit for bit, their sums are exact and their requantization is the same float
//! expression) and with tract or the stored outputs under `tests/emit.rs`'s tolerances
//! ([`judge`]).
//!
//! The models: all five MLPerf Tiny float models, mnist-8, and the int8 QDQ versions of the same
//! six on integer kernels (12 modules), the set issue 12 names; together they use every kernel
//! family of the suite's convolutional and dense models (direct, pointwise and depthwise
//! convolution, Gemm, pooling, Softmax, and the integer variants of each). The transformers
//! (ppocr, trained-tiny) stay with `tests/emit.rs`. The cost is the three builds (about 20 to
//! 50 s each on two cores); the emulated runs take seconds.
//!
//! Skips, saying why, when `../shared`, `qemu-aarch64`, the cross linker or the rustup target
//! is absent (`.ci/run` installs them).

mod common;

use common::emitted::{agree, compile_with, judge, last_step, Toolchain};
use common::{target_dir, types_of};
use gos_opt::emit::{self, EmitOptions, Quantized};
use gos_opt::onnx::{import, ImportOptions};
use gos_opt::tensor::Tensor;
use gos_opt::verify::{io_names, load_test_sets, TractModel};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "aarch64-unknown-linux-gnu";
const LINKER: &str = "aarch64-linux-gnu-gcc";
const SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// Float models (under `models/`) and the int8 QDQ models (under `models/int8/`).
const FLOAT: [&str; 6] = [
    "mlperf-tiny/onnx/dscnn_kws",
    "mlperf-tiny/onnx/fc_autoencoder_ad01",
    "mlperf-tiny/onnx/mobilenetv1_025_vww96",
    "mlperf-tiny/onnx/resnet8_cifar10_pretrainedResnet",
    "mlperf-tiny/onnx/resnet_large_cifar10",
    "mnist-8",
];
const INT8: [&str; 6] = [
    "dscnn_kws",
    "fc_autoencoder_ad01",
    "mobilenetv1_025_vww96",
    "resnet8_cifar10_pretrainedResnet",
    "resnet_large_cifar10",
    "mnist-8",
];

/// Why the aarch64 run cannot happen here, if it cannot.
fn missing_tools() -> Option<String> {
    let runs = |program: &str, arg: &str| Command::new(program).arg(arg).output().is_ok_and(|o| o.status.success());
    if !runs("qemu-aarch64", "--version") {
        return Some("qemu-aarch64 not found (apt-get install qemu-user)".into());
    }
    if !runs(LINKER, "--version") || !Path::new(SYSROOT).join("lib").is_dir() {
        return Some(format!(
            "{LINKER} or {SYSROOT} not found (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"
        ));
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc).args(["--print", "sysroot"]).output().ok()?;
    let std_lib = Path::new(String::from_utf8_lossy(&sysroot.stdout).trim()).join("lib/rustlib").join(TARGET);
    if !std_lib.is_dir() {
        return Some(format!("the {TARGET} standard library is not installed (rustup target add {TARGET})"));
    }
    None
}

/// One test set: its input (every model here has one), the stored output, tract's output.
struct Set {
    input: Vec<f32>,
    stored: Option<Vec<f32>>,
    reference: Vec<f32>,
}

/// One emitted model and its test sets.
struct Case {
    label: String,
    ident: String,
    sets: Vec<Set>,
    /// The last quantization step before the output, with integer kernels.
    step: Option<f64>,
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_f64_vec().expect("numeric").into_iter().map(|v| v as f32).collect()
}

/// Emits `path` into `src/ident` (integer kernels for QDQ) and runs tract on its test sets.
fn emit_case(label: &str, path: PathBuf, suffix: Option<&str>, src: &Path) -> Result<Case, String> {
    let dir = path.parent().ok_or("no directory")?;
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (declared, _) = io_names(&bytes).ok_or("not ONNX")?;
    let test_sets = load_test_sets(dir, suffix).map_err(|e| e.to_string())?;
    let inputs =
        test_sets.iter().map(|s| s.input_set(&declared)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    let first = inputs.first().ok_or("no test sets")?;
    let types = types_of(first);
    let shapes = types.iter().map(|(k, t)| (k.clone(), t.shape.clone())).collect();
    let graph = import(&path, &ImportOptions { input_shapes: shapes, ..ImportOptions::default() })
        .map_err(|e| e.to_string())?;
    let words: String =
        label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { ' ' }).collect();
    let ident = format!("m_{}", words.split_whitespace().collect::<Vec<_>>().join("_"));
    let report = emit::emit_rust_with(
        &graph,
        &src.join(&ident),
        &EmitOptions { quantized: Quantized::Integer, ..EmitOptions::default() },
    )
    .map_err(|e| e.to_string())?;
    let step = last_step(&graph).filter(|_| report.integer_kernels > 0);
    if suffix.is_some() && report.integer_kernels == 0 {
        return Err("no integer kernels in a QDQ model".into());
    }
    let tract = TractModel::load("original", &bytes, Some(dir), &types).map_err(|e| e.to_string())?;
    let name = tract.input_names()[0].clone();
    let mut sets = Vec::new();
    for (k, (set, stored)) in inputs.iter().zip(&test_sets).enumerate() {
        let reference = f32s(&tract.run(k, set).map_err(|e| format!("tract, set {k}: {e}"))?[0]);
        sets.push(Set { input: f32s(&set[&name]), stored: stored.expected().first().map(f32s), reference });
    }
    Ok(Case { label: label.into(), ident, sets, step })
}

fn read_f32s(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    bytes.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[test]
fn aarch64_build_under_qemu_agrees_with_the_host_build_and_tract() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if !shared.join("models").is_dir() {
        eprintln!("skipping: ../shared not found");
        return;
    }
    if let Some(why) = missing_tools() {
        eprintln!("skipping: {why}");
        return;
    }
    let models = shared.join("models");
    let root = target_dir().join("emit-aarch64");
    let src = root.join("src");
    std::fs::create_dir_all(&src).expect("create target/emit-aarch64");
    let mut failures = Vec::new();
    let mut cases = Vec::new();
    let float = FLOAT.iter().map(|m| (m.to_string(), models.join(m).join("model.onnx"), None));
    let int8 = INT8
        .iter()
        .map(|m| (format!("int8/{m} (qdq)"), models.join("int8").join(m).join("model_qdq.onnx"), Some("qdq")));
    for (label, path, suffix) in float.chain(int8) {
        let label = label.replace("mlperf-tiny/onnx/", "mlperf-tiny/");
        match emit_case(&label, path, suffix, &src) {
            Ok(case) => cases.push(case),
            Err(e) => failures.push(format!("{label}: {e}")),
        }
    }
    let idents: Vec<String> = cases.iter().map(|c| c.ident.clone()).collect();
    let host = Toolchain { dir: "host", opt_level: 3, ..Toolchain::host() };
    let arm = Toolchain {
        dir: "aarch64",
        target: Some(TARGET),
        linker: Some(LINKER),
        opt_level: 3,
        features: "",
        launcher: vec!["qemu-aarch64".into(), "-L".into(), SYSROOT.into()],
    };
    // The dot-product extension (`sdot`), which qemu's `max` CPU has.
    let dot = Toolchain {
        dir: "aarch64-dotprod",
        features: "+dotprod",
        launcher: vec!["qemu-aarch64".into(), "-cpu".into(), "max".into(), "-L".into(), SYSROOT.into()],
        ..arm
    };
    let builds = [(&host, "host"), (&arm, "a64"), (&dot, "a64dot")];
    // One job per model and build: its test sets one after another in one input file.
    let io = root.join("io");
    std::fs::create_dir_all(&io).expect("create io");
    for case in &cases {
        let x: Vec<u8> = case.sets.iter().flat_map(|s| &s.input).flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(io.join(format!("{}.in", case.ident)), x).expect("write input");
    }
    for (toolchain, name) in builds {
        let runner = compile_with(&root, &idents, &[], toolchain).unwrap_or_else(|e| panic!("{e}"));
        let mut jobs = String::new();
        for case in &cases {
            let (input, output) = (io.join(format!("{}.in", case.ident)), io.join(format!("{}.{name}", case.ident)));
            let _ = writeln!(jobs, "{} {} {}", case.ident, input.display(), output.display());
        }
        let file = io.join(format!("jobs.{name}"));
        std::fs::write(&file, jobs).expect("write jobs");
        let run = toolchain.command(&runner).arg(&file).output().expect("start the runner");
        assert!(run.status.success(), "the {name} build failed: {}", String::from_utf8_lossy(&run.stderr));
    }
    for case in &cases {
        let host_out = read_f32s(&io.join(format!("{}.host", case.ident)));
        let arm_out = read_f32s(&io.join(format!("{}.a64", case.ident)));
        let dot_out = read_f32s(&io.join(format!("{}.a64dot", case.ident)));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let same = bits(&dot_out) == bits(&arm_out);
        println!("{}: aarch64 with dotprod vs without: {}", case.label, if same { "bit-identical" } else { "differ" });
        if !same {
            failures.push(format!("{}: the dotprod build differs from the plain aarch64 build", case.label));
        }
        let identical =
            host_out.len() == arm_out.len() && host_out.iter().zip(&arm_out).all(|(a, b)| a.to_bits() == b.to_bits());
        let (abs, rel, close) = agree(&host_out, &arm_out);
        println!(
            "{}: aarch64 vs host: {} ({} values, max abs {abs:.2e}, max rel {rel:.2e})",
            case.label,
            if identical { "bit-identical" } else { "differ" },
            arm_out.len()
        );
        let exact = case.step.is_some();
        if !(if exact { identical } else { close }) {
            let want = if exact { "bit for bit (integer kernels)" } else { "within 1e-4" };
            failures.push(format!("{}: aarch64 and host differ, wanted {want}: max abs {abs:.2e}", case.label));
        }
        let olen = case.sets[0].reference.len();
        if arm_out.len() != olen * case.sets.len() {
            failures.push(format!(
                "{}: {} output values, wanted {}",
                case.label,
                arm_out.len(),
                olen * case.sets.len()
            ));
            continue;
        }
        for (k, (set, y)) in case.sets.iter().zip(arm_out.chunks(olen)).enumerate() {
            let (ok, line) = judge(&set.reference, set.stored.as_deref(), y, case.step);
            println!("  aarch64 set {k}: {line} {}", if ok { "ok" } else { "differs" });
            if !ok {
                failures.push(format!("{} set {k}: aarch64 {line}", case.label));
            }
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}
