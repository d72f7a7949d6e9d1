#!/usr/bin/env bash
# Winograd before/after (issue 12, item 4): the float ResNet-8 and ResNet-large emitted as Rust
# without rewrites (`--mode none`, every 3x3 convolution on k_conv) and after exact optimization
# for `host` (stride-1 3x3 convolutions in the Winograd form, run by k_wino), compiled into one
# runner with rustc -O (add RUSTFLAGS_EXTRA="-C target-cpu=native" for the native build) and
# timed on the same input, interleaved rounds, median of the round medians. Also checks that both
# modules give the same outputs within 1e-4.
#
# Usage: bash scripts/winograd-bench.sh [ROUNDS]   (from the repository root; a minute or two)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-15}
MODELS=../shared/models/mlperf-tiny/onnx
OUT=target/winograd-bench
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build --quiet --bin gos-opt
BIN=target/debug/gos-opt
mods=""
for m in resnet8:resnet8_cifar10_pretrainedResnet resnet_large:resnet_large_cifar10; do
  name=${m%%:*}
  model=$MODELS/${m#*:}/model.onnx
  "$BIN" "$model" --mode none --target host -q --no-verify -o "$OUT/${name}_plain.onnx" --emit-rust "$OUT/${name}_plain"
  "$BIN" "$model" --target host -q --rules rules/winograd.rules -o "$OUT/${name}_wino.onnx" --emit-rust "$OUT/${name}_wino"
  echo "$name: $(grep -c 'k_wino::<' "$OUT/${name}_wino/model.rs") k_wino calls after, $(grep -c 'k_conv::<' "$OUT/${name}_plain/model.rs") k_conv calls before" >&2
  mods="$mods $name"
done
{
  for name in $mods; do
    for v in plain wino; do
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
fn bench(name: &str, a: (Run, usize, usize, usize), b: (Run, usize, usize, usize), rounds: usize) {
    let x: Vec<f32> = (0..a.1).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let (mut ya, mut yb) = (vec![0.0; a.2], vec![0.0; b.2]);
    let (mut aa, mut ab) = (vec![0.0; a.3], vec![0.0; b.3]);
    (a.0)(&x, &mut ya, &mut aa);
    (b.0)(&x, &mut yb, &mut ab);
    let err = ya.iter().zip(&yb).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    assert!(err <= 1e-4, "{name}: outputs differ by {err}");
    let reps = ((0.05 / (time(a.0, &x, &mut ya, &mut aa, 1) / 1e3)) as usize).max(1);
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ta.push(median((0..5).map(|_| time(a.0, &x, &mut ya, &mut aa, reps)).collect()));
        tb.push(median((0..5).map(|_| time(b.0, &x, &mut yb, &mut ab, reps)).collect()));
    }
    let (ma, mb) = (median(ta), median(tb));
    println!("| {name} | {ma:.3} ms | {mb:.3} ms | {:.2}x | {err:.1e} |", ma / mb);
}
fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(15);
    println!("| model | before (k_conv) | after (k_wino) | speed-up | max output difference |");
    println!("|---|---:|---:|---:|---:|");
RS
  for name in $mods; do
    echo "    bench(\"$name\", (${name}_plain::run, ${name}_plain::INPUT_LEN, ${name}_plain::OUTPUT_LEN, ${name}_plain::ARENA_LEN), (${name}_wino::run, ${name}_wino::INPUT_LEN, ${name}_wino::OUTPUT_LEN, ${name}_wino::ARENA_LEN), rounds);"
  done
  echo "}"
} > "$OUT/main.rs"
# shellcheck disable=SC2086
rustc --edition 2021 -C opt-level=3 -C codegen-units=1 ${RUSTFLAGS_EXTRA:-} -A warnings "$OUT/main.rs" -o "$OUT/runner"
"$OUT/runner" "$ROUNDS"
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
    b = ort.InferenceSession(f"{out}/{name}_wino.onnx", so, providers=["CPUExecutionProvider"])
    i = a.get_inputs()[0]
    x = np.random.RandomState(0).rand(*[d if isinstance(d, int) else 1 for d in i.shape]).astype(np.float32)
    diff = np.abs(a.run(None, {i.name: x})[0] - b.run(None, {b.get_inputs()[0].name: x})[0]).max()
    print(f"onnxruntime {ort.__version__}: {name}_wino.onnx loads; max |difference| from the original {diff:.1e}")
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
