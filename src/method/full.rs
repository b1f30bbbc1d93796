//! Full fine-tuning baseline: every weight of the encoder and the head trains.

use super::{AttachContext, Method, MethodError, NamedTensor};
use crate::method::SequenceClassifier;
use crate::model::{Bert, BertConfig, Checkpoint, LoadError};

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

    fn load(&self, mut model: SequenceClassifier, adapter: &Checkpoint) -> Result<SequenceClassifier, LoadError> {
        let ckpt = adapter.reparse()?.with_prefix_if_present("bert.", crate::model::bert::WORD_EMBEDDINGS);
        let device = model.classifier.weight.device();
        model.bert = Bert::load(&ckpt, &model.config, &device)?;
        model.load_classifier(adapter, "classifier")
    }

    fn peft_json(&self, _cfg: &BertConfig) -> serde_json::Value {
        serde_json::json!({ "peft_type": null, "peft_lab_method": "full" })
    }
}
