#!/usr/bin/env bash
# Shift-add back end (issue 13, item 3) on ARMv6-M: for each int8 QDQ model of ../shared, the
# module gos-opt emits for cortex-m0plus (digit-coded weights, shift-add kernels) and the one it
# emits for the model as it is (`--mode none`: multiply kernels), each built for
# thumbv6m-none-eabi with ../shared/tools/cortexm/wrapper.rs and link.ld (one bare-metal ELF,
# plain rustc), and their flash: .text, .rodata, the MULS instructions in all the code and in the
# shift-add kernels' inner function. Files go to target/shiftadd-thumbv6m/MODEL/{coded,plain}.
# Usage: bash scripts/shiftadd-thumbv6m.sh [BIN] [OPT-LEVEL]   (defaults: release build, s)
set -uo pipefail
. "$(dirname "$0")/common.sh"
need models/int8
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/thumbv6m-none-eabi" ]; then
  echo "error: rustup target add thumbv6m-none-eabi" >&2
  exit 1
fi
gos_opt_bin "${1:-}"
OPT=${2:-s}
OUT=target/shiftadd-thumbv6m
echo "| model | kernels | .text B | .rodata B | flash B | MULS (all) | MULS in k_sa_run |"
echo "|---|---|---|---|---|---|---|"
for model in mnist-8 dscnn_kws resnet8_cifar10_pretrainedResnet; do
  for kind in coded plain; do
    dir=$OUT/$model/$kind
    mkdir -p "$dir"
    mode=exact
    [ "$kind" = plain ] && mode=none
    if ! "$BIN" "$S/models/int8/$model/model_qdq.onnx" --target cortex-m0plus --mode "$mode" -q --no-verify \
      -o "$dir/model.onnx" --emit-rust "$dir"; then
      echo "| $model | $kind | gos-opt failed | | | | |"
      continue
    fi
    cp "$S/tools/cortexm/wrapper.rs" "$dir/wrapper.rs"
    if ! rustc --edition 2021 --target thumbv6m-none-eabi -C opt-level="$OPT" -C panic=abort \
      -C linker=rust-lld -C link-arg=-T"$S/tools/cortexm/link.ld" --crate-type bin \
      "$dir/wrapper.rs" -o "$dir/model.elf" 2>"$dir/build.log"; then
      echo "| $model | $kind | build failed ($dir/build.log) | | | | |"
      continue
    fi
    text=$(llvm-size -A "$dir/model.elf" | awk '$1 == ".text" { print $2 }')
    rodata=$(llvm-size -A "$dir/model.elf" | awk '$1 == ".rodata" { print $2 }')
    llvm-objdump -d --no-show-raw-insn "$dir/model.elf" >"$dir/model.s"
    muls=$(grep -c $'\tmuls' "$dir/model.s")
    inner=$(awk '/>:$/ { inside = /k_sa_run/ } inside && /\tmuls/ { n++ } END { print n + 0 }' "$dir/model.s")
    [ "$kind" = plain ] && inner=-
    kernels=$(grep -o 'k_sa[a-z]*::<\|k_q[a-z]*::<' "$dir/model.rs" | sort | uniq -c | awk '{ printf "%s%s×%s", sep, $2, $1; sep = " " }' | tr -d ':<')
    echo "| $model | $kind: $kernels | $text | $rodata | $((text + rodata)) | $muls | $inner |"
  done
done
