//! Bottleneck adapters as AdapterHub's `adapters` library builds them (`BnConfig`): a small down-projection,
//! a non-linearity and an up-projection, inserted with a residual connection where a transformer sub-block
//! closes. Houlsby et al. (2019) put one after the attention and one after the feed-forward block (swish);
//! Pfeiffer et al. (2020) only one after the feed-forward block (ReLU), fed from the block's LayerNorm.
//! Width = hidden size / reduction factor. Only the adapters (and the head) train.
//!
//! With h the sub-block's output after dropout, x its input and LN its pretrained LayerNorm (shared, not
//! copied): Houlsby gives LN(h + up(act(down(h))) + x); Pfeiffer (`original_ln_before`) gives
//! LN(h + up(act(down(LN(h + x)))) + x).

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::{
    AttachContext, Attached, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor,
    SidePaths, Site, Tuner, TunableModel, linear_tensors, load_linear, side, side_mut,
};
use crate::model::norm::LayerNorm;
use crate::model::tunable::{Activation, on_rows};
use crate::model::{Block, Checkpoint, LoadError, SidePath};

/// AdapterHub's `BnConfig` fields that shape the adapter, with its names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BottleneckConfig {
    /// Hidden size divided by this gives the bottleneck width.
    pub reduction_factor: usize,
    /// `relu`, `swish` or `gelu`.
    pub non_linearity: String,
    /// An adapter after the attention block.
    pub mh_adapter: bool,
    /// An adapter after the feed-forward block.
    pub output_adapter: bool,
    /// Feed the adapter LN(h + x) instead of h (Pfeiffer).
    pub original_ln_before: bool,
}

impl BottleneckConfig {
    /// AdapterHub's `DoubleSeqBnConfig`.
    pub fn houlsby() -> Self {
        Self {
            reduction_factor: 16,
            non_linearity: "swish".into(),
            mh_adapter: true,
            output_adapter: true,
            original_ln_before: false,
        }
    }

    /// AdapterHub's `SeqBnConfig`.
    pub fn pfeiffer() -> Self {
        Self {
            reduction_factor: 16,
            non_linearity: "relu".into(),
            mh_adapter: false,
            output_adapter: true,
            original_ln_before: true,
        }
    }

    /// Whether the adapters sit where Houlsby's do (after attention and feed-forward, LayerNorm after).
    fn is_houlsby(&self) -> bool {
        self.mh_adapter && self.output_adapter && !self.original_ln_before
    }

    /// Whether the adapter sits where Pfeiffer's does (after feed-forward only, fed from its LayerNorm).
    fn is_pfeiffer(&self) -> bool {
        !self.mh_adapter && self.output_adapter && self.original_ln_before
    }
}

#[derive(Module, Debug)]
pub struct Bottleneck {
    pub down: Linear,
    pub up: Linear,
    #[module(skip)]
    pub activation: Activation,
    /// AdapterHub's `original_ln_before`: the adapter reads LN(h + x) instead of h.
    pub original_ln_before: bool,
}

impl SidePath for Bottleneck {
    /// Replaces the sub-block's closing LN(h + x).
    fn close_block(&self, h: Tensor<3>, x: Tensor<3>, norm: &LayerNorm) -> Tensor<3> {
        let inner = if self.original_ln_before { norm.forward(h.clone() + x.clone()) } else { h.clone() };
        let adapted = on_rows(inner, |x| self.up.forward(self.activation.forward(self.down.forward(x)))) + h;
        norm.forward(adapted + x)
    }
}

/// AdapterHub's "bert" init: weights N(0, 0.02), biases zero.
fn bert_init_linear(d_in: usize, d_out: usize, device: &burn::tensor::Device) -> Linear {
    Linear {
        weight: Param::from_tensor(Tensor::random([d_in, d_out], Distribution::Normal(0.0, 0.02), device)),
        bias: Some(Param::from_tensor(Tensor::zeros([d_out], device))),
    }
}

/// The AdapterHub key of the adapter closing `module` (`bert.encoder.layer.0.attention.output`, `...0.output`).
fn adapter_key(module: &str) -> String {
    format!("{module}.adapters.{ADAPTER_NAME}")
}

/// AdapterHub keys an adapter's tensors by the name it was added under; ours is always this one.
const ADAPTER_NAME: &str = "bottleneck";

impl<M: TunableModel<SidePaths>> Tuner<M> for BottleneckConfig {
    fn attach(&self, model: M, ctx: &AttachContext) -> Result<M, MethodError> {
        if model.block_closes().is_empty() {
            return Err(MethodError::Invalid(
                "bottleneck adapters sit where a BERT-family layer closes its sub-blocks (before each LayerNorm); \
                 this model has no such sites; choose another method"
                    .into(),
            ));
        }
        let hidden = model.hidden_size();
        if self.reduction_factor == 0 || self.reduction_factor > hidden {
            return Err(MethodError::Invalid(format!(
                "adapter reduction factor {} is out of range: choose 1..={hidden} (hidden size {hidden} / factor = width)",
                self.reduction_factor
            )));
        }
        let activation =
            Activation::from_name(&self.non_linearity).filter(|a| *a != Activation::GeluTanh).ok_or_else(|| {
                MethodError::Invalid(format!(
                    "adapter non-linearity '{}' is not supported; choose relu, swish or gelu",
                    self.non_linearity
                ))
            })?;
        if !self.mh_adapter && !self.output_adapter {
            return Err(MethodError::Invalid("an adapter needs mh_adapter or output_adapter (or both)".into()));
        }
        let width = hidden / self.reduction_factor;
        let mut model = model.freeze_base();
        let new = || {
            Bottleneck {
                down: bert_init_linear(hidden, width, &ctx.device),
                up: bert_init_linear(width, hidden, &ctx.device),
                activation,
                original_ln_before: self.original_ln_before,
            }
            .into_side()
        };
        for close in model.block_closes_mut() {
            let wanted = match close.block {
                Block::Attention => self.mh_adapter,
                Block::FeedForward => self.output_adapter,
            };
            *close.side = wanted.then(new);
        }
        Ok(model)
    }

    /// AdapterHub's key layout (`<module>.adapters.bottleneck.adapter_down.0.weight`, `.adapter_up.weight`),
    /// plus the head as `classifier.*`.
    fn adapter_tensors(&self, model: &M) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        for close in model.block_closes() {
            if let Some(a) = side::<Bottleneck>(close.side) {
                let key = adapter_key(&close.path);
                out.extend(linear_tensors(&format!("{key}.adapter_down.0"), &a.down));
                out.extend(linear_tensors(&format!("{key}.adapter_up"), &a.up));
            }
        }
        out.extend(model.head_tensors(""));
        out
    }

    fn load(&self, mut model: M, adapter: &Checkpoint) -> Result<M, LoadError> {
        for close in model.block_closes_mut() {
            if let Some(a) = side_mut::<Bottleneck>(close.side) {
                let key = adapter_key(&close.path);
                load_linear(adapter, &format!("{key}.adapter_down.0"), &mut a.down)?;
                load_linear(adapter, &format!("{key}.adapter_up"), &mut a.up)?;
            }
        }
        model.load_head(adapter, "")
    }

    /// AdapterHub's adapter_config.json (as `save_adapter` writes it), plus our method tag.
    fn peft_json(&self, model: &M) -> serde_json::Value {
        serde_json::json!({
            "peft_type": null,
            "peft_lab_method": "bottleneck",
            "name": ADAPTER_NAME,
            "hidden_size": model.hidden_size(),
            "model_type": "bert",
            "model_class": "BertForSequenceClassification",
            "version": "adapters.1.3.0",
            "config": {
                "architecture": "bottleneck",
                "reduction_factor": self.reduction_factor,
                "non_linearity": self.non_linearity,
                "mh_adapter": self.mh_adapter,
                "output_adapter": self.output_adapter,
                "original_ln_before": self.original_ln_before,
                "original_ln_after": true,
                "residual_before_ln": true,
                "adapter_residual_before_ln": false,
                "ln_before": false,
                "ln_after": false,
                "init_weights": "bert",
                "is_parallel": false,
                "scaling": 1.0,
                "use_gating": false,
                "dropout": 0.0,
                "phm_layer": false,
                "stochastic_depth": 0.0,
                "leave_out": [],
                "inv_adapter": null,
                "cross_adapter": false,
            },
        })
    }
}

impl Method for BottleneckConfig {
    /// A bottleneck that is neither Houlsby's nor Pfeiffer's placement counts as Houlsby's card, whose fields
    /// it fills.
    fn key(&self) -> &'static str {
        if self.is_pfeiffer() { "pfeiffer" } else { "houlsby" }
    }

    fn label(&self) -> String {
        let key = if self.is_houlsby() || self.is_pfeiffer() { self.key() } else { "adapter" };
        format!("{key} rf{}", self.reduction_factor)
    }

    fn default_learning_rate(&self) -> f64 {
        1e-3
    }

    fn cards() -> Vec<CatalogEntry> {
        use Site::*;
        vec![
            CatalogEntry {
                key: "houlsby",
                title: "Houlsby adapter",
                description: "Bottleneck adapters after the attention and after the feed-forward block of each layer.",
                explanation: Explanation {
                    principle: "Small down-projection, swish, up-projection modules with a residual connection, \
                                inserted where each sub-block closes (before its LayerNorm). Width = hidden size / \
                                reduction factor.",
                    frozen: "Every pretrained weight.",
                    inference: "Two extra small layers per transformer layer, on every token.",
                    sites: &[AttentionAdapter, FeedForwardAdapter, Head],
                },
                config: MethodConfig::Bottleneck(BottleneckConfig::houlsby()),
            },
            CatalogEntry {
                key: "pfeiffer",
                title: "Pfeiffer adapter",
                description: "One bottleneck adapter per layer, after the feed-forward block.",
                explanation: Explanation {
                    principle: "A down-projection, ReLU, up-projection adapter only after the feed-forward block, fed \
                                from the block's LayerNorm: half of Houlsby's parameters, usually as accurate.",
                    frozen: "Every pretrained weight.",
                    inference: "One extra small layer per transformer layer, on every token.",
                    sites: &[FeedForwardAdapter, Head],
                },
                config: MethodConfig::Bottleneck(BottleneckConfig::pfeiffer()),
            },
        ]
    }
}
