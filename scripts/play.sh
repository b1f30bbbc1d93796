#!/usr/bin/env bash
# Sets up the default model and sample data, then runs the playground flow: every method on the same split,
# seed and budget, with live progress and a comparison table. (The browser playground will be served from here.)
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$bin" compare --model "$model" --data public/data/yelp.json \
  --methods "${METHODS:-lora,prefix,ptuning-v2,head,full}" --epochs "${EPOCHS:-3}" --max-length 64 "$@"
