#!/usr/bin/env bash
# Sets up and serves the playground at http://127.0.0.1:8080 (PORT=... for another port) with its embedded default
# model and sample data: installs the model, the data, the wasm32 target, wasm-bindgen-cli and wasm-opt where missing,
# builds the site into dist/ with scripts/build-web.sh (the files `trunk build --release` makes, with cargo and
# wasm-bindgen only) and serves it with Python's static file server. No trunk to install first.
#
# --dev: the development server instead, `trunk serve` (offline, Trunk.toml; rebuilds and reloads on changes). It
# installs trunk 0.21.14 where missing (about 11 minutes the first time here). Further arguments go to trunk.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --dev ]; then
  shift
  bash scripts/setup.sh --web
  if [ "$(trunk --version 2>/dev/null)" != "trunk 0.21.14" ]; then
    echo "serve: installing trunk 0.21.14 (0.22 needs a newer rustc)"
    cargo install --quiet --locked trunk --version 0.21.14
  fi
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/peft-lab/target}"
  # npm binaryen's wasm-opt (Trunk.toml pins version_132) ahead of any other on PATH.
  export PATH="${PEFT_LAB_CACHE:-$HOME/.cache/peft-lab}/binaryen/node_modules/.bin:$PATH"
  exec trunk serve --release "$@"
fi
if [ $# -gt 0 ]; then
  echo "serve: unexpected arguments '$*' (PORT=9000 ./scripts/serve.sh for another port; --dev for trunk serve)" >&2
  exit 2
fi
bash scripts/build-web.sh dist
port="${PORT:-8080}"
echo "serve: the playground is at http://127.0.0.1:$port/ (Ctrl-C stops it)"
# Python's server sends .wasm as application/wasm and follows dist/'s links to public/models and public/data.
exec python3 -m http.server "$port" --bind 127.0.0.1 --directory dist
