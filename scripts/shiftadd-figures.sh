#!/usr/bin/env bash
# Multiplication → shift/add (issue 13): for each int8 QDQ model of ../shared, the predicted
# cost before and after optimizing for each target, and how many layers the extractor put on
# shift-add kernels (with their digits per weight); then, for asic45, the predicted energy split
# into the contractions' operations, the other operations and the bytes moved (each layer's
# bytes at the memory level its working set fits, priced per byte as the profile says), before
# (the multiply form) and after, and the bounds on that ratio whatever bytes a datapath moves.
# Reports go to target/shiftadd-figures/.
# Opt-in (about a minute): bash scripts/shiftadd-figures.sh [BIN]
set -uo pipefail
. "$(dirname "$0")/common.sh"
need models/int8
gos_opt_bin "${1:-}"
OUT=target/shiftadd-figures
mkdir -p "$OUT"
echo "| model | target | objective | predicted before | after | ratio | shift-add layers | digits/weight |"
echo "|---|---|---|---|---|---|---|---|"
for model in mnist-8 dscnn_kws resnet8_cifar10_pretrainedResnet mobilenetv1_025_vww96 fc_autoencoder_ad01; do
  for spec in cortex-m0plus:latency cortex-m4:latency rpi3:latency asic45:energy; do
    target=${spec%%:*}
    objective=${spec##*:}
    tag=$model-$target-$objective
    if ! "$BIN" "$S/models/int8/$model/model_qdq.onnx" --target "$target" --objective "$objective" -q \
      -o "$OUT/$tag.onnx" --report "$OUT/$tag.json"; then
      echo "| $model | $target | $objective | failed | | | | |"
      continue
    fi
    python3 - "$OUT/$tag.json" "$model" "$target" "$objective" <<'PY'
import json, sys
path, model, target, objective = sys.argv[1:]
r = json.load(open(path))
key = "latency_s" if objective == "latency" else "energy_pj"
unit = (lambda v: f"{v * 1e3:.3g} ms") if objective == "latency" else (lambda v: f"{v / 1e6:.3g} µJ")
b, a = r["before"]["cost"][key], r["after"]["cost"][key]
layers = [n["cost"]["shift_add"] for n in r["after"]["nodes"] if n.get("cost", {}).get("shift_add")]
digits = sum(l["digits_per_weight"] for l in layers) / len(layers) if layers else 0
print(f"| {model} | {target} | {objective} | {unit(b)} | {unit(a)} | {b / a:.2f}x | {len(layers)} | "
      + (f"{digits:.2f} |" if layers else "- |"))
PY
  done
done
echo
echo "| model (asic45) | form | contractions' operations | other operations | bytes moved | total |"
echo "|---|---|---|---|---|---|"
"$BIN" targets show asic45 >"$OUT/asic45.toml" || exit 1
for model in mnist-8 dscnn_kws resnet8_cifar10_pretrainedResnet mobilenetv1_025_vww96 fc_autoencoder_ad01; do
  [ -f "$OUT/$model-asic45-energy.json" ] || continue
  python3 - "$OUT/$model-asic45-energy.json" "$OUT/asic45.toml" "$model" <<'PY'
import json, sys, tomllib
path, profile, model = sys.argv[1:]
per_byte = tomllib.load(open(profile, "rb"))["energy"]["memory"]
r = json.load(open(path))
for side, form in (("before", "multiply"), ("after", "chosen")):
    ops = {True: 0.0, False: 0.0}
    moved = 0.0
    for n in r[side]["nodes"]:
        c = n.get("cost") or {}
        memory = c.get("bytes", 0) * per_byte[c.get("level", "l1")]
        ops[n["op"] in ("Conv", "Gemm", "MatMul")] += c.get("energy_pj", 0.0) - memory
        moved += memory
    cells = [ops[True], ops[False], moved, ops[True] + ops[False] + moved]
    print(f"| {model} | {form} | " + " | ".join(f"{v / 1e6:.3f} µJ" for v in cells) + " |")
PY
done
# What any memory model could give: the ratio of the two forms' whole-model energy if no byte
# moved at all (the operations alone), and if each contraction read its 8-bit input and
# weights (32-bit bias) and wrote its 8-bit output exactly once, at the memory level that
# working set fits, while every other tensor stayed in the datapath (a floor on the bytes any
# layer-by-layer datapath moves). Both forms move those bytes, so they bound the ratio.
echo
echo "| model (asic45) | multiply / shift-add, no bytes moved | with each contraction's 8-bit input, weights and output moved once |"
echo "|---|---|---|"
for model in mnist-8 dscnn_kws resnet8_cifar10_pretrainedResnet mobilenetv1_025_vww96 fc_autoencoder_ad01; do
  [ -f "$OUT/$model-asic45-energy.json" ] || continue
  python3 - "$OUT/$model-asic45-energy.json" "$OUT/asic45.toml" "$model" <<'PY'
import json, math, sys, tomllib
path, profile, model = sys.argv[1:]
p = tomllib.load(open(profile, "rb"))
per_byte, sizes = p["energy"]["memory"], {k: v.get("size") for k, v in p["memory"].items()}
r = json.load(open(path))
def elements(t):
    shape = t.split()[0]
    return math.prod(int(d) for d in shape.split("x")) if shape != "scalar" else 1
def level(b):
    return next((k for k in ("l1", "l2") if sizes.get(k) and b <= sizes[k]), "dram")
def ops(side):
    return sum((n.get("cost") or {}).get("energy_pj", 0.0)
               - (n.get("cost") or {}).get("bytes", 0) * per_byte[(n.get("cost") or {}).get("level", "l1")]
               for n in r[side]["nodes"])
floor = 0.0
for n in r["before"]["nodes"]:
    if n["op"] in ("Conv", "Gemm", "MatMul") and (n.get("cost") or {}).get("energy_pj"):
        b = elements(n["inputs"][0]) + elements(n["inputs"][1]) + elements(n["outputs"][0])
        b += 4 * sum(elements(t) for t in n["inputs"][2:3])
        floor += b * per_byte[level(b)]
before, after = ops("before"), ops("after")
print(f"| {model} | {before / after:.2f}x | {(before + floor) / (after + floor):.2f}x ({floor / 1e6:.3f} µJ moved) |")
PY
done
