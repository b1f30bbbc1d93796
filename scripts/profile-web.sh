#!/usr/bin/env bash
# Where the browser's CPU training step goes: `perf record` over headless chromium while the page trains LoRA on
# MiniLM (batch 16 x 64 tokens, the wasm CPU path), with V8 writing a perf map of its JIT code, so the samples inside
# the wasm carry the Rust function names (the site is rebuilt from the last wasm build with wasm-opt -g, which keeps
# the name section; the code is otherwise the shipped one). Prints the hottest symbols, self time.
# Usage: bash scripts/profile-web.sh [steps (6)] [symbols shown (45)]
set -euo pipefail
source "$(dirname "$0")/env.sh"
steps="${1:-6}"
shown="${2:-45}"
bash scripts/setup.sh --test >/dev/null
command -v perf >/dev/null || { echo "profile-web: needs perf (Debian: linux-perf)" >&2; exit 1; }
out=dist-profile
[ -f "$CARGO_TARGET_DIR/wasm32-unknown-unknown/web/peft-lab-web.wasm" ] || WASM_OPT=0 bash scripts/build-web.sh "$out"
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name peft-lab-web \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/web/peft-lab-web.wasm"
"${PEFT_LAB_CACHE:-$HOME/.cache/peft-lab}/binaryen/node_modules/.bin/wasm-opt" -Oz -g \
  $(sed -n 's/.*data-wasm-opt-params="\([^"]*\)".*/\1/p' www/index.html) \
  "$out/peft-lab-web_bg.wasm" -o "$out/peft-lab-web_bg.wasm"
cp -r dist-test/index.html dist-test/style.css dist-test/worker.js dist-test/snippets "$out/" 2>/dev/null ||
  { echo "profile-web: run scripts/build-web.sh dist-test first (index.html, worker.js)" >&2; exit 1; }
ln -s "$PWD/public/models" "$out/models"
ln -s "$PWD/public/data" "$out/data"
data="${PROFILE_DIR:-$(mktemp -d)}"
mkdir -p "$data"
# The whole machine, while the measurement runs: the helper worker's thread is in a chromium renderer process.
CHROMIUM_EXTRA_FLAGS="--js-flags=--perf-basic-prof" \
  perf record -F 499 -a -o "$data/perf.data" -- node tests/browser/measure.mjs "$out" "$steps" cpu
rm -f isolate-0x*-v8.log # V8's own logs, which the perf map flag also writes
# Self time by symbol, as a share of the busy samples (the idle loop of the other core left out).
perf report -i "$data/perf.data" --no-children --sort sym --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' |
  awk '!/_halt|cpu_idle|mwait/ { gsub("%", "", $1); rows[++n] = $0; share[n] = $1; busy += $1 }
       END { for (i = 1; i <= n && i <= '"$shown"'; i++) { sub(/^ *[0-9.]+%? */, "", rows[i]);
             printf "%6.2f%%  %s\n", 100 * share[i] / busy, substr(rows[i], 1, 150) } }'
[ -n "${PROFILE_DIR:-}" ] || rm -rf "$data"
