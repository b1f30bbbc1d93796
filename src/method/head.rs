//! Head-only baseline (linear probe): the pretrained encoder is frozen, only the classifier trains.

use super::{AttachContext, Method, MethodError, NamedTensor};
use crate::method::SequenceClassifier;
use crate::model::{BertConfig, Checkpoint, LoadError};

pub struct Head;

impl Method for Head {
    fn attach(&self, model: SequenceClassifier, _ctx: &AttachContext) -> Result<SequenceClassifier, MethodError> {
        Ok(model.freeze_base())
    }

    fn adapter_tensors(&self, model: &SequenceClassifier) -> Vec<NamedTensor> {
        model.classifier_tensors("classifier")
    }

    fn load(&self, model: SequenceClassifier, adapter: &Checkpoint) -> Result<SequenceClassifier, LoadError> {
        model.load_classifier(adapter, "classifier")
    }

    fn peft_json(&self, _cfg: &BertConfig) -> serde_json::Value {
        serde_json::json!({ "peft_type": null, "peft_lab_method": "head" })
    }
}
