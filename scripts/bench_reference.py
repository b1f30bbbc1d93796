"""The benchmark's reference: the same training step with PyTorch + transformers + peft, same synthetic batches (for
a decoder, every token of each sequence learned).

Prints one JSON line like `peft-lab bench`. Run by scripts/bench.sh; needs torch, transformers and peft.
"""
import argparse, json, math, resource, time

import torch
from transformers import get_linear_schedule_with_warmup

from peft_reference import LEARNING_RATES, METHODS, adamw, is_decoder, make_decoder, make_model

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--method", required=True, choices=METHODS)
p.add_argument("--batch-size", type=int, default=16)
p.add_argument("--seq-len", type=int, default=64)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(42)

decoder = is_decoder(a.model)
model, params = make_decoder(a.model, a.method) if decoder else make_model(a.model, a.method, 2)
model.train()
optim = adamw(params, LEARNING_RATES[a.method])
total = a.steps + 1
sched = get_linear_schedule_with_warmup(optim, math.ceil(0.06 * total), total)
vocab = model.config.vocab_size

def batch(step):
    ids = []
    for b in range(a.batch_size):
        i = step * a.batch_size + b
        ids.append([101] + [1000 + (i * 7919 + j * 104729) % (vocab - 1000) for j in range(1, a.seq_len - 1)] + [102])
    ids = torch.tensor(ids)
    # A decoder learns every token of the sequence; a classifier, the example's label.
    labels = ids if decoder else torch.tensor([(step * a.batch_size + b) % 2 for b in range(a.batch_size)])
    return ids, torch.ones(a.batch_size, a.seq_len, dtype=torch.long), labels

times = []
for step in range(total):
    ids, mask, labels = batch(step)
    start = time.perf_counter()
    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optim.step(); sched.step(); optim.zero_grad()
    times.append(time.perf_counter() - start)

per_step = sum(times[1:]) / len(times[1:])
print(json.dumps({
    "implementation": "pytorch+peft",
    "method": a.method,
    "batch_size": a.batch_size,
    "seq_len": a.seq_len,
    "steps": a.steps,
    "seconds_per_step": per_step,
    "examples_per_second": a.batch_size / per_step,
    "first_step_seconds": times[0],
    "peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "trainable_params": sum(p_.numel() for p_ in params),
}))
