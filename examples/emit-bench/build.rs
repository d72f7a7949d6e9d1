//! Emits the MLPerf Tiny models and mnist-8 from `../shared/models` into `OUT_DIR`, float and
//! int8 (QDQ, once with integer kernels and once with float kernels), and `OUT_DIR/models.rs`
//! listing them; without `../shared` the list is empty (with a warning).

use gos_opt::emit::Quantized;
use std::fmt::Write;
use std::path::PathBuf;

/// Module name, model path under `shared/models`, test-set output suffix, and how quantized
/// nodes run.
const MODELS: &[(&str, &str, Option<&str>, Quantized)] = &[
    ("dscnn_kws", "mlperf-tiny/onnx/dscnn_kws/model.onnx", None, Quantized::Integer),
    ("fc_autoencoder_ad01", "mlperf-tiny/onnx/fc_autoencoder_ad01/model.onnx", None, Quantized::Integer),
    ("mobilenetv1_025_vww96", "mlperf-tiny/onnx/mobilenetv1_025_vww96/model.onnx", None, Quantized::Integer),
    ("resnet8", "mlperf-tiny/onnx/resnet8_cifar10_pretrainedResnet/model.onnx", None, Quantized::Integer),
    ("resnet_large", "mlperf-tiny/onnx/resnet_large_cifar10/model.onnx", None, Quantized::Integer),
    ("mnist_8", "mnist-8/model.onnx", None, Quantized::Integer),
    ("int8_dscnn_kws", "int8/dscnn_kws/model_qdq.onnx", Some("qdq"), Quantized::Integer),
    ("int8_fc_autoencoder_ad01", "int8/fc_autoencoder_ad01/model_qdq.onnx", Some("qdq"), Quantized::Integer),
    ("int8_mobilenetv1_025_vww96", "int8/mobilenetv1_025_vww96/model_qdq.onnx", Some("qdq"), Quantized::Integer),
    ("int8_resnet8", "int8/resnet8_cifar10_pretrainedResnet/model_qdq.onnx", Some("qdq"), Quantized::Integer),
    ("int8_resnet_large", "int8/resnet_large_cifar10/model_qdq.onnx", Some("qdq"), Quantized::Integer),
    ("int8_float_dscnn_kws", "int8/dscnn_kws/model_qdq.onnx", Some("qdq"), Quantized::Float),
    ("int8_float_fc_autoencoder_ad01", "int8/fc_autoencoder_ad01/model_qdq.onnx", Some("qdq"), Quantized::Float),
    ("int8_float_mobilenetv1_025_vww96", "int8/mobilenetv1_025_vww96/model_qdq.onnx", Some("qdq"), Quantized::Float),
    ("int8_float_resnet8", "int8/resnet8_cifar10_pretrainedResnet/model_qdq.onnx", Some("qdq"), Quantized::Float),
    ("int8_float_resnet_large", "int8/resnet_large_cifar10/model_qdq.onnx", Some("qdq"), Quantized::Float),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let shared = manifest.join("../../../shared/models");
    println!("cargo:rerun-if-changed=build.rs");
    let mut list = String::from("/// The emitted models: name, ONNX path, run, input, output and arena lengths.\n");
    list.push_str("pub const MODELS: &[Model] = &[\n");
    let mut mods = String::new();
    if shared.is_dir() {
        for (name, rel, sets, quantized) in MODELS {
            let path = shared.join(rel);
            let dir = out.join(name);
            let report = gos_opt::build::Builder::new(&path)
                .quantized(*quantized)
                .emit_rust(&dir)
                .unwrap_or_else(|e| panic!("gos-opt: {}: {e}", path.display()));
            let _ = writeln!(
                mods,
                "/// Generated from {rel} (arena {} B, weights {} B).\npub mod {name} {{\n    include!(concat!(env!(\"OUT_DIR\"), \"/{name}/model.rs\"));\n}}",
                report.arena_bytes, report.weights_bytes
            );
            let _ = writeln!(
                list,
                "    Model {{ name: \"{name}\", onnx: {:?}, sets: {sets:?}, run: {name}::run, input_len: {name}::INPUT_LEN, output_len: {name}::OUTPUT_LEN, arena_len: {name}::ARENA_LEN }},",
                path.display().to_string()
            );
        }
    } else {
        println!("cargo:warning=../shared/models not found: the bench has no models");
    }
    list.push_str("];\n");
    std::fs::write(out.join("models.rs"), format!("{mods}\n{list}")).expect("write models.rs");
}
