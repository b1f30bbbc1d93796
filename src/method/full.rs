//! Full fine-tuning baseline: every weight of the encoder and the head trains.

use serde::{Deserialize, Serialize};

use super::{AttachContext, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, Site};
use crate::method::SequenceClassifier;
use crate::model::{BertConfig, Checkpoint, HEAD, LoadError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Full;

impl Method for Full {
    fn attach(&self, model: SequenceClassifier, _ctx: &AttachContext) -> Result<SequenceClassifier, MethodError> {
        Ok(model)
    }

    /// The whole model under `BertForSequenceClassification`'s keys (`bert.*`, `classifier.*`).
    fn adapter_tensors(&self, model: &SequenceClassifier) -> Vec<NamedTensor> {
        let mut out = model.encoder_tensors();
        out.extend(model.classifier_tensors(HEAD));
        out
    }

    fn load(&self, model: SequenceClassifier, adapter: &Checkpoint) -> Result<SequenceClassifier, LoadError> {
        model.load_encoder(adapter)?.load_classifier(adapter, HEAD)
    }

    fn peft_json(&self, _cfg: &BertConfig) -> serde_json::Value {
        serde_json::json!({ "peft_type": null, "peft_lab_method": "full" })
    }

    fn key(&self) -> &'static str {
        "full"
    }

    fn default_learning_rate(&self) -> f64 {
        5e-5
    }

    fn cards() -> Vec<CatalogEntry> {
        use Site::*;
        vec![CatalogEntry {
            key: "full",
            title: "Full fine-tuning",
            description: "Baseline: every weight of the model trains.",
            explanation: Explanation {
                principle: "Every weight is updated; the reference point for accuracy, and the most memory \
                                (gradients and optimizer state for every weight).",
                frozen: "Nothing.",
                inference: "None, but each task needs its own full copy of the model.",
                sites: &[AllWeights, Head],
            },
            config: MethodConfig::Full(Self),
        }]
    }
}
