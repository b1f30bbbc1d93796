#!/usr/bin/env python3
"""Loads a decoder adapter folder written by `peft-lab train` into Python's peft and continues a prompt greedily, so
that the same prompt through `peft-lab generate --adapter` can be compared token for token; also prints how far the
adapter moved the base model's logits (a loaded adapter that changed nothing would agree trivially).

    /work/venv-ref/bin/python scripts/check-peft-decoder.py ADAPTER_DIR "prompt text" [new tokens]

The base model is the embedded SmolLM2 GGUF (public/models/SmolLM2-135M-Instruct), read by transformers as the
engine reads it (de-quantised with gguf-py). Needs torch, transformers 4.57 and peft 0.21 (the reference venv).
"""

import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402
from peft import PeftModel  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()
torch.set_num_threads(2)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODEL_DIR = os.path.join(ROOT, "public/models/SmolLM2-135M-Instruct")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def main():
    adapter, prompt = sys.argv[1], sys.argv[2]
    new_tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF)
    base = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=GGUF, torch_dtype=torch.float32).eval()
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
    mask = torch.ones_like(ids)
    with torch.no_grad():
        base_logits = base(input_ids=ids, attention_mask=mask).logits
    model = PeftModel.from_pretrained(base, adapter).eval()
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
        # pad 2 and the mask given: transformers' GGUF tokenizer reports <|im_start|> (1) as its end token.
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False,
                             pad_token_id=2, eos_token_id=2)
    continuation = out[0, ids.shape[1]:].tolist()
    print(json.dumps({
        "prompt_ids": ids[0].tolist(),
        "continuation_ids": continuation,
        "continuation": tokenizer.decode(continuation, skip_special_tokens=True),
        "adapter_moved_logits_by": (logits - base_logits).abs().max().item(),
    }, indent=1))


if __name__ == "__main__":
    main()
