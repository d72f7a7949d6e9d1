"""onnxruntime's fastest run of a model on one thread (scripts/step-times.sh's peer line).

    python ort.py MODEL.onnx RUNS
"""
import sys
import time

import numpy as np
import onnxruntime as ort

so = ort.SessionOptions()
so.intra_op_num_threads = so.inter_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
i = s.get_inputs()[0]
x = np.random.default_rng(0).random([d if isinstance(d, int) else 1 for d in i.shape], dtype=np.float32)
best = float("inf")
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    s.run(None, {i.name: x})
    best = min(best, time.perf_counter() - t)
print(f"## onnxruntime {ort.__version__}, one thread: fastest run {best * 1e6:.1f} us")
