//! Release compile time and compiled code size of the generated Rust for the MLPerf Tiny
//! models and mnist-8, float and int8 (QDQ, integer kernels): each model is emitted
//! (`gos_opt::build::Builder`, as a build.rs would), wrapped in a `#![no_std]` library and
//! compiled alone to an object file with `rustc` at `opt-level=3` and at `opt-level=s`, for this
//! machine and, when its standard library is installed (`rustup target add
//! thumbv7em-none-eabihf`), for a Cortex-M4F; the code size is the sum of the object's `.text*`
//! sections (`size -A`). Prints a Markdown table.
//!
//!     cargo run --release --example emit_size
//!
//! Needs `rustc` and binutils' `size` on the PATH; skips with a notice when ../shared is absent.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Label and model path under `shared/models`.
const MODELS: &[(&str, &str)] = &[
    ("DS-CNN", "mlperf-tiny/onnx/dscnn_kws/model.onnx"),
    ("FC autoencoder", "mlperf-tiny/onnx/fc_autoencoder_ad01/model.onnx"),
    ("MobileNetV1-0.25 VWW", "mlperf-tiny/onnx/mobilenetv1_025_vww96/model.onnx"),
    ("ResNet-8", "mlperf-tiny/onnx/resnet8_cifar10_pretrainedResnet/model.onnx"),
    ("ResNet (large)", "mlperf-tiny/onnx/resnet_large_cifar10/model.onnx"),
    ("mnist-8", "mnist-8/model.onnx"),
    ("DS-CNN int8", "int8/dscnn_kws/model_qdq.onnx"),
    ("ResNet-8 int8", "int8/resnet8_cifar10_pretrainedResnet/model_qdq.onnx"),
    ("mnist-8 int8", "int8/mnist-8/model_qdq.onnx"),
];

/// The Cortex-M4F target.
const CORTEX_M4: &str = "thumbv7em-none-eabihf";

fn main() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
    if !shared.is_dir() {
        println!("skipping: ../shared not found");
        return;
    }
    let out = tempfile::tempdir().expect("a temporary directory");
    let cortex = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| Path::new(String::from_utf8_lossy(&o.stdout).trim()).join("lib/rustlib").join(CORTEX_M4))
        .is_some_and(|d| d.is_dir());
    if !cortex {
        println!("({CORTEX_M4} is not installed: no Cortex-M4 columns)\n");
    }
    println!(
        "| model | compile, opt-level 3 | text, opt-level 3 | text, opt-level s | Cortex-M4 text, 3 | Cortex-M4 text, s | weights | arena |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (k, (label, rel)) in MODELS.iter().enumerate() {
        let dir = out.path().join(format!("m{k}"));
        let report = gos_opt::build::Builder::new(shared.join(rel))
            .rerun_if_changed(false)
            .emit_rust(&dir)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let lib = dir.join("lib.rs");
        std::fs::write(&lib, "#![no_std]\npub mod m {\n    include!(\"model.rs\");\n}\n").expect("writes lib.rs");
        let (seconds, text3) = compile(&lib, "3", None);
        let (_, text_s) = compile(&lib, "s", None);
        let kb = |t: u64| format!("{:.1} KB", t as f64 / 1e3);
        let (m3, ms) = if cortex {
            (kb(compile(&lib, "3", Some(CORTEX_M4)).1), kb(compile(&lib, "s", Some(CORTEX_M4)).1))
        } else {
            ("n/a".into(), "n/a".into())
        };
        println!(
            "| {label} | {seconds:.1} s | {} | {} | {m3} | {ms} | {:.0} KB | {:.0} KB |",
            kb(text3),
            kb(text_s),
            report.weights_bytes as f64 / 1e3,
            report.arena_bytes as f64 / 1e3
        );
    }
}

/// Compiles `lib` to an object at `opt` (for `target`, else this machine) and returns the wall
/// time and the `.text*` bytes.
fn compile(lib: &Path, opt: &str, target: Option<&str>) -> (f64, u64) {
    let obj = lib.with_extension(format!("o{opt}{}", target.unwrap_or("")));
    let start = Instant::now();
    let mut rustc = Command::new("rustc");
    if let Some(t) = target {
        rustc.args(["--target", t, "-C", "target-cpu=cortex-m4"]);
    }
    let status = rustc
        .args(["--edition", "2021", "--crate-type", "rlib", "--emit", "obj", "-C"])
        .arg(format!("opt-level={opt}"))
        .arg("-o")
        .arg(&obj)
        .arg(lib)
        .status()
        .expect("rustc runs");
    let seconds = start.elapsed().as_secs_f64();
    assert!(status.success(), "rustc failed on {}", lib.display());
    let size = Command::new("size").arg("-A").arg(&obj).output().expect("size runs");
    let text = String::from_utf8_lossy(&size.stdout)
        .lines()
        .filter(|l| l.starts_with(".text"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    (seconds, text)
}
