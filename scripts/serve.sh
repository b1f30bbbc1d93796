#!/usr/bin/env bash
# Sets up and serves the playground at http://127.0.0.1:8080 with its embedded default model and sample data:
# installs the model, the data, the wasm32 target, wasm-bindgen-cli and trunk 0.21.14 where missing (trunk's first
# install takes about 11 minutes here, the first wasm build about as long), then `trunk serve` (offline, Trunk.toml).
# Extra arguments go to trunk, e.g. --port 9000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --web
if [ "$(trunk --version 2>/dev/null)" != "trunk 0.21.14" ]; then
  echo "serve: installing trunk 0.21.14 (0.22 needs a newer rustc)"
  cargo install --quiet --locked trunk --version 0.21.14
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/peft-lab/target}"
# npm binaryen's wasm-opt (Trunk.toml pins version_132) ahead of any other on PATH.
export PATH="${PEFT_LAB_CACHE:-$HOME/.cache/peft-lab}/binaryen/node_modules/.bin:$PATH"
exec trunk serve --release "$@"
