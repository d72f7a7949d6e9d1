"""The measured models: where their float and int8 (QDQ) files and test sets are, their MACs,
and the published MLPerf Tiny v1.1 Cortex-M4 latencies."""

import os
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

MODELS = [
    "dscnn_kws",
    "resnet8_cifar10_pretrainedResnet",
    "mobilenetv1_025_vww96",
    "fc_autoencoder_ad01",
    "mnist-8",
]
SHORT = {
    "dscnn_kws": "DS-CNN",
    "resnet8_cifar10_pretrainedResnet": "ResNet-8",
    "mobilenetv1_025_vww96": "MobileNet VWW",
    "fc_autoencoder_ad01": "FC AD01",
    "mnist-8": "mnist-8",
}

# MLPerf Tiny v1.1 inference results, NUCLEO-L4R5ZI (Cortex-M4F @ 120 MHz), int8 models, ms:
# the TFLite Micro reference and the two best closed-division entries.
PUBLISHED = {
    "dscnn_kws": {"tflm_ref": 181.9, "xcube_ai": 72.7, "plumerai": 71.7},
    "resnet8_cifar10_pretrainedResnet": {"tflm_ref": 704.2, "xcube_ai": 222.0, "plumerai": 173.2},
    "mobilenetv1_025_vww96": {"tflm_ref": 600.6, "xcube_ai": 221.1, "plumerai": 208.6},
    "fc_autoencoder_ad01": {"tflm_ref": 10.05, "xcube_ai": 7.58, "plumerai": 5.6},
}


@dataclass(frozen=True)
class ModelFile:
    name: str
    kind: str  # "float" or "int8"
    path: str  # the ONNX file gos-opt reads
    sets: tuple  # test_data_set_k folders (input_0.pb)

    @property
    def label(self):
        return f"{self.kind} {SHORT.get(self.name, self.name)}"


def _float_path(repo, shared, name):
    """Float models: in the repository when it carries them (mnist-8), else in shared/."""
    for path in (
        os.path.join(repo, "models", name, "model.onnx"),
        os.path.join(shared, "models/mlperf-tiny/onnx", name, "model.onnx"),
        os.path.join(shared, "models", name, "model.onnx"),
    ):
        if os.path.exists(path):
            return path
    return None


def _test_sets(path):
    folder = os.path.dirname(path)
    return tuple(
        os.path.join(folder, d)
        for d in sorted(os.listdir(folder))
        if d.startswith("test_data_set_")
    )


def locate(repo, shared, name, kind):
    """The ModelFile of a model and kind, or None when the file is not there."""
    if kind == "float":
        path = _float_path(repo, shared, name)
    else:
        path = os.path.join(shared, "models/int8", name, "model_qdq.onnx")
    if path is None or not os.path.exists(path):
        return None
    return ModelFile(name, kind, path, _test_sets(path))


def load_tensor(path):
    return numpy_helper.to_array(onnx.load_tensor(path))


def load_input(test_set):
    return load_tensor(os.path.join(test_set, "input_0.pb")).astype(np.float32)


def _dims(value_info):
    return [d.dim_value for d in value_info.type.tensor_type.shape.dim]


def macs(path):
    """Multiply-accumulates of Conv, Gemm and MatMul nodes, from inferred shapes."""
    model = shape_inference.infer_shapes(onnx.load(path))
    g = model.graph
    shapes = {v.name: _dims(v) for v in list(g.value_info) + list(g.input) + list(g.output)}
    shapes.update({t.name: list(t.dims) for t in g.initializer})
    total = 0
    for node in g.node:
        out = shapes.get(node.output[0])
        if not out:
            continue
        if node.op_type == "Conv":
            w = shapes.get(node.input[1]) or []
            total += int(np.prod(out)) * int(np.prod(w[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            a = shapes.get(node.input[0]) or []
            k = a[0] if node.op_type == "Gemm" and _transposed_a(node) else (a[-1] if a else 0)
            total += int(np.prod(out)) * k
    return total


def _transposed_a(node):
    return any(a.name == "transA" and a.i == 1 for a in node.attribute)
