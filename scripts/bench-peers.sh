#!/usr/bin/env bash
# Side-by-side bench (issue 12): gos-opt's generated code against tract and onnxruntime, one
# thread each, same input, interleaved rounds, median of round medians, on the MLPerf Tiny
# models, mnist-8, cnn_small and the int8 QDQ models (examples/emit-bench/benches/peers).
#
# Installs the onnxruntime wheel into a venv (target/peer-venv) when ORT_DYLIB_PATH is not set,
# then compiles the bench twice, the generated code for baseline x86-64 ("plain") and with
# -C target-cpu=native: the flag is given to the bench target alone (cargo rustc), so tract and
# onnxruntime are the same binaries in both runs. Prints both runs' tables and the merged one,
# which also goes to target/peers/table.md with the date and CPU model.
#
# Opt-in (a few minutes): bash scripts/bench-peers.sh [FILTER] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d ../shared/models ]; then
  echo "error: ../shared/models is missing: no models to bench" >&2
  exit 1
fi
# ort 2.0.0-rc.15 (examples/emit-bench/Cargo.toml) speaks ONNX Runtime API 31: onnxruntime 1.31.
ORT_VERSION=1.31.1
VENV=target/peer-venv
OUT=target/peers
mkdir -p "$OUT"

find_dylib() {
  "$VENV/bin/python" - <<'EOF'
import glob, os, onnxruntime
found = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))
print(found[0] if found else "")
EOF
}

if [ -z "${ORT_DYLIB_PATH:-}" ]; then
  if ! "$VENV/bin/python" -c "import onnxruntime, sys; sys.exit(onnxruntime.__version__ != '$ORT_VERSION')" 2>/dev/null; then
    echo "installing onnxruntime==$ORT_VERSION into $VENV" >&2
    { python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet "onnxruntime==$ORT_VERSION"; } \
      || echo "warning: could not install the onnxruntime wheel; the bench will skip onnxruntime" >&2
  fi
  ORT_DYLIB_PATH=$(find_dylib 2>/dev/null || true)
fi
export ORT_DYLIB_PATH
echo "ORT_DYLIB_PATH=$ORT_DYLIB_PATH" >&2

# Builds the peers bench with extra rustc flags for the bench target ($@) and prints the path of
# its executable.
build() {
  nice cargo rustc --quiet --profile bench -p emit-bench --bench peers --message-format=json-render-diagnostics -- "$@" \
    | grep -o '"executable":"[^"]*peers[^"]*"' | tail -n 1 | cut -d'"' -f4
}

for build in plain native; do
  if [ "$build" = native ]; then flags=(-C target-cpu=native); else flags=(); fi
  echo "building the generated code $build (${flags[*]:-no flags})" >&2
  exe=$(build "${flags[@]}")
  if [ -z "$exe" ]; then
    echo "error: no peers executable from cargo rustc" >&2
    exit 1
  fi
  echo "## generated code $build"
  "$exe" "$@" --save "$OUT/$build.tsv"
done

{
  echo "## generated code plain and native, with tract and onnxruntime"
  echo
  echo "$(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), one run on one machine:"
  echo "bash scripts/bench-peers.sh $*"
  "$exe" --merge "$OUT/plain.tsv" "$OUT/native.tsv"
} | tee "$OUT/table.md"
