//! LoRA (Hu et al., 2021) as Hugging Face peft defines it (`tuners/lora`): a frozen projection W plus a
//! trainable low-rank update scaled by alpha/r (rsLoRA: alpha/sqrt(r)), W x + s * B A x.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::{AttachContext, Method, MethodError, NamedTensor};
use crate::model::{BertConfig, SequenceClassifier};

/// peft's `LoraConfig` fields that change the computation, with peft's defaults (target modules: BERT's query, value).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoraConfig {
    pub r: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub target_modules: Vec<String>,
    pub use_rslora: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self { r: 8, alpha: 8.0, dropout: 0.0, target_modules: vec!["query".into(), "value".into()], use_rslora: false }
    }
}

impl LoraConfig {
    pub fn scaling(&self) -> f64 {
        if self.use_rslora { self.alpha / (self.r as f64).sqrt() } else { self.alpha / self.r as f64 }
    }
}

/// The low-rank update beside one projection: A is [in, r], B is [r, out] (burn layout; peft stores the transposes).
#[derive(Module, Debug)]
pub struct LoraLayer {
    pub lora_a: Param<Tensor<2>>,
    pub lora_b: Param<Tensor<2>>,
    pub dropout: Dropout,
    pub scaling: f64,
}

impl LoraLayer {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.dropout.forward(x).matmul_last(self.lora_a.val()).matmul_last(self.lora_b.val()).mul_scalar(self.scaling)
    }

    /// The update to the [in, out] weight: s * A B.
    pub fn delta_weight(&self) -> Tensor<2> {
        self.lora_a.val().matmul(self.lora_b.val()).mul_scalar(self.scaling)
    }
}

/// Multiplies the last dimension of `self` by a [k, n] matrix whatever the rank.
trait MatmulLast {
    fn matmul_last(self, rhs: Tensor<2>) -> Self;
}

impl<const D: usize> MatmulLast for Tensor<D> {
    fn matmul_last(self, rhs: Tensor<2>) -> Self {
        let dims = self.dims();
        let k = dims[D - 1];
        let rows = dims.iter().take(D - 1).product::<usize>();
        let [_, n] = rhs.dims();
        let mut out_dims = dims;
        out_dims[D - 1] = n;
        self.reshape([rows, k]).matmul(rhs).reshape(out_dims)
    }
}

impl Method for LoraConfig {
    fn attach(&self, model: SequenceClassifier, ctx: &AttachContext) -> Result<SequenceClassifier, MethodError> {
        if self.r == 0 {
            return Err(MethodError::Invalid("LoRA rank r must be at least 1".into()));
        }
        if self.target_modules.is_empty() {
            return Err(MethodError::Invalid("LoRA needs at least one target module (e.g. query,value)".into()));
        }
        let mut model = model.freeze_base();
        let scaling = self.scaling();
        let mut matched = 0;
        for (path, linear) in model.bert.tunable_linears_mut() {
            if !self.target_modules.iter().any(|t| path == *t || path.ends_with(&format!(".{t}"))) {
                continue;
            }
            let [d_in, d_out] = linear.dims();
            if self.r > d_in.min(d_out) {
                return Err(MethodError::Invalid(format!(
                    "LoRA rank r = {} is larger than {path}'s smaller side ({}); choose 1..={}",
                    self.r,
                    d_in.min(d_out),
                    d_in.min(d_out)
                )));
            }
            // kaiming_uniform(a = sqrt(5)) on A [r, in] reduces to U(-1/sqrt(in), 1/sqrt(in)); B starts at zero,
            // so the adapted model starts equal to the base.
            let bound = 1.0 / (d_in as f64).sqrt();
            let a = Tensor::random([d_in, self.r], Distribution::Uniform(-bound, bound), &ctx.device);
            let b = Tensor::zeros([self.r, d_out], &ctx.device);
            linear.lora = Some(LoraLayer {
                lora_a: Param::from_tensor(a),
                lora_b: Param::from_tensor(b),
                dropout: DropoutConfig::new(self.dropout).init(),
                scaling,
            });
            matched += 1;
        }
        if matched == 0 {
            return Err(MethodError::Invalid(format!(
                "LoRA target modules {:?} match no layer of this model; names available: {}",
                self.target_modules,
                model.bert.tunable_names().join(", ")
            )));
        }
        Ok(model)
    }

    fn adapter_tensors(&self, model: &SequenceClassifier) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        for (path, linear) in model.bert.tunable_linears() {
            if let Some(lora) = &linear.lora {
                let key = format!("base_model.model.bert.{path}");
                out.push(NamedTensor::from_linear(format!("{key}.lora_A.weight"), lora.lora_a.val()));
                out.push(NamedTensor::from_linear(format!("{key}.lora_B.weight"), lora.lora_b.val()));
            }
        }
        out.extend(model.classifier_tensors("base_model.model.classifier"));
        out
    }

    fn peft_json(&self, _cfg: &BertConfig) -> serde_json::Value {
        serde_json::json!({
            "peft_type": "LORA",
            "r": self.r,
            // peft writes a whole alpha as an integer.
            "lora_alpha": if self.alpha.fract() == 0.0 { serde_json::json!(self.alpha as i64) } else { serde_json::json!(self.alpha) },
            "lora_dropout": self.dropout,
            "target_modules": self.target_modules,
            "use_rslora": self.use_rslora,
            "use_dora": false,
            "bias": "none",
            "fan_in_fan_out": false,
            "init_lora_weights": true,
            "modules_to_save": ["classifier", "score"],
        })
    }
}

/// Folds every LoRA update into its base weight (W + s B A) and removes the adapters: inference then costs
/// exactly what the base model costs.
pub fn merge(mut model: SequenceClassifier) -> SequenceClassifier {
    for (_, linear) in model.bert.tunable_linears_mut() {
        if let Some(lora) = linear.lora.take() {
            let merged = linear.base.weight.val() + lora.delta_weight();
            linear.base.weight = Param::from_tensor(merged.detach()).set_require_grad(false);
        }
    }
    model
}
