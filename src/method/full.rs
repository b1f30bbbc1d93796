//! Full fine-tuning baseline: every weight of the encoder and the head trains.

use super::{AttachContext, Method, MethodError, NamedTensor};
use crate::model::{BertConfig, SequenceClassifier};

pub struct Full;

impl Method for Full {
    fn attach(&self, model: SequenceClassifier, _ctx: &AttachContext) -> Result<SequenceClassifier, MethodError> {
        Ok(model)
    }

    /// The whole model under `BertForSequenceClassification`'s keys (`bert.*`, `classifier.*`).
    fn adapter_tensors(&self, model: &SequenceClassifier) -> Vec<NamedTensor> {
        let mut out = model.bert.named_tensors("bert.");
        out.extend(model.classifier_tensors("classifier"));
        out
    }

    fn peft_json(&self, _cfg: &BertConfig) -> serde_json::Value {
        serde_json::json!({ "peft_type": null, "peft_lab_method": "full" })
    }
}
