//! BitFit (Ben Zaken et al., 2022): only the bias terms of the encoder train (every projection's, every
//! LayerNorm's and the pooler's), plus the head. Nothing is added, so inference costs what the base costs.
//! Saved as the changed part of a `BertForSequenceClassification` state dict (`bert.<path>.bias`,
//! `classifier.*`), which `model.load_state_dict(tensors, strict=False)` accepts in transformers.

use burn::module::Param;
use burn::tensor::Tensor;

use super::{AttachContext, Method, MethodError, NamedTensor};
use crate::method::SequenceClassifier;
use crate::model::{BertConfig, Checkpoint, LoadError};

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
            model.bert.named_tensors("bert.").into_iter().filter(|t| t.name.ends_with(".bias")).collect();
        out.extend(model.classifier_tensors("classifier"));
        out
    }

    fn load(&self, mut model: SequenceClassifier, adapter: &Checkpoint) -> Result<SequenceClassifier, LoadError> {
        for_each_bias(&mut model, |key, bias| {
            *bias = Param::from_tensor(adapter.tensor(&format!("bert.{key}"), bias.dims(), &bias.device())?);
            Ok(())
        })?;
        model.load_classifier(adapter, "classifier")
    }

    fn peft_json(&self, _cfg: &BertConfig) -> serde_json::Value {
        serde_json::json!({ "peft_type": null, "peft_lab_method": "bitfit", "trainable": "every bias + classifier" })
    }
}

/// Calls `f` with every bias of the encoder (projections, pooler, LayerNorms) and its checkpoint key.
fn for_each_bias(
    model: &mut SequenceClassifier,
    mut f: impl FnMut(&str, &mut Param<Tensor<1>>) -> Result<(), LoadError>,
) -> Result<(), LoadError> {
    for (path, linear) in model.bert.tunable_linears_mut() {
        if let Some(bias) = linear.base.bias.as_mut() {
            f(&format!("{path}.bias"), bias)?;
        }
    }
    for (path, norm) in model.bert.layer_norms_mut() {
        f(&format!("{path}.bias"), &mut norm.bias)?;
    }
    Ok(())
}
