"""The generation benchmark's reference: transformers' greedy generate() on the same decoder and prompt, with or
without its key/value cache, at a given thread count. Prints one JSON line: new tokens and tokens per second.
Run by scripts/bench.sh --smollm2; needs torch and transformers (with gguf for a GGUF folder)."""
import argparse, json, os, time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--prompt", required=True)
p.add_argument("--new-tokens", type=int, default=64)
p.add_argument("--no-cache", action="store_true")
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)
ggufs = [f for f in os.listdir(a.model) if f.lower().endswith(".gguf")]
extra = {"gguf_file": ggufs[0]} if ggufs and not os.path.exists(os.path.join(a.model, "config.json")) else {}
tokenizer = AutoTokenizer.from_pretrained(a.model, **extra)
model = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32, **extra).eval()
ids = tokenizer(a.prompt, add_special_tokens=False, return_tensors="pt").input_ids
start = time.perf_counter()
with torch.no_grad():
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=a.new_tokens, do_sample=False,
                         use_cache=not a.no_cache, pad_token_id=2, eos_token_id=2)
seconds = time.perf_counter() - start
new = out.shape[1] - ids.shape[1]
print(json.dumps({"implementation": "transformers", "new_tokens": new, "seconds": seconds,
                  "tokens_per_second": new / seconds, "cache": not a.no_cache}))
