"""The reference side of peft-lab's comparisons: the same model, method settings and learning rates, built with
transformers + peft (AdapterHub `adapters` for the bottleneck adapters). Shared by bench_reference.py and
reference_train.py."""
import dataclasses
import json

import torch
from transformers import AutoModelForSequenceClassification
from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType, get_peft_model

# peft-lab's MethodConfig::default_learning_rate.
LEARNING_RATES = {"lora": 1e-3, "prefix": 1e-3, "ptuning-v2": 1e-2, "head": 5e-3, "full": 5e-5, "dora": 1e-3,
                  "ptuning-mlp": 3e-2, "ptuning-lstm": 1e-2, "prompt": 1e-1, "ia3": 5e-3, "houlsby": 1e-3,
                  "pfeiffer": 1e-3, "bitfit": 1e-3}
METHODS = list(LEARNING_RATES)


def parse_settings(pairs):
    """`KEY=VALUE` strings, as peft-lab's `--set` takes them, to a dict: JSON values where they parse, comma lists
    for target modules, text otherwise."""
    out = {}
    for pair in pairs or []:
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value.split(",") if key.endswith("modules") else value
    return out


def make_model(model_dir, method, num_labels, settings=None):
    """The classifier with `method` attached as peft-lab's defaults define it, with those of `settings` on top that
    the method's config class has (as peft-lab's `--set` applies a key to every method that has it); returns
    (model, trainable params)."""
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=num_labels)

    def build(config_class, **defaults):
        fields = {f.name for f in dataclasses.fields(config_class)}
        return config_class(**{**defaults, **{k: v for k, v in (settings or {}).items() if k in fields}})

    if method in ("lora", "dora"):
        model = get_peft_model(model, build(LoraConfig, task_type=TaskType.SEQ_CLS, r=8, lora_alpha=8, target_modules=["query", "value"], use_dora=method == "dora"))
    elif method in ("prefix", "ptuning-v2"):
        model = get_peft_model(model, build(PrefixTuningConfig, task_type=TaskType.SEQ_CLS, num_virtual_tokens=10, prefix_projection=method == "prefix"))
    elif method in ("ptuning-mlp", "ptuning-lstm"):
        model = get_peft_model(model, build(PromptEncoderConfig, task_type=TaskType.SEQ_CLS, num_virtual_tokens=10, encoder_reparameterization_type=method[len("ptuning-"):].upper()))
    elif method == "prompt":
        model = get_peft_model(model, build(PromptTuningConfig, task_type=TaskType.SEQ_CLS, num_virtual_tokens=10))
    elif method == "ia3":
        model = get_peft_model(model, build(IA3Config, task_type=TaskType.SEQ_CLS))
    elif method in ("houlsby", "pfeiffer"):
        import adapters

        adapters.init(model)
        config = adapters.DoubleSeqBnConfig if method == "houlsby" else adapters.SeqBnConfig
        model.add_adapter("bottleneck", config=build(config, reduction_factor=16))
        model.train_adapter("bottleneck")
        model.classifier.requires_grad_(True)
    elif method in ("head", "bitfit"):
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith("classifier") or (method == "bitfit" and name.endswith(".bias"))
    return model, [p for p in model.parameters() if p.requires_grad]


def is_decoder(model_dir):
    """A folder holding a GGUF file, or a config.json of a Llama or GPT-2 decoder (as peft-lab decides)."""
    import os

    if any(f.lower().endswith(".gguf") for f in os.listdir(model_dir)) and not os.path.exists(
            os.path.join(model_dir, "config.json")):
        return True
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f).get("model_type") in ("llama", "gpt2")


def make_decoder(model_dir, method):
    """The causal LM (from its GGUF file where the folder holds one, de-quantised to f32 as peft-lab does) with
    `method` attached as peft-lab's defaults define it; returns (model, trainable params)."""
    import os

    from transformers import AutoModelForCausalLM

    ggufs = [f for f in os.listdir(model_dir) if f.lower().endswith(".gguf")]
    extra = {"gguf_file": ggufs[0]} if ggufs and not os.path.exists(os.path.join(model_dir, "config.json")) else {}
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32, **extra)
    if method == "lora":
        model = get_peft_model(model, LoraConfig(task_type=TaskType.CAUSAL_LM, r=8, lora_alpha=8))
    elif method in ("prefix", "ptuning-v2"):
        model = get_peft_model(model, PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=10,
                                                         prefix_projection=method == "prefix"))
    elif method == "full":
        pass
    else:
        raise SystemExit(f"the decoder reference has lora, prefix, ptuning-v2 and full, not {method}")
    return model, [p for p in model.parameters() if p.requires_grad]


def adamw(params, lr):
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01, eps=1e-8)
