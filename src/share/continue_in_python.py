"""Continue a peft-lab run in Python: the same base model, data format, method and hyper-parameters, trained with
transformers + peft (AdapterHub `adapters` for bottleneck adapters). Written by peft-lab's "Continue in Python".

    pip install torch transformers peft accelerate           # plus `adapters` for Houlsby/Pfeiffer
    accelerate launch train_peft.py --data my_data.csv       # one GPU or many (see `accelerate config`)
    python train_peft.py --data my_data.csv                  # or without accelerate's launcher

Settings come from peft_lab_run.json beside this script; command-line flags override the data file, its columns,
the model and the output folder. The optimiser and schedule are peft-lab's: AdamW (weight decay, eps 1e-8), linear
warm-up then linear decay, gradient clipping, evaluation after each epoch. What is saved in --output-dir: for peft
methods the adapter (save_pretrained: adapter_config.json + adapter_model.safetensors), which peft-lab's page and CLI
load back with peft_lab.json (label names); for Houlsby/Pfeiffer AdapterHub's save_adapter folder; for BitFit,
head-only and full fine-tuning the whole model.
"""
import argparse
import csv
import json
import math
import os
import random

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup


def read_rows(path):
    """Rows of a CSV, TSV, JSON Lines or JSON-array file as dicts (the formats peft-lab reads)."""
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    lower = path.lower()
    start = text.lstrip()[:1]
    if lower.endswith((".jsonl", ".ndjson")) or (start == "{" and not lower.endswith(".json")):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if lower.endswith(".json") or start == "[":
        rows = json.loads(text)
        return rows if isinstance(rows, list) else [rows]
    delimiter = "\t" if lower.endswith((".tsv", ".tab")) else ","
    return list(csv.DictReader(text.splitlines(), delimiter=delimiter))


def cell(value):
    """A cell as peft-lab reads it: strings as they are, other JSON values as their JSON text, null as empty."""
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else json.dumps(value)


def examples(rows, text_column, label_column, labels, path):
    out = []
    for i, row in enumerate(rows):
        if not any(cell(v) for v in row.values()):
            continue  # a blank record (a trailing {} or a row of commas), as peft-lab skips it
        text, label = cell(row.get(text_column)), cell(row.get(label_column))
        if not text or not label:
            raise SystemExit(f"{path}: row {i + 1} has an empty '{text_column}' or '{label_column}' "
                             f"(pick the columns with --text-column / --label-column)")
        if label not in labels:
            raise SystemExit(f"{path}: row {i + 1} has label {label!r}, not one of the run's labels {labels}")
        out.append((text, labels.index(label)))
    return out


def split(data, val_fraction, seed):
    """A stratified hold-out of val_fraction of each class (peft-lab splits the same way, with its own RNG)."""
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted({y for _, y in data}):
        rows = [r for r in data if r[1] == label]
        rng.shuffle(rows)
        cut = round(len(rows) * val_fraction)
        val += rows[:cut]
        train += rows[cut:]
    return train, val


def attach_method(model, method):
    """The run's method on `model`; `method` is the adapter_config.json peft-lab exported."""
    kind = method.get("peft_type")
    if kind:
        from peft import get_peft_config, get_peft_model

        config = dict(method, inference_mode=False)
        return get_peft_model(model, get_peft_config(config))
    kind = method["peft_lab_method"]
    if kind == "bottleneck":
        import adapters

        adapters.init(model)
        config = {k: v for k, v in method["config"].items() if k != "architecture"}  # BnConfig's own fields
        model.add_adapter(method.get("name", "bottleneck"), config=adapters.BnConfig(**config))
        model.train_adapter(method.get("name", "bottleneck"))
        model.classifier.requires_grad_(True)
        return model
    for name, p in model.named_parameters():
        p.requires_grad = (kind == "full" or name.startswith("classifier")
                           or (kind == "bitfit" and name.endswith(".bias")))
    return model


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=os.path.join(here, "peft_lab_run.json"))
    p.add_argument("--data", help="training file (CSV, TSV, JSONL, JSON); default: the run's file name")
    p.add_argument("--val-data", help="a separate validation file; default: a stratified split of --data")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--model", help="base model (Hub id or folder); default: the run's")
    p.add_argument("--output-dir", default="peft-lab-output")
    a = p.parse_args()
    with open(a.config) as f:
        run = json.load(f)
    data, training, labels = run["data"], run["training"], run["labels"]
    text_column = a.text_column or data["text_column"]
    label_column = a.label_column or data["label_column"]
    data_path = a.data or data["file"]

    # The schedule below counts optimiser steps per process; by default a prepared scheduler would advance once per
    # process on every step and finish early on several GPUs.
    accelerator = Accelerator(step_scheduler_with_optimizer=False)
    random.seed(training["seed"])
    torch.manual_seed(training["seed"])
    rows = examples(read_rows(data_path), text_column, label_column, labels, data_path)
    if a.val_data:
        train, val = rows, examples(read_rows(a.val_data), text_column, label_column, labels, a.val_data)
    else:
        train, val = split(rows, data["val_fraction"], training["seed"])

    model_name = a.model or run["base_model"]
    tokenizer = AutoTokenizer.from_pretrained(model_name)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_name, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)})
    model = attach_method(model, run["method"])
    params = [p for p in model.parameters() if p.requires_grad]
    accelerator.print(f"{run['method_label']}: {sum(p.numel() for p in params):,} trainable parameters; "
                      f"{accelerator.num_processes} process(es), {accelerator.distributed_type}, {accelerator.device}")

    def collate(batch):
        enc = tokenizer([t for t, _ in batch], padding=True, truncation=True,
                        max_length=training["max_length"], return_tensors="pt")
        enc["labels"] = torch.tensor([y for _, y in batch])
        return enc

    generator = torch.Generator().manual_seed(training["seed"])
    train_loader = DataLoader(train, batch_size=training["batch_size"], shuffle=True, collate_fn=collate,
                              generator=generator)
    val_loader = DataLoader(val, batch_size=training["batch_size"], collate_fn=collate)
    optimizer = torch.optim.AdamW(params, lr=training["learning_rate"], weight_decay=training["weight_decay"],
                                  eps=1e-8)
    steps_per_epoch = math.ceil(len(train_loader) / accelerator.num_processes)
    total = training["max_steps"] or steps_per_epoch * training["epochs"]
    epochs = math.ceil(total / steps_per_epoch)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(training["warmup_ratio"] * total), total)
    model, optimizer, train_loader, val_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, val_loader, scheduler)

    step = 0
    for epoch in range(epochs):
        model.train()
        for batch in train_loader:
            loss = model(**batch).loss
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), training["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if step % 10 == 0:
                accelerator.print(f"epoch {epoch + 1} step {step}/{total} loss {loss.item():.4f}")
            if step >= total:
                break
        if val:
            model.eval()
            correct = seen = 0
            with torch.no_grad():
                for batch in val_loader:
                    predictions = model(**batch).logits.argmax(-1)
                    predictions, gold = accelerator.gather_for_metrics((predictions, batch["labels"]))
                    correct += (predictions == gold).sum().item()
                    seen += gold.numel()
            accelerator.print(f"epoch {epoch + 1}: validation accuracy {100 * correct / seen:.2f}% ({seen} examples)")
        if step >= total:
            break

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(model)
        if run["method"].get("peft_lab_method") == "bottleneck":
            model.save_adapter(a.output_dir, run["method"].get("name", "bottleneck"), with_head=True)
        else:
            model.save_pretrained(a.output_dir)
        with open(os.path.join(a.output_dir, "peft_lab.json"), "w") as f:
            json.dump(run["peft_lab"], f, indent=2)  # label names and method settings, for peft-lab
        tokenizer.save_pretrained(a.output_dir)
        accelerator.print(f"saved to {a.output_dir}")


if __name__ == "__main__":
    main()
