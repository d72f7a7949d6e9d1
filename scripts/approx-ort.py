"""onnxruntime's int8 models next to approx mode's (issue 11): run by scripts/approx-ort.sh.

For a float model, its onnxruntime QDQ version (../shared/models/int8/NAME/model_qdq.onnx, made
by onnxruntime's static quantizer) and data split as approx mode splits it (even samples
calibrate, odd ones are held out), prints
  1. per linear layer (Conv, Gemm): the error of the float model with only that layer quantized
     as onnxruntime quantized it (its input's QuantizeLinear scale and zero point, its int8
     weights, its int32 bias), on the calibration half: top-1 agreement with the float model and
     relative L2 error of the outputs, beside the figures gos-opt's report gives for its own
     int8 rewrite of the same layer alone (the sensitivity table, rule quantize-conv-int8 /
     quantize-gemm-int8, same samples);
  2. the whole QDQ model on the held-out half (onnxruntime, all graph optimizations, as int8 is
     normally run): agreement and relative error against the float model.
Usage: approx-ort.py FLOAT.onnx QDQ.onnx DATA.f32 REPORT.json
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper
from onnx import numpy_helper as nh


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run(model, xs):
    s = session(model)
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x})[0] for x in xs])


def figures(out, ref):
    agree = float((out.argmax(1) == ref.argmax(1)).mean())
    rel = float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
    return agree, rel


class Qdq:
    """onnxruntime's quantization parameters, read off its QDQ model."""

    def __init__(self, model):
        self.init = {i.name: nh.to_array(i) for i in model.graph.initializer}
        self.producer = {o: n for n in model.graph.node for o in n.output}
        self.layers = {n.name: n for n in model.graph.node if n.op_type in ("Conv", "Gemm")}

    def dequantized(self, value):
        n = self.producer[value]
        q = self.init[n.input[0]].astype(np.float64)
        s = self.init[n.input[1]]
        z = self.init[n.input[2]].astype(np.float64) if len(n.input) > 2 else 0.0
        axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
        if np.ndim(s) == 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            s, z = s.reshape(shape), np.reshape(z, shape)
        return ((q - z) * s).astype(np.float32)

    def activation(self, value):
        n = self.producer[value]
        return self.init[n.input[1]], self.init[n.input[2]]


def with_layer_quantized(model, name, w, b, scale, zero):
    """The float model with node `name`'s weights, bias and input replaced by their int8 forms."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    node = next(n for n in m.graph.node if n.name == name)
    for init in m.graph.initializer:
        if init.name == node.input[1]:
            init.CopyFrom(nh.from_array(w.reshape(nh.to_array(init).shape), init.name))
        if len(node.input) > 2 and init.name == node.input[2]:
            init.CopyFrom(nh.from_array(b.reshape(nh.to_array(init).shape), init.name))
    s_name, z_name = name + "_ort_scale", name + "_ort_zero"
    m.graph.initializer.extend([nh.from_array(np.array(scale), s_name), nh.from_array(np.array(zero), z_name)])
    at = list(m.graph.node).index(node)
    q, dq = name + "_ort_q", name + "_ort_dq"
    m.graph.node.insert(at, helper.make_node("DequantizeLinear", [q, s_name, z_name], [dq]))
    m.graph.node.insert(at, helper.make_node("QuantizeLinear", [node.input[0], s_name, z_name], [q]))
    node.input[0] = dq
    return m


def short_name(name):
    """A TFLite-converted node's own layer (its names list every fused op, ';'-separated)."""
    parts = [p for p in name.split(";") if p.endswith(("Conv2D1", "Conv2D", "MatMul"))]
    own = [p for p in parts if p.endswith("Conv2D1")] or parts
    return own[-1].removesuffix("1") if own else name[-28:]


def main(float_path, qdq_path, data_path, report_path):
    fm, qm = onnx.load(float_path), onnx.load(qdq_path)
    shape = [d.dim_value for d in fm.graph.input[0].type.tensor_type.shape.dim]
    x = np.fromfile(data_path, dtype=np.float32).reshape([-1] + shape)
    calib, held = x[0::2], x[1::2]
    ref_calib, ref_held = run(fm, calib), run(fm, held)
    qdq = Qdq(qm)
    ours = {}
    for row in json.load(open(report_path))["approx"]["sensitivity"]:
        if row["rule"] in ("quantize-conv-int8", "quantize-gemm-int8"):
            ours[row["node"]] = row["calibration"]
    print("| layer | weights | onnxruntime int8 alone: agreement, rel. error | gos-opt int8 alone: agreement, rel. error |")
    print("|---|---|---|---|")
    for node in fm.graph.node:
        if node.op_type not in ("Conv", "Gemm") or node.name not in qdq.layers:
            continue
        q = qdq.layers[node.name]
        w, b = qdq.dequantized(q.input[1]), qdq.dequantized(q.input[2])
        scale, zero = qdq.activation(q.input[0])
        out = run(with_layer_quantized(fm, node.name, w, b, scale, zero), calib)
        agree, rel = figures(out, ref_calib)
        mine = ours.get(node.name)
        mine = "%.2f %%, %.4f" % (100 * mine["agreement"], mine["rel_l2"]) if mine else "not offered"
        short = short_name(node.name)
        print("| %s | %s | %.2f %%, %.4f | %s |" % (short, "x".join(map(str, w.shape)), 100 * agree, rel, mine))
    agree, rel = figures(run(qm, held), ref_held)
    print()
    print("onnxruntime's whole int8 model on the %d held-out samples: agreement %.2f %%, relative error %.4f"
          % (len(held), 100 * agree, rel))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
