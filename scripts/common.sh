# The preamble the opt-in scripts share (sourced, not run): from the repository root, `need`
# stops with an error unless ../shared has the folder it names, `gos_opt_bin [BIN]` sets
# BIN to the given binary, or builds the release one and takes it, and `ort_venv` sets PY to the
# Python of target/ort-venv (numpy, and the onnxruntime and onnx versions that made the shared
# int8 models), creating it first.
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
S=../shared

need() {
  if [ ! -d "$S/$1" ]; then
    echo "error: ../shared is missing ($S/$1 not found)" >&2
    exit 1
  fi
}

gos_opt_bin() {
  BIN=${1:-target/release/gos-opt}
  if [ "$BIN" = target/release/gos-opt ]; then cargo build --release --quiet || exit 1; fi
}

ort_venv() {
  PY=target/ort-venv/bin/python
  if [ ! -x "$PY" ]; then
    python3 -m venv target/ort-venv && target/ort-venv/bin/pip install --quiet numpy onnx==1.23.2 onnxruntime==1.32.0 || exit 1
  fi
}
