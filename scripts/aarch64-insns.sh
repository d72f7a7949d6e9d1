#!/usr/bin/env bash
# Executed aarch64 instructions per inference of the modules tests/emit_aarch64.rs built (issue
# 12): each module's runner run under qemu-aarch64 with a counting plugin (qemu-insn/insn.c) on
# one and on two copies of its first test input; the difference is one inference, without the
# process's start-up (with one job's input read and output written). Both aarch64 builds, under
# `-cpu max`: plain NEON (smlal) and +dotprod (sdot).
# Instructions, not cycles: there is no Arm board here, and qemu does not model timing.
#
# Usage: bash scripts/aarch64-insns.sh [BUILD_ROOT]   (from the repository root, after
# `cargo test --test emit_aarch64`; BUILD_ROOT defaults to target/emit-aarch64)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-target/emit-aarch64}
WORK=target/aarch64-insns
mkdir -p "$WORK"
gcc -shared -fPIC -O2 -o "$WORK/libinsn.so" scripts/qemu-insn/insn.c
count() { # BUILD_DIR CPU JOBFILE
  qemu-aarch64 -cpu "$2" -L /usr/aarch64-linux-gnu -plugin "$WORK/libinsn.so" "$ROOT/$1/run" "$3" 2>&1 >/dev/null |
    sed -n 's/^insns: //p'
}
printf '%-48s %14s %14s\n' module plain dotprod
for dir in "$ROOT"/src/m_*/; do
  id=$(basename "$dir")
  n=$(sed -n 's/^pub const INPUT_LEN: usize = \([0-9]*\);/\1/p' "$dir/model.rs")
  head -c $((n * 4)) "$ROOT/io/$id.in" >"$WORK/one.in"
  echo "$id $WORK/one.in $WORK/one.out" >"$WORK/one.job"
  cat "$WORK/one.job" "$WORK/one.job" >"$WORK/two.job"
  plain=$(($(count aarch64 max "$WORK/two.job") - $(count aarch64 max "$WORK/one.job")))
  dot=$(($(count aarch64-dotprod max "$WORK/two.job") - $(count aarch64-dotprod max "$WORK/one.job")))
  printf '%-48s %14d %14d\n' "$id" "$plain" "$dot"
done
