//! BitFit (Ben Zaken et al., 2022): only the bias terms of the encoder train (every projection's, every
//! LayerNorm's and the pooler's), plus the head. Nothing is added, so inference costs what the base costs.
//! Saved as the changed part of a `BertForSequenceClassification` state dict (`bert.<path>.bias`,
//! `classifier.*`), which `model.load_state_dict(tensors, strict=False)` accepts in transformers.

use burn::module::Param;

use super::{AttachContext, Method, MethodError, NamedTensor};
use crate::model::{BertConfig, Checkpoint, LoadError, SequenceClassifier};

pub struct BitFit;

impl Method for BitFit {
    fn attach(&self, model: SequenceClassifier, _ctx: &AttachContext) -> Result<SequenceClassifier, MethodError> {
        let mut model = model.freeze_base();
        for (_, bias) in model.bert.biases_mut() {
            *bias = Param::from_tensor(bias.val()).set_require_grad(true);
        }
        Ok(model)
    }

    fn adapter_tensors(&self, model: &SequenceClassifier) -> Vec<NamedTensor> {
        let mut out: Vec<NamedTensor> =
            model.bert.named_tensors("bert.").into_iter().filter(|t| t.name.ends_with(".bias")).collect();
        out.extend(model.classifier_tensors("classifier"));
        out
    }

    fn load(&self, mut model: SequenceClassifier, adapter: &Checkpoint) -> Result<SequenceClassifier, LoadError> {
        for (path, bias) in model.bert.biases_mut() {
            let device = bias.device();
            let dims = bias.dims();
            *bias = Param::from_tensor(adapter.tensor(&format!("bert.{path}"), dims, &device)?);
        }
        model.load_classifier(adapter, "classifier")
    }

    fn peft_json(&self, _cfg: &BertConfig) -> serde_json::Value {
        serde_json::json!({ "peft_type": null, "peft_lab_method": "bitfit", "trainable": "every bias + classifier" })
    }
}
