//! Which models of the shared suite (`../shared/models`) exist in which form, for the tests,
//! examples and benches that walk it (included with `#[path]` by `examples/common`).

/// The models of `int8/`, each with `model_qdq.onnx` (QuantizeLinear/DequantizeLinear around
/// float ops) and `model_qop.onnx` (QOperator, `com.microsoft` ops).
pub const INT8_MODELS: [&str; 9] = [
    "cnn_small",
    "dscnn_kws",
    "fc_autoencoder_ad01",
    "hybrid_vit",
    "mnist-8",
    "mobilenetv1_025_vww96",
    "resnet8_cifar10_pretrainedResnet",
    "resnet_large_cifar10",
    "vit_tiny",
];
