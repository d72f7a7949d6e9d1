#!/usr/bin/env bash
# Where a generated module's time goes: emits MODEL with gos-opt (GOS_OPT, default
# target/debug/gos-opt, `cargo build --bin gos-opt`; extra options in GOS_FLAGS, e.g.
# "--emit-quantized float"), times each kernel call of `run` (its
# fastest of RUNS runs: robust on a shared machine) in a build for baseline x86-64 ("plain")
# and one with -C target-cpu=native, and, when the peers bench's venv has onnxruntime
# (target/peer-venv, scripts/bench-peers.sh installs it), onnxruntime's fastest run of MODEL on
# one thread for comparison (scripts/step-times/ort.py), and tract's when that venv has tract's
# Python package (scripts/step-times-table.sh installs it; scripts/step-times/tract_run.py). The
# peers' figures include their Python binding's call (scripts/step-times-table.sh's last row
# measures it on a one-Relu model). Each of the runs goes in ROUNDS
# processes (default 3), interleaved, and the output of the process with the fastest run is
# printed: this shared machine runs a whole process up to 25 % slower at times, which the
# fastest of RUNS runs inside that process does not undo.
#
#     [ROUNDS=3] bash scripts/step-times.sh MODEL.onnx [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
runs=${2:-1000}
rounds=${ROUNDS:-3}
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
done
kinds=(plain native)
if [ -x target/peer-venv/bin/python ]; then kinds+=(ort); fi
if target/peer-venv/bin/python -c "import tract" 2>/dev/null; then kinds+=(tract); fi
for r in $(seq "$rounds"); do
  for k in "${kinds[@]}"; do
    case $k in
      ort) target/peer-venv/bin/python scripts/step-times/ort.py "$model" "$runs" ;;
      tract) target/peer-venv/bin/python scripts/step-times/tract_run.py "$model" "$runs" ;;
      plain) echo "## generated code plain (no flags), $model, $runs runs"; "$dir/steps-plain" "$runs" ;;
      native) echo "## generated code native (-C target-cpu=native), $model, $runs runs"; "$dir/steps-native" "$runs" ;;
    esac > "$dir/out-$k-$r"
  done
done
# The fastest run is the last number of an output's last line.
fastest() { tail -n 1 "$1" | grep -oE '[0-9.]+ us$' | cut -d' ' -f1; }
for k in "${kinds[@]}"; do
  best=1
  for r in $(seq 2 "$rounds"); do
    if awk -v a="$(fastest "$dir/out-$k-$r")" -v b="$(fastest "$dir/out-$k-$best")" 'BEGIN { exit !(a < b) }'; then
      best=$r
    fi
  done
  cat "$dir/out-$k-$best"
done
