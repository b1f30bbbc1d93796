//! Full fine-tuning baseline: every weight of the encoder and the head trains.

use serde::{Deserialize, Serialize};

use super::{
    AttachContext, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, SidePaths, Site, Tuner,
    TunableModel,
};
use crate::model::{Checkpoint, LoadError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Full;

impl<M: TunableModel<SidePaths>> Tuner<M> for Full {
    fn attach(&self, model: M, _ctx: &AttachContext) -> Result<M, MethodError> {
        Ok(model)
    }

    /// The whole model under transformers' keys (`bert.*` and `classifier.*` of `BertForSequenceClassification`,
    /// `model.*` of `LlamaForCausalLM`).
    fn adapter_tensors(&self, model: &M) -> Vec<NamedTensor> {
        let mut out = model.base_tensors();
        out.extend(model.head_tensors(""));
        out
    }

    fn load(&self, model: M, adapter: &Checkpoint) -> Result<M, LoadError> {
        model.load_base(adapter)?.load_head(adapter, "")
    }

    fn peft_json(&self, _model: &M) -> serde_json::Value {
        serde_json::json!({ "peft_type": null, "peft_lab_method": "full" })
    }
}

impl Method for Full {
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
