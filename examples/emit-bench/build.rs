//! Emits the MLPerf Tiny models and mnist-8 from `../shared/models` into `OUT_DIR`, float and
//! int8 (QDQ, once with integer kernels and once with float kernels), mnist-8 and cnn_small
//! also after approx mode (rpi3, `acc=0.5`, calibrated on MNIST eval images 0..1000, judged on
//! 1000..2000), and `OUT_DIR/models.rs` listing them; without `../shared` the list is empty
//! (with a warning).

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
    ("cnn_small", "trained-tiny/cnn_small/model.onnx", None, Quantized::Integer),
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

/// Models optimized by approx mode first: module name, model path under `shared/models`, the
/// factor its inputs need on [0, 1] images, and how quantized nodes run (the `_float` variants
/// run approx mode's int8 layers in float kernels, to separate the rewrites' saving from the
/// integer kernels' speed).
const APPROX: &[(&str, &str, f32, Quantized)] = &[
    ("approx_mnist_8", "mnist-8/model.onnx", 255.0, Quantized::Integer),
    ("approx_mnist_8_float", "mnist-8/model.onnx", 255.0, Quantized::Float),
    ("approx_cnn_small", "trained-tiny/cnn_small/model.onnx", 1.0, Quantized::Integer),
    ("approx_cnn_small_float", "trained-tiny/cnn_small/model.onnx", 1.0, Quantized::Float),
];

/// Runs approx mode on `model` into `dir/model.opt.onnx` (with the model's test sets copied beside
/// it, for the bench's tract run) and emits it as `dir/model.rs`.
fn approx(
    shared: &std::path::Path,
    model: &std::path::Path,
    dir: &std::path::Path,
    scale: f32,
    quantized: Quantized,
) -> gos_opt::emit::EmitReport {
    let data = shared.join("../data/mnist-eval-2000");
    let spec = |file: &str, range: &str| format!("{}@{range}", data.join(file).display()).parse().expect("a data spec");
    let request = gos_opt::approx::Request {
        calib: spec("x.f32", "0..1000"),
        labels: Some(spec("y.u8", "0..1000")),
        eval: Some(spec("x.f32", "1000..2000")),
        eval_labels: Some(spec("y.u8", "1000..2000")),
        data_scale: scale,
        budget: "acc=0.5".parse().expect("a budget"),
        pareto: 0,
    };
    std::fs::create_dir_all(dir).expect("create the model's directory");
    for entry in std::fs::read_dir(model.parent().expect("a folder")).expect("the model's folder").flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("test_data_set") {
            let to = dir.join(&name);
            std::fs::create_dir_all(&to).expect("create a test-set folder");
            for file in std::fs::read_dir(entry.path()).expect("a test set").flatten() {
                std::fs::copy(file.path(), to.join(file.file_name())).expect("copy a test-set file");
            }
        }
    }
    // The approx model is written beside the module as `model.opt.onnx`, for the bench's tract run.
    gos_opt::build::Builder::new(model)
        .target("rpi3")
        .approx(request)
        .quantized(quantized)
        .emit_rust(dir)
        .unwrap_or_else(|e| panic!("gos-opt approx: {}: {e}", model.display()))
}

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
        for (name, rel, scale, quantized) in APPROX {
            let dir = out.join(name);
            let report = approx(&shared, &shared.join(rel), &dir, *scale, *quantized);
            let _ = writeln!(
                mods,
                "/// Generated from {rel} after approx mode (arena {} B, weights {} B).\npub mod {name} {{\n    include!(concat!(env!(\"OUT_DIR\"), \"/{name}/model.rs\"));\n}}",
                report.arena_bytes, report.weights_bytes
            );
            let _ = writeln!(
                list,
                "    Model {{ name: \"{name}\", onnx: {:?}, sets: None, run: {name}::run, input_len: {name}::INPUT_LEN, output_len: {name}::OUTPUT_LEN, arena_len: {name}::ARENA_LEN }},",
                dir.join("model.opt.onnx").display().to_string()
            );
        }
    } else {
        println!("cargo:warning=../shared/models not found: the bench has no models");
    }
    list.push_str("];\n");
    std::fs::write(out.join("models.rs"), format!("{mods}\n{list}")).expect("write models.rs");
}
