//! BitFit (Ben Zaken et al., 2022): only the bias terms of the encoder train (every projection's, every
//! LayerNorm's and the pooler's), plus the head. Nothing is added, so inference costs what the base costs.
//! Saved as the changed part of a `BertForSequenceClassification` state dict (`bert.<path>.bias`,
//! `classifier.*`), which `model.load_state_dict(tensors, strict=False)` accepts in transformers.

use burn::module::Param;
use burn::tensor::Tensor;

use serde::{Deserialize, Serialize};

use super::{AttachContext, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, Site};
use crate::method::SequenceClassifier;
use crate::model::{BertConfig, Checkpoint, HEAD, LoadError, Weights, Projections};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BitFit;

impl Method for BitFit {
    fn attach(&self, model: SequenceClassifier, _ctx: &AttachContext) -> Result<SequenceClassifier, MethodError> {
        let mut model = model.freeze_base();
        for_each_bias(&mut model, |_, bias| {
            *bias = Param::from_tensor(bias.val()).set_require_grad(true);
            Ok(())
        })
        .expect("setting a flag cannot fail");
        Ok(model)
    }

    fn adapter_tensors(&self, model: &SequenceClassifier) -> Vec<NamedTensor> {
        let mut out: Vec<NamedTensor> =
            model.encoder_tensors().into_iter().filter(|t| t.name.ends_with(".bias")).collect();
        out.extend(model.classifier_tensors(HEAD));
        out
    }

    fn load(&self, mut model: SequenceClassifier, adapter: &Checkpoint) -> Result<SequenceClassifier, LoadError> {
        for_each_bias(&mut model, |key, bias| {
            *bias = Param::from_tensor(adapter.tensor(key, bias.dims(), &bias.device())?);
            Ok(())
        })?;
        model.load_classifier(adapter, HEAD)
    }

    fn peft_json(&self, _cfg: &BertConfig) -> serde_json::Value {
        serde_json::json!({ "peft_type": null, "peft_lab_method": "bitfit", "trainable": "every bias + classifier" })
    }

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

/// Calls `f` with every bias of the encoder (projections, pooler, LayerNorms) and its checkpoint key.
fn for_each_bias(
    model: &mut SequenceClassifier,
    mut f: impl FnMut(&str, &mut Param<Tensor<1>>) -> Result<(), LoadError>,
) -> Result<(), LoadError> {
    for (path, linear) in model.projections_mut() {
        if let Some(bias) = linear.base.bias.as_mut() {
            f(&format!("{path}.bias"), bias)?;
        }
    }
    for (path, norm) in model.layer_norms_mut() {
        f(&format!("{path}.bias"), &mut norm.bias)?;
    }
    Ok(())
}
