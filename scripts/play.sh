#!/usr/bin/env bash
# Sets up the default model and sample data, then runs the playground flow: every method on the same split,
# seed and budget, with live progress and a comparison table. (The browser playground will be served from here.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/peft-lab/target}"
cargo run --quiet --bin peft-lab -- compare \
  --model public/models/all-MiniLM-L6-v2 --data public/data/yelp.json \
  --methods "${METHODS:-lora,prefix,ptuning-v2,head,full}" --epochs "${EPOCHS:-3}" --max-length 64 "$@"
