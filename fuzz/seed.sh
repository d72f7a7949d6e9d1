#!/bin/sh
# Fills fuzz/corpus/<target>/ with seed inputs (the corpus is not committed; see .gitignore):
#   onnx_roundtrip  models under 64 KiB from ../shared/models and the conformance suite
#                   (../shared/conformance), and the bundled models/mnist-8
#   rules           the shipped rules/**/*.rules
#   input_shape     --input-shape arguments for the fuzz check's mnist-8 (input Input3)
#   profile         the shipped targets/*.toml
# Run from anywhere: ./fuzz/seed.sh [SHARED_DIR] (default: ../shared beside the repository).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "${1:-$repo/../shared}" && pwd)
corpus=$repo/fuzz/corpus
mkdir -p "$corpus/onnx_roundtrip" "$corpus/rules" "$corpus/input_shape" "$corpus/profile"

# A file under a name made from its path, so that seeds of different cases do not collide.
put() { cat "$1" >"$corpus/$2/$(echo "$1" | sed "s|^$repo/||; s|^$shared/||; s|/|_|g")"; }

find "$shared/models" "$shared/conformance" "$repo/models/mnist-8" -name '*.onnx' -size -64k |
    while read -r f; do put "$f" onnx_roundtrip; done
find "$repo/rules" -name '*.rules' | while read -r f; do put "$f" rules; done
for f in "$repo"/targets/*.toml; do put "$f" profile; done
printf 'Input3=1x1x28x28\n' >"$corpus/input_shape/mnist"
printf 'Input3=4x1x28x28\n' >"$corpus/input_shape/batch4"
printf 'Input3=1x1x32x32\nx=1,2\n' >"$corpus/input_shape/two"
printf 'Input3=1x1x0x28\n' >"$corpus/input_shape/empty"
for t in onnx_roundtrip rules input_shape profile; do
    echo "$t: $(find "$corpus/$t" -type f | wc -l) seeds"
done
