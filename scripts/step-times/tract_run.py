"""tract's fastest run of a model on one thread (scripts/step-times.sh's second peer line; not named tract.py, which would shadow the package).

tract's Python package (PyPI `tract`, the same release as the tract-onnx crate in Cargo.lock)
wraps the same Rust library: `into_runnable` prepares the model with tract's default runtime,
which optimizes it first. tract runs on the calling thread. Input as in ort.py: uniform [0, 1)
values from seed 0, dimensions that are not numbers set to 1.

    python tract_run.py MODEL.onnx RUNS
"""
import sys
import time

import numpy as np
import tract

model = tract.onnx().load(sys.argv[1])
fact = str(model.input_fact(0)).split(",")
shape = [int(d) if d.isdigit() else 1 for d in fact[:-1]]
dtype = {"f32": np.float32, "u8": np.uint8, "i8": np.int8}[fact[-1]]
x = np.random.default_rng(0).random(shape, dtype=np.float32).astype(dtype)
state = model.into_model().into_runnable().spawn_state()
best = float("inf")
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    state.run([x])
    best = min(best, time.perf_counter() - t)
print(f"## tract {tract.version()}, one thread: fastest run {best * 1e6:.1f} us")
