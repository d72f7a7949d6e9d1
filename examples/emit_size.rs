//! Release compile time and compiled code size of the generated Rust for the MLPerf Tiny
//! models and mnist-8: each model is emitted (`gos_opt::build::Builder`, as a build.rs would),
//! wrapped in a `#![no_std]` library and compiled alone to an object file with `rustc` at
//! `opt-level=3` and at `opt-level=s`; the code size is the sum of the object's `.text*`
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
];

fn main() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
    if !shared.is_dir() {
        println!("skipping: ../shared not found");
        return;
    }
    let out = tempfile::tempdir().expect("a temporary directory");
    println!("| model | compile, opt-level 3 | text, opt-level 3 | text, opt-level s | weights | arena |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (k, (label, rel)) in MODELS.iter().enumerate() {
        let dir = out.path().join(format!("m{k}"));
        let report =
            gos_opt::build::Builder::new(shared.join(rel)).emit_rust(&dir).unwrap_or_else(|e| panic!("{label}: {e}"));
        let lib = dir.join("lib.rs");
        std::fs::write(&lib, "#![no_std]\npub mod m {\n    include!(\"model.rs\");\n}\n").expect("writes lib.rs");
        let (seconds, text3) = compile(&lib, "3");
        let (_, text_s) = compile(&lib, "s");
        println!(
            "| {label} | {seconds:.1} s | {:.1} KB | {:.1} KB | {:.0} KB | {:.0} KB |",
            text3 as f64 / 1e3,
            text_s as f64 / 1e3,
            report.weights_bytes as f64 / 1e3,
            report.arena_bytes as f64 / 1e3
        );
    }
}

/// Compiles `lib` to an object at `opt` and returns the wall time and the `.text*` bytes.
fn compile(lib: &Path, opt: &str) -> (f64, u64) {
    let obj = lib.with_extension(format!("o{opt}"));
    let start = Instant::now();
    let status = Command::new("rustc")
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
