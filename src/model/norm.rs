//! The normalisation layers of the architectures, with their checkpoint names.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::load::{LoadError, Weights};
use super::tensors::NamedTensor;

/// `nn.LayerNorm` with the checkpoint's names (`LayerNorm.weight`, `LayerNorm.bias`).
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub eps: f64,
    /// Its module path in the checkpoint (`encoder.layer.0.output.LayerNorm`), kept from loading.
    #[module(skip)]
    pub path: String,
}

impl LayerNorm {
    pub fn load(
        weights: &impl Weights,
        prefix: &str,
        dim: usize,
        eps: f64,
        device: &Device,
    ) -> Result<Self, LoadError> {
        Ok(Self {
            weight: Param::from_tensor(weights.tensor(&format!("{prefix}.weight"), [dim], device)?),
            bias: Param::from_tensor(weights.tensor(&format!("{prefix}.bias"), [dim], device)?),
            eps,
            path: prefix.to_string(),
        })
    }

    /// Its weight and bias under `{prefix}{path}.weight` / `.bias`.
    pub fn named_tensors(&self, prefix: &str) -> Vec<NamedTensor> {
        vec![
            NamedTensor::new(format!("{prefix}{}.weight", self.path), self.weight.val()),
            NamedTensor::new(format!("{prefix}{}.bias", self.path), self.bias.val()),
        ]
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        burn::tensor::module::layer_norm(x, self.weight.val(), Some(self.bias.val()), self.eps)
    }
}

/// `LlamaRMSNorm`: x / sqrt(mean(x²) + eps), scaled by a learned weight; no bias, no centring.
#[derive(Module, Debug)]
pub struct RmsNorm {
    pub weight: Param<Tensor<1>>,
    pub eps: f64,
    /// Its module path in the checkpoint (`model.layers.0.input_layernorm`), kept from loading.
    #[module(skip)]
    pub path: String,
}

impl RmsNorm {
    pub fn load(
        weights: &impl Weights,
        prefix: &str,
        dim: usize,
        eps: f64,
        device: &Device,
    ) -> Result<Self, LoadError> {
        Ok(Self {
            weight: Param::from_tensor(weights.tensor(&format!("{prefix}.weight"), [dim], device)?),
            eps,
            path: prefix.to_string(),
        })
    }

    /// Its weight under `{path}.weight`.
    pub fn named_tensor(&self) -> NamedTensor {
        NamedTensor::new(format!("{}.weight", self.path), self.weight.val())
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let scale = x.clone().powi_scalar(2).mean_dim(D - 1).add_scalar(self.eps).sqrt().recip();
        x * scale * self.weight.val().unsqueeze::<D>()
    }
}
