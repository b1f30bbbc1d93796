#!/usr/bin/env bash
# Training throughput and peak memory on MiniLM, batch 16 x seq 64, CPU, one method per process (so peak memory
# is per method), for peft-lab and — when Python has torch, transformers and peft — the PyTorch + peft reference
# on the same synthetic batches and the same number of threads, with the ratio; once per thread count. Usage:
#   bash scripts/bench.sh [methods (lora,prefix,ptuning-v2,full) | all] [thread counts ("1 2")]
#   bash scripts/bench.sh --wgpu [methods]
#   bash scripts/bench.sh --smollm2 [methods (lora,prefix)] [thread counts ("1 2")]
# PYTHON selects the reference interpreter (default python3). --wgpu times the methods on native wgpu instead (a GPU,
# or Mesa's lavapipe on the CPU): seconds per step, the first step (kernel compilation) and kernel launches per step.
# --smollm2 times the embedded decoder instead (SmolLM2-135M-Instruct, its Q4_1 GGUF de-quantised to f32 on both
# sides) on batches of 4 x 128 tokens, every token learned, then greedy generation of 64 tokens with and without the
# key/value cache, against transformers' generate().
set -euo pipefail
source "$(dirname "$0")/env.sh"
wgpu=no
smollm2=no
[ "${1:-}" = --wgpu ] && { wgpu=yes; shift; }
[ "${1:-}" = --smollm2 ] && { smollm2=yes; shift; }
batch=(--batch-size 16 --seq-len 64)
default_methods=lora,prefix,ptuning-v2,full
if [ "$smollm2" = yes ]; then
  model=public/models/SmolLM2-135M-Instruct
  batch=(--batch-size 4 --seq-len 128)
  default_methods=lora,prefix
fi
methods="${1:-$default_methods}"
[ "$methods" = all ] && methods=$("$bin" methods --keys)
if [ "$wgpu" = yes ]; then
  printf '%-13s %10s %12s %18s\n' method "s/step" "first step" "launches/step"
  for m in ${methods//,/ }; do
    "$bin" bench --backend wgpu --model "$model" --method "$m" --steps "${STEPS:-2}" 2>/dev/null | tail -1 |
      python3 -c 'import json, sys; r = json.load(sys.stdin); print("%-13s %10.2f %12.2f %18.0f" % (sys.argv[1], r["seconds_per_step"], r["first_step_seconds"], r["kernel_launches_per_step"]))' "$m"
  done
  exit
fi
thread_counts="${2:-1 2}"
steps="${STEPS:-5}"
reference=yes
"$python" -c "import torch, transformers, peft" 2>/dev/null || { reference=no; echo "bench: no torch/transformers/peft in $python: reference skipped" >&2; }

printf '%-13s %7s %12s %12s %8s %14s %14s %9s\n' method threads "peft-lab ex/s" "ref ex/s" ratio "peft-lab peak" "ref peak" "mem ratio"
for threads in $thread_counts; do for m in ${methods//,/ }; do
  ours=$("$bin" --threads "$threads" bench --model "$model" --method "$m" "${batch[@]}" --steps "$steps" 2>/dev/null | tail -1)
  if [ "$reference" = yes ]; then
    ref=$(OMP_NUM_THREADS=$threads "$python" scripts/bench_reference.py --model "$model" --method "$m" "${batch[@]}" --steps "$steps" --threads "$threads" 2>/dev/null | tail -1)
  else
    ref='{}'
  fi
  python3 - "$m" "$threads" "$ours" "$ref" <<'PY'
import json, sys
m, threads, ours, ref = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
mib = lambda b: f"{b / 2**20:.0f} MiB" if b else "n/a"
o, r = ours["examples_per_second"], ref.get("examples_per_second")
om, rm = ours.get("peak_memory_bytes"), ref.get("peak_memory_bytes")
print(f"{m:<13} {threads:>7} {o:12.2f} {r if r is None else format(r, '12.2f'):>12} {'n/a' if not r else format(o / r, '7.2f') + 'x':>8} "
      f"{mib(om):>14} {mib(rm):>14} {'n/a' if not (om and rm) else format(om / rm, '8.2f') + 'x':>9}")
PY
done; done

[ "$smollm2" = yes ] || exit 0
prompt="The history of the Roman Empire begins"
echo
printf '%-9s %7s %16s %14s %8s\n' cache threads "peft-lab tok/s" "ref tok/s" ratio
for threads in $thread_counts; do for cache in yes no; do
  flag=(); [ "$cache" = no ] && flag=(--no-cache)
  ours=$("$bin" --threads "$threads" generate --model "$model" --prompt "$prompt" --max-new-tokens 64 "${flag[@]}" 2>&1 >/dev/null |
    sed -n 's/.*(\([0-9.]*\) tokens\/s).*/\1/p')
  ref=n/a
  if [ "$reference" = yes ]; then
    ref=$(OMP_NUM_THREADS=$threads "$python" scripts/generate_reference.py --model "$model" --prompt "$prompt" --new-tokens 64 --threads "$threads" "${flag[@]}" 2>/dev/null | tail -1 |
      python3 -c 'import json, sys; print("%.1f" % json.load(sys.stdin)["tokens_per_second"])')
  fi
  python3 -c 'import sys; o, r = sys.argv[3], sys.argv[4]; print("%-9s %7s %16s %14s %8s" % (sys.argv[1], sys.argv[2], o, r, "n/a" if r == "n/a" else "%.2fx" % (float(o) / float(r))))' "$cache" "$threads" "$ours" "$ref"
done; done
