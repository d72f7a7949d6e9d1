#!/usr/bin/env bash
# Renders gos-opt's HTML report to a PNG with headless Chromium and checks it (issue 15.7):
# the page loads without console errors, and its DOM holds the per-layer chart and the rewrite
# table. Prints the counts of chart bars, layer rows and rewrite rows.
#
#   bash scripts/report-screenshot.sh [MODEL.onnx [OUT.png [GOS-OPT ARGS...]]]
#
# Defaults: ../shared/models/ppocr/rec/model.onnx with --input-shape x=1x3x48x320,
# target/report-screenshot/report.png, --target rpi3. Needs chromium (apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=target/report-screenshot
mkdir -p "$OUT_DIR"
MODEL=${1:-../shared/models/ppocr/rec/model.onnx}
PNG=${2:-$OUT_DIR/report.png}
shift $(($# > 2 ? 2 : $#))
if [ $# -eq 0 ]; then
  set -- --target rpi3
  if [ "$MODEL" = ../shared/models/ppocr/rec/model.onnx ]; then set -- "$@" --input-shape x=1x3x48x320; fi
fi
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  echo "error: chromium not found (apt-get install -y chromium)" >&2
  exit 1
fi
cargo build --quiet
HTML=$(realpath "$OUT_DIR")/report.html
echo "\$ gos-opt $MODEL $* -o $OUT_DIR/model.opt.onnx --report $HTML"
target/debug/gos-opt "$MODEL" "$@" -o "$OUT_DIR/model.opt.onnx" --report "$HTML" -q

PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
chrome() {
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$PROFILE" --enable-logging=stderr --v=0 "$@" "file://$HTML"
}
chrome --window-size=1400,3000 --screenshot="$(realpath -m "$PNG")" 2>"$OUT_DIR/chromium-screenshot.log" >/dev/null
chrome --dump-dom 2>"$OUT_DIR/chromium-dom.log" >"$OUT_DIR/dom.html"

# Console messages of the page (Chromium logs them as CONSOLE lines); none are expected.
if grep -hE "CONSOLE|Uncaught|Failed to load" "$OUT_DIR"/chromium-*.log; then
  echo "error: the page logged the messages above" >&2
  exit 1
fi
bars=$(grep -o '<g class="layer">' "$OUT_DIR/dom.html" | wc -l)
layers=$(sed -n '/id="layer-table"/,/<\/table>/p' "$OUT_DIR/dom.html" | grep -c '<tr><td' || true)
rewrites=$(grep -o '<tr class="rewrite">' "$OUT_DIR/dom.html" | wc -l)
echo "DOM: $bars bars in the per-layer chart, $layers rows in the layer table, $rewrites rows in the rewrite table"
if [ "$bars" -eq 0 ] || [ "$layers" -eq 0 ]; then
  echo "error: the per-layer chart or table is missing" >&2
  exit 1
fi
if [ ! -s "$PNG" ]; then
  echo "error: no screenshot written" >&2
  exit 1
fi
echo "wrote $PNG ($(stat -c %s "$PNG") bytes)"
