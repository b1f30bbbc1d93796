#!/usr/bin/env bash
# The playground's flow on the command line: sets up the default model and sample data, then compares every method
# on the same split, seed and budget, with live progress and a results table. (scripts/serve.sh serves the page.)
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$bin" compare --model "$model" --data public/data/yelp.json \
  --methods "${METHODS:-lora,prefix,ptuning-v2,head,full}" --epochs "${EPOCHS:-3}" --max-length 64 "$@"
