#!/usr/bin/env bash
# Winograd direct / F2 / F4 (issue 12, item 4): the float ResNet-8 and ResNet-large emitted as
# Rust four ways: without rewrites (`--mode none`, every 3x3 convolution on k_conv), optimized
# for `host` with only the F(2x2, 3x3) rules, with only the F(4x4, 3x3) rules (each layer then
# Winograd of that size or direct, as extraction prices them), and with both (the default: direct,
# F2 or F4 per layer). The four modules of a model are compiled into one runner with rustc -O
# (add RUSTFLAGS_EXTRA="-C target-cpu=native" for the native build) and timed on the same input,
# interleaved rounds, median of the round medians; their outputs must agree within 1e-4. Then,
# per layer, each variant's fastest time of every convolution call (scripts/step-times.sh,
# ROUNDS=1, its native build), the layers in graph order.
#
# Usage: bash scripts/winograd-bench.sh [ROUNDS] [STEP_RUNS]   (from the repository root; a few
# minutes; STEP_RUNS=0 skips the per-layer table)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-15}
STEP_RUNS=${2:-200}
MODELS=../shared/models/mlperf-tiny/onnx
OUT=target/winograd-bench
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build --quiet --bin gos-opt
BIN=target/debug/gos-opt
# One size's rules alone: rules/winograd.rules without the other size's (blank-line separated
# blocks). A file whose name ends in winograd.rules replaces the built-in Winograd rules.
only() {
  awk -v RS= -v ORS='\n\n' -v drop="conv3x3-winograd-$1" 'index($0, "(rule " drop) == 0' rules/winograd.rules
}
only f4 > "$OUT/f2-winograd.rules"
only f2 > "$OUT/f4-winograd.rules"
VARIANTS="direct f2 f4 both"
flags() {
  case $1 in
    direct) echo "--mode none --no-verify" ;;
    f2) echo "--rules $OUT/f2-winograd.rules" ;;
    f4) echo "--rules $OUT/f4-winograd.rules" ;;
    both) echo "" ;;
  esac
}
mods=""
for m in resnet8:resnet8_cifar10_pretrainedResnet resnet_large:resnet_large_cifar10; do
  name=${m%%:*}
  model=$MODELS/${m#*:}/model.onnx
  for v in $VARIANTS; do
    # shellcheck disable=SC2046 # the flags are a list of options
    "$BIN" "$model" --target host -q $(flags "$v") -o "$OUT/${name}_$v.onnx" --emit-rust "$OUT/${name}_$v"
    echo "$name $v: $(grep -c 'k_wino::<2,' "$OUT/${name}_$v/model.rs") F2 and $(grep -c 'k_wino::<4,' "$OUT/${name}_$v/model.rs") F4 k_wino calls, $(grep -c 'k_conv[a-z_0-9]*::<' "$OUT/${name}_$v/model.rs") k_conv calls" >&2
  done
  mods="$mods $name"
done
{
  for name in $mods; do
    for v in $VARIANTS; do
      echo "mod ${name}_$v { include!(\"${name}_$v/model.rs\"); }"
    done
  done
  cat <<'RS'
use std::time::Instant;
fn median(mut v: Vec<f64>) -> f64 { v.sort_by(|a, b| a.partial_cmp(b).unwrap()); v[v.len() / 2] }
type Run = fn(&[f32], &mut [f32], &mut [f32]);
fn time(run: Run, x: &[f32], out: &mut [f32], arena: &mut [f32], reps: usize) -> f64 {
    let t = Instant::now();
    for _ in 0..reps { run(x, out, arena); }
    t.elapsed().as_secs_f64() * 1e3 / reps as f64
}
/// Times the variants (run, input, output and arena lengths) of one model, the first the reference.
fn bench(name: &str, vs: &[(Run, usize, usize, usize)], rounds: usize) {
    let x: Vec<f32> = (0..vs[0].1).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let mut ys: Vec<Vec<f32>> = vs.iter().map(|v| vec![0.0; v.2]).collect();
    let mut arenas: Vec<Vec<f32>> = vs.iter().map(|v| vec![0.0; v.3]).collect();
    let mut err = 0.0f32;
    for (i, v) in vs.iter().enumerate() {
        (v.0)(&x, &mut ys[i], &mut arenas[i]);
        err = ys[i].iter().zip(&ys[0]).map(|(p, q)| (p - q).abs()).fold(err, f32::max);
    }
    assert!(err <= 1e-4, "{name}: outputs differ by {err}");
    let reps = ((0.05 / (time(vs[0].0, &x, &mut ys[0], &mut arenas[0], 1) / 1e3)) as usize).max(1);
    let mut ts: Vec<Vec<f64>> = vec![Vec::new(); vs.len()];
    for _ in 0..rounds {
        for (i, v) in vs.iter().enumerate() {
            ts[i].push(median((0..5).map(|_| time(v.0, &x, &mut ys[i], &mut arenas[i], reps)).collect()));
        }
    }
    let ms: Vec<f64> = ts.into_iter().map(median).collect();
    let cells: Vec<String> = ms.iter().map(|m| format!("{m:.3} ms ({:.2}x)", ms[0] / m)).collect();
    println!("| {name} | {} | {err:.1e} |", cells.join(" | "));
}
fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(15);
    println!("| model | direct (k_conv) | F2 rules only | F4 rules only | both (chosen per layer) | max output difference |");
    println!("|---|---:|---:|---:|---:|---:|");
RS
  for name in $mods; do
    echo "    bench(\"$name\", &["
    for v in $VARIANTS; do
      echo "        (${name}_$v::run, ${name}_$v::INPUT_LEN, ${name}_$v::OUTPUT_LEN, ${name}_$v::ARENA_LEN),"
    done
    echo "    ], rounds);"
  done
  echo "}"
} > "$OUT/main.rs"
# shellcheck disable=SC2086
rustc --edition 2021 -C opt-level=3 -C codegen-units=1 ${RUSTFLAGS_EXTRA:-} -A warnings "$OUT/main.rs" -o "$OUT/runner"
"$OUT/runner" "$ROUNDS"
# Per layer: each variant's convolution calls (k_conv*, k_wino) in graph order, their fastest time
# in the native build of scripts/step-times.sh.
if [ "$STEP_RUNS" != 0 ]; then
  for m in resnet8:resnet8_cifar10_pretrainedResnet resnet_large:resnet_large_cifar10; do
    name=${m%%:*}
    for v in $VARIANTS; do
      GOS_OPT=$BIN GOS_FLAGS="$(flags "$v")" ROUNDS=1 bash scripts/step-times.sh "$MODELS/${m#*:}/model.onnx" "$STEP_RUNS" \
        | awk '/^## generated code native/ { on = 1; next } /^##/ { on = 0 } on && /us  k_(conv|wino)/' > "$OUT/steps-$name-$v"
    done
    echo
    echo "$name, per convolution layer, fastest call in us (native build; F2/F4 = k_wino of that size):"
    python3 - "$OUT" "$name" $VARIANTS <<'PY'
import re, sys
out, name, variants = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = {}
for v in variants:
    rows[v] = []
    for line in open(f"{out}/steps-{name}-{v}"):
        m = re.match(r"\s*\d+\s+([\d.]+) us\s+(\S+)", line)
        if m:
            kernel = m.group(2)
            form = "F" + kernel[7] if kernel.startswith("k_wino<") else "direct"
            rows[v].append((float(m.group(1)), form))
print("| layer | " + " | ".join(variants) + " |")
print("|---|" + "---:|" * len(variants))
for i in range(max(len(r) for r in rows.values())):
    cells = [f"{rows[v][i][0]:.1f} ({rows[v][i][1]})" if i < len(rows[v]) else "" for v in variants]
    print(f"| {i} | " + " | ".join(cells) + " |")
PY
  done
fi
# The written Winograd models in onnxruntime (the venv bench-peers.sh installs, or ORT_PYTHON):
# they load and agree with the originals, and how fast onnxruntime runs them.
ORT_PYTHON=${ORT_PYTHON:-target/peer-venv/bin/python}
if [ -x "$ORT_PYTHON" ]; then
  "$ORT_PYTHON" - "$MODELS" "$OUT" <<'PY'
import sys, time, numpy as np, onnxruntime as ort
models, out = sys.argv[1], sys.argv[2]
so = ort.SessionOptions()
so.intra_op_num_threads = so.inter_op_num_threads = 1
for name, folder in [("resnet8", "resnet8_cifar10_pretrainedResnet"), ("resnet_large", "resnet_large_cifar10")]:
    a = ort.InferenceSession(f"{models}/{folder}/model.onnx", so, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(f"{out}/{name}_both.onnx", so, providers=["CPUExecutionProvider"])
    i = a.get_inputs()[0]
    x = np.random.RandomState(0).rand(*[d if isinstance(d, int) else 1 for d in i.shape]).astype(np.float32)
    diff = np.abs(a.run(None, {i.name: x})[0] - b.run(None, {b.get_inputs()[0].name: x})[0]).max()
    print(f"onnxruntime {ort.__version__}: {name}_both.onnx loads; max |difference| from the original {diff:.1e}")
    # How onnxruntime runs the written form (generic ops): fastest run, interleaved rounds.
    best = {"original": float("inf"), "Winograd form": float("inf")}
    for _ in range(10):
        for k, s in (("original", a), ("Winograd form", b)):
            for _ in range(5):
                t = time.perf_counter()
                s.run(None, {s.get_inputs()[0].name: x})
                best[k] = min(best[k], time.perf_counter() - t)
    print(f"  onnxruntime, one thread, fastest run: original {best['original'] * 1e3:.3f} ms, "
          f"Winograd form {best['Winograd form'] * 1e3:.3f} ms")
PY
else
  echo "no onnxruntime python ($ORT_PYTHON): the onnxruntime check is skipped" >&2
fi
