"""Reference accuracy: train the same model, data and hyper-parameters with transformers + peft.

  python scripts/reference_train.py --model public/models/all-MiniLM-L6-v2 --train train.json --val val.json \
      --method lora --epochs 3 --batch-size 16 --max-length 64

Prints one JSON line: method, learning_rate, val_loss, accuracy, macro_f1 after the last epoch, and `evaluations`
(the same after every epoch). `--set KEY=VALUE` (repeatable) changes a method setting by peft's name, as peft-lab's
`--set` does. Data files are JSON arrays of {"text", "class"}
(or "label") objects; the optimiser and schedule mirror peft-lab's: AdamW (weight decay 0.01, eps 1e-8), linear
warmup over 6% of the steps then linear decay, gradient clipping at norm 1, per-method default learning rates.
"""
import argparse, json, math, random

import torch
from transformers import AutoTokenizer, get_linear_schedule_with_warmup

from peft_reference import LEARNING_RATES, METHODS, adamw, make_model, parse_settings

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--train", required=True)
p.add_argument("--val", required=True)
p.add_argument("--method", required=True, choices=METHODS)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--batch-size", type=int, default=16)
p.add_argument("--max-length", type=int, default=64)
p.add_argument("--lr", type=float)
p.add_argument("--seed", type=int, default=42)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--set", action="append", dest="settings", metavar="KEY=VALUE")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
random.seed(a.seed)

def load(path):
    rows = [r for r in json.load(open(path)) if r.get("text")]
    return [(r["text"], str(r.get("class", r.get("label")))) for r in rows]

train, val = load(a.train), load(a.val)
labels = sorted({l for _, l in train}, key=lambda l: int(l) if l.lstrip("-").isdigit() else l)
tok = AutoTokenizer.from_pretrained(a.model)
lr = a.lr or LEARNING_RATES[a.method]
model, params = make_model(a.model, a.method, len(labels), parse_settings(a.settings))
optim = adamw(params, lr)
steps = math.ceil(len(train) / a.batch_size) * a.epochs
sched = get_linear_schedule_with_warmup(optim, math.ceil(0.06 * steps), steps)

def encode(batch):
    enc = tok([t for t, _ in batch], padding=True, truncation=True, max_length=a.max_length, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"], torch.tensor([labels.index(l) for _, l in batch])

def evaluate():
    model.eval()
    losses, preds, gold = [], [], []
    with torch.no_grad():
        for i in range(0, len(val), a.batch_size):
            ids, mask, y = encode(val[i:i + a.batch_size])
            logits = model(input_ids=ids, attention_mask=mask).logits
            losses.append(torch.nn.functional.cross_entropy(logits, y, reduction="sum").item())
            preds += logits.argmax(-1).tolist(); gold += y.tolist()
    f1s = []
    for c in sorted(set(gold) | set(preds)):
        tp = sum(p_ == g == c for p_, g in zip(preds, gold))
        fp = sum(p_ == c != g for p_, g in zip(preds, gold))
        fn = sum(g == c != p_ for p_, g in zip(preds, gold))
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return {"val_loss": sum(losses) / len(val), "accuracy": sum(p_ == g for p_, g in zip(preds, gold)) / len(val),
            "macro_f1": sum(f1s) / len(f1s)}

evaluations = []
for epoch in range(a.epochs):
    model.train()
    order = list(range(len(train)))
    random.shuffle(order)
    for i in range(0, len(order), a.batch_size):
        ids, mask, y = encode([train[j] for j in order[i:i + a.batch_size]])
        loss = model(input_ids=ids, attention_mask=mask, labels=y).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step(); sched.step(); optim.zero_grad()
    evaluations.append({"epoch": epoch + 1, **evaluate()})

print(json.dumps({"method": a.method, "learning_rate": lr, **evaluations[-1], "evaluations": evaluations}))
