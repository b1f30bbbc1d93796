//! The building blocks every architecture shares, with the slots methods attach to.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use super::load::{Checkpoint, LoadError};
use crate::method::lora::LoraLayer;

/// `nn.LayerNorm` with the checkpoint's names (`LayerNorm.weight`, `LayerNorm.bias`).
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub eps: f64,
}

impl LayerNorm {
    pub fn load(ckpt: &Checkpoint, prefix: &str, dim: usize, eps: f64, device: &Device) -> Result<Self, LoadError> {
        Ok(Self {
            weight: Param::from_tensor(ckpt.tensor(&format!("{prefix}.weight"), [dim], device)?),
            bias: Param::from_tensor(ckpt.tensor(&format!("{prefix}.bias"), [dim], device)?),
            eps,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        burn::tensor::module::layer_norm(x, self.weight.val(), Some(self.bias.val()), self.eps)
    }
}

/// A pretrained projection (weight kept as [in, out]) and the method-owned pieces that wrap it.
#[derive(Module, Debug)]
pub struct TunableLinear {
    pub base: Linear,
    pub lora: Option<LoraLayer>,
}

impl TunableLinear {
    /// Loads `{prefix}.weight` ([out, in] in the checkpoint) and `{prefix}.bias`.
    pub fn load(
        ckpt: &Checkpoint,
        prefix: &str,
        d_in: usize,
        d_out: usize,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let weight = ckpt.linear_weight(&format!("{prefix}.weight"), d_in, d_out, device)?;
        let bias = ckpt.tensor(&format!("{prefix}.bias"), [d_out], device)?;
        Ok(Self::new(Linear { weight: Param::from_tensor(weight), bias: Some(Param::from_tensor(bias)) }))
    }

    pub fn new(base: Linear) -> Self {
        Self { base, lora: None }
    }

    pub fn dims(&self) -> [usize; 2] {
        self.base.weight.dims()
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let out = self.base.forward(x.clone());
        match &self.lora {
            Some(lora) => out + lora.forward(x),
            None => out,
        }
    }
}
