//! BitFit (Ben Zaken et al., 2022): only the bias terms of the pretrained model train (every projection's, every
//! LayerNorm's, BERT's pooler's), plus a classifier's head. Nothing is added, so inference costs what the base costs.
//! Saved as the changed part of the transformers state dict (`bert.<path>.bias` and `classifier.*` of
//! `BertForSequenceClassification`, `transformer.<path>.bias` of GPT-2), which `model.load_state_dict(tensors,
//! strict=False)` accepts. Llama-family models have no biases: BitFit is refused there.

use burn::module::Param;

use serde::{Deserialize, Serialize};

use super::{
    AttachContext, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, SidePaths, Site, Tuner,
    TunableModel,
};
use crate::model::{Checkpoint, LoadError, Weights};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BitFit;

impl<M: TunableModel<SidePaths>> Tuner<M> for BitFit {
    fn attach(&self, model: M, _ctx: &AttachContext) -> Result<M, MethodError> {
        let mut model = model.freeze_base();
        let biases = model.biases_mut();
        if biases.is_empty() {
            return Err(MethodError::Invalid(
                "BitFit trains the bias terms, and this model has none (Llama-family models are built without \
                 biases); choose another method"
                    .into(),
            ));
        }
        for (_, bias) in biases {
            *bias = Param::from_tensor(bias.val()).set_require_grad(true);
        }
        Ok(model)
    }

    fn adapter_tensors(&self, model: &M) -> Vec<NamedTensor> {
        let mut out: Vec<NamedTensor> =
            model.base_tensors().into_iter().filter(|t| t.name.ends_with(".bias")).collect();
        out.extend(model.head_tensors(""));
        out
    }

    fn load(&self, mut model: M, adapter: &Checkpoint) -> Result<M, LoadError> {
        for (key, bias) in model.biases_mut() {
            *bias = Param::from_tensor(adapter.tensor(&key, bias.dims(), &bias.device())?);
        }
        model.load_head(adapter, "")
    }

    fn peft_json(&self, _model: &M) -> serde_json::Value {
        serde_json::json!({ "peft_type": null, "peft_lab_method": "bitfit", "trainable": "every bias + classifier" })
    }
}

impl Method for BitFit {
    fn key(&self) -> &'static str {
        "bitfit"
    }

    fn default_learning_rate(&self) -> f64 {
        1e-3
    }

    fn cards() -> Vec<CatalogEntry> {
        use Site::*;
        vec![CatalogEntry {
            key: "bitfit",
            title: "BitFit",
            description: "Only the bias terms of the encoder train.",
            explanation: Explanation {
                principle: "Every weight matrix stays as pretrained; the bias vectors of all projections, \
                                LayerNorms and the pooler train. Nothing is added.",
                frozen: "Every weight matrix and the embeddings.",
                inference: "None: the model keeps its shape.",
                sites: &[Biases, Head],
            },
            config: MethodConfig::BitFit(Self),
        }]
    }
}
