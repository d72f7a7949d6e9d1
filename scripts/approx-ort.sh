#!/usr/bin/env bash
# onnxruntime's int8 models next to approx mode's (issue 11's comparison), on the ResNets and the
# 32×32 crops split as approx mode splits them (even crops calibrate, odd ones are held out):
# per layer, the error of the float model with only that layer int8 — onnxruntime's
# quantization of it (read off model_qdq.onnx) against gos-opt's (the report's sensitivity
# table) — and onnxruntime's whole int8 model on the held-out crops, with its predicted rpi3
# cost (`gos-opt inspect`). scripts/approx-ort.py does the onnxruntime part; it runs in a venv
# (target/ort-venv, common.sh) with the onnxruntime and onnx versions that made the shared int8 models.
# Opt-in (a few minutes): bash scripts/approx-ort.sh [FILTER]
set -uo pipefail
. "$(dirname "$0")/common.sh"
need models/int8
gos_opt_bin
ort_venv
OUT=target/approx-ort
mkdir -p "$OUT"
FILTER=${1:-}
M=$S/models/mlperf-tiny/onnx
for m in resnet8_cifar10_pretrainedResnet resnet_large_cifar10; do
  if [ -n "$FILTER" ] && [[ "$m" != *"$FILTER"* ]]; then continue; fi
  echo "## $m"
  # The sensitivity table does not depend on the budget; a wide one keeps the report written.
  "$BIN" "$M/$m/model.onnx" --calib "$S/data/natural-crops/crops32.f32" --budget agree=0.5 --target rpi3 \
    --mode approx -q -o "$OUT/$m.onnx" --report "$OUT/$m.json" || exit 1
  "$PY" scripts/approx-ort.py "$M/$m/model.onnx" "$S/models/int8/$m/model_qdq.onnx" \
    "$S/data/natural-crops/crops32.f32" "$OUT/$m.json" || exit 1
  "$BIN" inspect "$S/models/int8/$m/model_qdq.onnx" --target rpi3 | grep "^predicted" | sed 's/^/onnxruntime int8 model: /'
  "$BIN" inspect "$M/$m/model.onnx" --target rpi3 | grep "^predicted" | sed 's/^/float model: /'
  echo
done
