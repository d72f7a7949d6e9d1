#!/usr/bin/env bash
# The README's table of generated code against onnxruntime and tract on this machine: for each
# MLPerf Tiny model, mnist-8 and cnn_small, float and int8 (QDQ, integer kernels), the fastest
# run of the plain and native builds and of onnxruntime and tract on one thread, from
# scripts/step-times.sh (each in ROUNDS interleaved processes, the fastest kept). Needs ../shared
# and target/peer-venv (scripts/bench-peers.sh installs onnxruntime; tract's Python package, the
# release of the tract-onnx crate in Cargo.lock, is installed here). The last row is the peers'
# Python call alone: a model of one Relu on 60 values. About 6 minutes.
#
#     bash scripts/step-times-table.sh [RUNS]   (RUNS per process, default 300; ResNet-large 40)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
shared=../shared/models
float=(
  resnet8:mlperf-tiny/onnx/resnet8_cifar10_pretrainedResnet/model.onnx
  dscnn_kws:mlperf-tiny/onnx/dscnn_kws/model.onnx
  mobilenetv1_025_vww96:mlperf-tiny/onnx/mobilenetv1_025_vww96/model.onnx
  fc_autoencoder_ad01:mlperf-tiny/onnx/fc_autoencoder_ad01/model.onnx
  resnet_large:mlperf-tiny/onnx/resnet_large_cifar10/model.onnx
  mnist_8:mnist-8/model.onnx
  cnn_small:trained-tiny/cnn_small/model.onnx
)
int8=(
  int8_resnet8:int8/resnet8_cifar10_pretrainedResnet/model_qdq.onnx
  int8_dscnn_kws:int8/dscnn_kws/model_qdq.onnx
  int8_mobilenetv1_025_vww96:int8/mobilenetv1_025_vww96/model_qdq.onnx
  int8_fc_autoencoder_ad01:int8/fc_autoencoder_ad01/model_qdq.onnx
  int8_resnet_large:int8/resnet_large_cifar10/model_qdq.onnx
  int8_mnist_8:int8/mnist-8/model_qdq.onnx
  int8_cnn_small:int8/cnn_small/model_qdq.onnx
)
[ -x target/peer-venv/bin/python ] || { echo "no target/peer-venv: run scripts/bench-peers.sh once" >&2; exit 1; }
tract_version=$(grep -A1 '^name = "tract-onnx"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if ! target/peer-venv/bin/python -c "import tract, sys; sys.exit(tract.version() != '$tract_version')" 2>/dev/null; then
  target/peer-venv/bin/pip install --quiet "tract==$tract_version" numpy || { echo "cannot install tract==$tract_version" >&2; exit 1; }
fi
echo "| model | onnxruntime | tract | generated, plain | generated, native | onnxruntime / plain | onnxruntime / native | tract / plain | tract / native |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for entry in "${float[@]}" "${int8[@]}"; do
  name=${entry%%:*}
  n=$runs
  case $name in *resnet_large) n=$(( runs < 40 ? runs : 40 )) ;; esac
  out=$(bash scripts/step-times.sh "$shared/${entry#*:}" "$n")
  # The fastest run of each section: generated plain, generated native, onnxruntime, tract.
  read -r plain native ort tract <<<"$(echo "$out" | grep -oE 'fastest run( \(timers included\))?:? [0-9.]+ us' |
    grep -oE '[0-9.]+ us' | cut -d' ' -f1 | tr '\n' ' ')"
  awk -v m="$name" -v o="$ort" -v t="$tract" -v p="$plain" -v q="$native" \
    'BEGIN { printf "| %s | %.1f | %.1f | %.1f | %.1f | %.2f× | %.2f× | %.2f× | %.2f× |\n", m, o, t, p, q, o / p, o / q, t / p, t / q }'
done
relu=../shared/conformance/onnx-node/node/test_relu/model.onnx
ort=$(target/peer-venv/bin/python scripts/step-times/ort.py "$relu" 2000 | grep -oE '[0-9.]+ us$' | cut -d' ' -f1)
tract=$(target/peer-venv/bin/python scripts/step-times/tract_run.py "$relu" 2000 | grep -oE '[0-9.]+ us$' | cut -d' ' -f1)
echo "| (the Python call alone: one Relu) | $ort | $tract | | | | | | |"
