#!/usr/bin/env bash
# Builds the playground into ${1:-dist}: the wasm (page and worker in one), the worker's loader, the styles and
# index.html, exactly the files `trunk build --release` makes from www/index.html and Trunk.toml, but with cargo,
# wasm-bindgen and wasm-opt only, so the test command needs no trunk. Models and sample data are linked, not copied.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --web
out="${1:-dist}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/peft-lab/target}"
# The WebAssembly features rustc 1.95 emits for wasm32 (with simd128 from .cargo/config.toml), read from index.html.
wasm_opt_features() { sed -n 's/.*data-wasm-opt-params="\([^"]*\)".*/\1/p' www/index.html; }
cargo build --target wasm32-unknown-unknown --profile web --features web --bin peft-lab-web -j 2
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name peft-lab-web \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/web/peft-lab-web.wasm"
# wasm-opt as trunk runs it (www/index.html: data-wasm-opt, data-wasm-opt-params); WASM_OPT=0 skips it (minutes).
if [ "${WASM_OPT:-1}" != 0 ]; then
  "${PEFT_LAB_CACHE:-$HOME/.cache/peft-lab}/binaryen/node_modules/.bin/wasm-opt" -Oz $(wasm_opt_features) \
    "$out/peft-lab-web_bg.wasm" -o "$out/peft-lab-web_bg.wasm"
fi
cp www/style.css www/worker.js "$out/"
ln -s "$PWD/public/models" "$out/models"
ln -s "$PWD/public/data" "$out/data"
# trunk replaces each <link data-trunk> with its output; the same replacement here:
sed -e '/data-trunk rel="rust"/c\  <script type="module">import init from "./peft-lab-web.js"; await init({ module_or_path: "./peft-lab-web_bg.wasm" });</script>' \
  -e 's|<link data-trunk rel="css" href="style.css" />|<link rel="stylesheet" href="style.css" />|' \
  -e '/data-trunk rel="copy-/d' www/index.html > "$out/index.html"
echo "build-web: $out/ ($(du -h "$out/peft-lab-web_bg.wasm" | cut -f1) wasm)"
