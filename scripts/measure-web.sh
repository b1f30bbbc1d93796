#!/usr/bin/env bash
# The playground's figures, measured back to back on this machine:
#   - the wasm (page and worker share it) and its JS glue, raw and gzip;
#   - headless chromium, for each backend in BROWSER_BACKENDS (default "auto cpu"; add webgpu for SwiftShader, about
#     2 minutes a step): page open to model ready and to the first LoRA step with MiniLM already in the browser's
#     cache, and LoRA seconds per step at batch 16 x 64 tokens; with auto, the page's own timings and choice;
#   - a whole comparison (LoRA, prefix, P-tuning v2, head, full) on the Yelp sample on the wasm CPU path, in one
#     worker and in one worker per core, with COMPARE_RUNS runs per method (default "1 3": one, then three seeds):
#     COMPARE_BUDGET steps per method (default 20; "default" is the page's own budget, 3 epochs: the page's default
#     comparison, 5 methods x 3 seeds, is COMPARE_BUDGET=default COMPARE_RUNS=3 COMPARE_WORKERS=2);
#   - the same LoRA step natively on wgpu (Mesa lavapipe) and on the CPU (flex, one thread and all cores), from
#     `peft-lab bench`.
# Usage: bash scripts/measure-web.sh [browser steps (4)]
set -euo pipefail
source "$(dirname "$0")/env.sh"
steps="${1:-4}"
bash scripts/setup.sh --test >/dev/null
bash scripts/build-web.sh dist-test >/dev/null
for f in dist-test/peft-lab-web_bg.wasm dist-test/peft-lab-web.js; do
  printf '%-32s %10d bytes raw %10d bytes gzip\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(gzip -9 -c "$f" | wc -c)"
done
for backend in ${BROWSER_BACKENDS:-auto cpu}; do
  echo "browser, backend=$backend:"
  node tests/browser/measure.mjs dist-test "$steps" "$backend"
done
budget="${COMPARE_BUDGET:-20}"
workers="${COMPARE_WORKERS:-1 $(nproc)}"
echo "browser, CPU, comparison of five methods on the Yelp sample (budget: $budget), workers: $workers:"
node tests/browser/measure-compare.mjs dist-test "$budget" "$workers" "${COMPARE_RUNS:-1 3}"
export VK_ICD_FILENAMES="${VK_ICD_FILENAMES:-/usr/share/vulkan/icd.d/lvp_icd.x86_64.json}"
echo "native wgpu (lavapipe):"
"$bin" bench --model "$model" --method lora --batch-size 16 --seq-len 64 --steps "$steps" --backend wgpu 2>/dev/null | tail -1
for threads in 1 "$(nproc)"; do
  echo "native CPU (flex, $threads threads):"
  "$bin" --threads "$threads" bench --model "$model" --method lora --batch-size 16 --seq-len 64 --steps "$steps" \
    --backend cpu 2>/dev/null | tail -1
done
