//! Compiles the bundled MNIST model (`models/mnist-8/model.onnx`) into `OUT_DIR/model.rs`.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let model = manifest.join("../../models/mnist-8/model.onnx");
    gos_opt::build::Builder::new(&model).target("cortex-m4").emit_rust(&out).unwrap_or_else(|e| panic!("gos-opt: {e}"));
    println!("cargo:rerun-if-changed=build.rs");
}
