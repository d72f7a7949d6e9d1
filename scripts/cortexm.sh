#!/usr/bin/env bash
# Cortex-M cycles of emitted modules, with no board (issue 13 item 4, issue 12): each model is
# emitted by gos-opt, built with plain rustc for a Cortex-M4F (thumbv7em-none-eabihf) and a
# Cortex-M0+ (thumbv6m-none-eabi), run in the unicorn emulator, counted per instruction class
# and priced with the core's cycle table; outputs are checked against the host build of the
# same module and against onnxruntime. Python in scripts/cortexm/ (README "Cortex-M cycles").
# Opt-in, not part of CI: makes a venv in target/cortexm-venv with pinned packages, installs
# the two Rust targets when missing, builds target/release/gos-opt unless GOS_OPT names one.
#   bash scripts/cortexm.sh [--models ..] [--kinds float,int8] [--cores cortex-m4,cortex-m0plus]
#                           [--opts 3,s] [--emit-target T,..] [--all-sets] [--json F] [--md F]
# Results: target/cortexm/results.{json,md}; emitted modules, ELFs and hot blocks under
# target/cortexm/work. `bash scripts/cortexm.sh --help` lists every option.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/cortexm-venv
PINS="unicorn==2.1.4 capstone==5.0.9 pyelftools==0.33 onnx==1.23.2 onnxruntime==1.31.1 numpy==2.3.5"
if [ ! -f "$VENV/pins" ] || [ "$(cat "$VENV/pins")" != "$PINS" ]; then
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086 # one word per pinned package
  "$VENV/bin/pip" install --quiet $PINS
  echo "$PINS" >"$VENV/pins"
fi
for triple in thumbv7em-none-eabihf thumbv6m-none-eabi; do
  if [ ! -d "$(rustc --print target-libdir --target "$triple")" ]; then
    rustup target add "$triple"
  fi
done
case " $* " in
  *" -h "* | *" --help "*) ;;
  *)
    if [ -z "${GOS_OPT:-}" ]; then
      cargo build --release --quiet --bin gos-opt
      export GOS_OPT=target/release/gos-opt
    fi
    ;;
esac
PYTHONPATH=scripts exec "$VENV/bin/python" -m cortexm "$@"
