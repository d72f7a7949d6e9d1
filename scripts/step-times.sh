#!/usr/bin/env bash
# Where a generated module's time goes: emits MODEL with gos-opt (GOS_OPT, default
# target/debug/gos-opt, `cargo build --bin gos-opt`; extra options in GOS_FLAGS, e.g.
# "--emit-quantized float"), times each kernel call of `run` (its
# fastest of RUNS runs: robust on a shared machine) in a build for baseline x86-64 ("plain")
# and one with -C target-cpu=native, and, when the peers bench's venv has onnxruntime
# (target/peer-venv, scripts/bench-peers.sh installs it), onnxruntime's fastest run of MODEL on
# one thread for comparison.
#
#     bash scripts/step-times.sh MODEL.onnx [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
runs=${2:-1000}
gos=${GOS_OPT:-target/debug/gos-opt}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# shellcheck disable=SC2086 # GOS_FLAGS is a list of options
"$gos" "$model" --target host -o "$dir/model.opt.onnx" --emit-rust "$dir" -q ${GOS_FLAGS:-}
python3 scripts/step-times/instrument.py "$dir/model.rs" "$dir/timed.rs" "$dir/weights.bin"
for build in plain native; do
  if [ "$build" = native ]; then flags=(-C target-cpu=native); else flags=(); fi
  MODEL="$dir/timed.rs" rustc --edition 2021 -C opt-level=3 -C codegen-units=1 "${flags[@]}" \
    scripts/step-times/main.rs -o "$dir/steps-$build"
  echo "## generated code $build (${flags[*]:-no flags}), $model, $runs runs"
  "$dir/steps-$build" "$runs"
done
if [ -x target/peer-venv/bin/python ]; then
  target/peer-venv/bin/python - "$model" "$runs" <<'PY'
import sys, time
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
PY
fi
