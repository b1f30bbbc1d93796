"""The reference side of peft-lab's comparisons: the same model, method settings and learning rates, built with
transformers + peft. Shared by bench_reference.py and reference_train.py."""
import torch
from transformers import AutoModelForSequenceClassification
from peft import LoraConfig, PrefixTuningConfig, TaskType, get_peft_model

# peft-lab's MethodConfig::default_learning_rate.
LEARNING_RATES = {"lora": 1e-3, "prefix": 1e-3, "ptuning-v2": 1e-2, "head": 5e-3, "full": 5e-5}
METHODS = list(LEARNING_RATES)


def make_model(model_dir, method, num_labels):
    """The classifier with `method` attached as peft-lab's defaults define it; returns (model, trainable params)."""
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=num_labels)
    if method == "lora":
        model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=8, target_modules=["query", "value"]))
    elif method in ("prefix", "ptuning-v2"):
        model = get_peft_model(model, PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=10, prefix_projection=method == "prefix"))
    elif method == "head":
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith("classifier")
    return model, [p for p in model.parameters() if p.requires_grad]


def adamw(params, lr):
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01, eps=1e-8)
