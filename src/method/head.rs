//! Head-only baseline (linear probe): the pretrained encoder is frozen, only the classifier trains.

use serde::{Deserialize, Serialize};

use super::{AttachContext, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, Site};
use crate::method::SequenceClassifier;
use crate::model::{BertConfig, Checkpoint, HEAD, LoadError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head;

impl Method for Head {
    fn attach(&self, model: SequenceClassifier, _ctx: &AttachContext) -> Result<SequenceClassifier, MethodError> {
        Ok(model.freeze_base())
    }

    fn adapter_tensors(&self, model: &SequenceClassifier) -> Vec<NamedTensor> {
        model.classifier_tensors(HEAD)
    }

    fn load(&self, model: SequenceClassifier, adapter: &Checkpoint) -> Result<SequenceClassifier, LoadError> {
        model.load_classifier(adapter, HEAD)
    }

    fn peft_json(&self, _cfg: &BertConfig) -> serde_json::Value {
        serde_json::json!({ "peft_type": null, "peft_lab_method": "head" })
    }

    fn key(&self) -> &'static str {
        "head"
    }

    fn default_learning_rate(&self) -> f64 {
        5e-3
    }

    fn cards() -> Vec<CatalogEntry> {
        use Site::*;
        vec![CatalogEntry {
            key: "head",
            title: "Head only",
            description: "Baseline: only the classification head trains on top of the frozen encoder.",
            explanation: Explanation {
                principle: "A linear probe: the pretrained features are used as they are.",
                frozen: "The whole encoder.",
                inference: "None.",
                sites: &[Head],
            },
            config: MethodConfig::Head(Self),
        }]
    }
}
