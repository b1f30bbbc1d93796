#!/usr/bin/env bash
# Validation accuracy of peft-lab beside the transformers + peft reference, same data, hyper-parameters and seeds:
# MiniLM on the Yelp sample sentences (a fixed 800/200 split), $EPOCHS (3) epochs, batch 16, max length $MAX_LENGTH
# (64), each method's default learning rate. Usage: bash scripts/accuracy.sh [methods (lora,prefix,ptuning-v2) | all]
# [seeds (1,2,3)]
# PYTHON selects the reference interpreter (default python3; it needs torch, transformers, peft).
set -euo pipefail
source "$(dirname "$0")/env.sh"
methods="${1:-lora,prefix,ptuning-v2}"
[ "$methods" = all ] && methods=$("$bin" methods --keys)
seeds="${2:-1,2,3}"
work=$(mktemp -d)
python3 - "$work" <<'PY'
import json, random, sys
rows = [r for r in json.load(open("public/data/yelp.json")) if r.get("text")]
random.Random(0).shuffle(rows)
json.dump(rows[:800], open(f"{sys.argv[1]}/train.json", "w"))
json.dump(rows[800:], open(f"{sys.argv[1]}/val.json", "w"))
PY
common=(--model "$model" --epochs "${EPOCHS:-3}" --batch-size 16 --max-length "${MAX_LENGTH:-64}")
# peft-lab and the reference train side by side, one thread each.
for seed in ${seeds//,/ }; do
  RAYON_NUM_THREADS=1 MATMUL_NUM_THREADS=1 "$bin" compare --data "$work/train.json" --val-data "$work/val.json" \
    --methods "$methods" --seed "$seed" --json "${common[@]}" 2>/dev/null > "$work/ours-$seed.json" &
  for m in ${methods//,/ }; do
    "$python" scripts/reference_train.py --train "$work/train.json" --val "$work/val.json" --method "$m" --seed "$seed" \
      --threads 1 "${common[@]}" 2>/dev/null >> "$work/reference-$seed.jsonl"
  done
  wait
done
python3 - "$work" "$methods" "$seeds" <<'PY'
import json, sys
work, methods, seeds = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
print(f"{'method':<12} {'seed':>4} {'peft-lab':>9} {'peft':>9}")
for m in methods:
    ours_all, ref_all = [], []
    for s in seeds:
        # Our labels start with the CLI's method name ("lora r8", "prefix 10", "ptuning-v2 10").
        ours = {r["method"].split()[0]: r for r in json.load(open(f"{work}/ours-{s}.json"))}
        ref = {r["method"]: r for r in map(json.loads, open(f"{work}/reference-{s}.jsonl"))}
        o, r = ours[m]["accuracy"] * 100, ref[m]["accuracy"] * 100
        ours_all.append(o); ref_all.append(r)
        print(f"{m:<12} {s:>4} {o:9.2f} {r:9.2f}")
    print(f"{m:<12} {'mean':>4} {sum(ours_all)/len(ours_all):9.2f} {sum(ref_all)/len(ref_all):9.2f}")
PY
