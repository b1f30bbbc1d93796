#!/usr/bin/env bash
# Validation accuracy after every epoch of peft-lab beside the transformers + peft reference, same data,
# hyper-parameters and seeds, side by side in one run. Usage:
#   bash scripts/accuracy.sh [methods (lora,prefix,ptuning-v2) | all] [seeds (1,2,3)]
# Settings (environment):
#   DATASET     yelp (the Yelp sample sentences, 2 classes, a fixed 800/200 split; default), hwu (HWU64 utterances
#               by scenario: 18 imbalanced classes) or trec (TREC questions by type: 6 imbalanced classes), both
#               2,000 / 800 rows; see scripts/accuracy_data.py
#   EPOCHS (3), MAX_LENGTH (64), BATCH_SIZE (16)
#   LR          one learning rate for every method (default: each method's own)
#   SET         method settings by peft's names, space-separated KEY=VALUE (e.g. SET="lora_alpha=16"), both sides
# PYTHON selects the reference interpreter (default python3; it needs torch, transformers, peft, and AdapterHub
# `adapters` for houlsby/pfeiffer).
set -euo pipefail
source "$(dirname "$0")/env.sh"
methods="${1:-lora,prefix,ptuning-v2}"
[ "$methods" = all ] && methods=$("$bin" methods --keys)
seeds="${2:-1,2,3}"
work=$(mktemp -d)
python3 scripts/accuracy_data.py "${DATASET:-yelp}" "$work"
common=(--model "$model" --epochs "${EPOCHS:-3}" --batch-size "${BATCH_SIZE:-16}" --max-length "${MAX_LENGTH:-64}")
[ -n "${LR:-}" ] && common+=(--lr "$LR")
for s in ${SET:-}; do common+=(--set "$s"); done
# peft-lab and the reference train side by side, one thread each.
for seed in ${seeds//,/ }; do
  RAYON_NUM_THREADS=1 MATMUL_NUM_THREADS=1 "$bin" compare --data "$work/train.json" --val-data "$work/val.json" \
    --methods "$methods" --seed "$seed" --json --no-group-by-length "${common[@]}" 2>/dev/null > "$work/ours-$seed.json" &
  for m in ${methods//,/ }; do
    "$python" scripts/reference_train.py --train "$work/train.json" --val "$work/val.json" --method "$m" --seed "$seed" \
      --threads 1 "${common[@]}" 2>/dev/null >> "$work/reference-$seed.jsonl"
  done
  wait
done
python3 - "$work" "$methods" "$seeds" <<'PY'
import json, sys
work, methods, seeds = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
curve = lambda accs: " / ".join(f"{100 * a:5.1f}" for a in accs)
print(f"{'method':<12} {'seed':>4}  {'peft-lab (accuracy after each epoch)':<36}  peft")
for m in methods:
    ours_all, ref_all = [], []
    for s in seeds:
        # Our labels start with the CLI's method name ("lora r8", "prefix 10", "ptuning-v2 10").
        # compare --json: per method its runs in peft's method_comparison shape; one seed per invocation here.
        ours = {r["method"].split()[0]: r["runs"][0] for r in json.load(open(f"{work}/ours-{s}.json"))["methods"]}
        ref = {r["method"]: r for r in map(json.loads, open(f"{work}/reference-{s}.jsonl"))}
        o = [e["valid accuracy"] for e in ours[m]["train_info"]["metrics"] if "valid accuracy" in e]
        r = [e["accuracy"] for e in ref[m]["evaluations"]]
        ours_all.append(o); ref_all.append(r)
        print(f"{m:<12} {s:>4}  {curve(o):<36}  {curve(r)}")
    mean = lambda runs: [sum(col) / len(col) for col in zip(*runs)]
    print(f"{m:<12} {'mean':>4}  {curve(mean(ours_all)):<36}  {curve(mean(ref_all))}")
PY
