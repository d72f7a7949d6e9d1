"""Reference outputs (onnxruntime) and the comparisons the report states.

onnxruntime runs with graph optimisations disabled (for the int8 QDQ models that is how the
stored output_0_qdq.pb files were made). For int8 models the difference is also given in steps
of the output's quantisation; for a model ending in Softmax, in steps of the logits that feed
the Softmax (log p, up to a shared constant).
"""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def onnxruntime_output(path, x):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: x})[0], np.float32).ravel()


def output_step(path):
    """(scale, through_softmax) of the DequantizeLinear that makes the output or feeds a final
    Softmax; (None, False) when there is none."""
    g = onnx.load(path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    node = producer.get(g.output[0].name)
    softmax = node is not None and node.op_type == "Softmax"
    if softmax:
        node = producer.get(node.input[0])
    if node is not None and node.op_type == "DequantizeLinear" and node.input[1] in inits:
        return float(np.max(inits[node.input[1]])), softmax
    return None, False


def bit_exact(a, b):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a.shape == b.shape and bool(np.array_equal(a.view(np.uint32), b.view(np.uint32)))


def max_abs_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def diff_in_steps(out, ref, step, softmax):
    """Largest difference in quantisation steps (of the logits when the output is a Softmax)."""
    if softmax:
        with np.errstate(divide="ignore"):
            d = np.log(out.astype(np.float64)) - np.log(ref.astype(np.float64))
        d = d[np.isfinite(d)]
        return float(np.max(np.abs(d - np.median(d))) / step) if d.size else 0.0
    return max_abs_diff(out, ref) / step
