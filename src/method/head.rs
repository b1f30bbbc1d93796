//! Head-only baseline (linear probe): the pretrained encoder is frozen, only the classifier trains.

use serde::{Deserialize, Serialize};

use super::{
    AttachContext, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, SidePaths, Site, Tuner,
    TunableModel,
};
use crate::model::{Checkpoint, LoadError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head;

impl<M: TunableModel<SidePaths>> Tuner<M> for Head {
    fn attach(&self, model: M, _ctx: &AttachContext) -> Result<M, MethodError> {
        if model.head().is_none() {
            return Err(MethodError::Invalid(
                "the head-only baseline trains a classification head, and this model has none of its own (a \
                 language model's head is pretrained); choose another method"
                    .into(),
            ));
        }
        Ok(model.freeze_base())
    }

    fn adapter_tensors(&self, model: &M) -> Vec<NamedTensor> {
        model.head_tensors("")
    }

    fn load(&self, model: M, adapter: &Checkpoint) -> Result<M, LoadError> {
        model.load_head(adapter, "")
    }

    fn peft_json(&self, _model: &M) -> serde_json::Value {
        serde_json::json!({ "peft_type": null, "peft_lab_method": "head" })
    }
}

impl Method for Head {
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
