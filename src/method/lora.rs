//! LoRA (Hu et al., 2021) as Hugging Face peft defines it (`tuners/lora`): a frozen projection W plus a
//! trainable low-rank update scaled by alpha/r (rsLoRA: alpha/sqrt(r)), W x + s * B A x.
//! DoRA (Liu et al., 2024; peft's `use_dora`) adds a trained magnitude m per output: the adapted weight
//! W + s B A is renormalised to unit column norm and rescaled by m (the norm is treated as a constant in the
//! backward pass, as peft does after section 4.3 of the paper).

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::{
    AttachContext, Attached, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, PeftConfig,
    SidePaths, Site, Tuner, TunableModel, check_probability, side, side_mut,
};
use super::inject::{TUNER_PREFIX, fan_in_fan_out, inject, modules_to_save, targets_or_default, peft_key};
use crate::model::dropout::Dropout;
use crate::model::tunable::along_last;
use crate::model::{Checkpoint, LoadError, Projections, SidePath, Weights};

/// The largest lora_alpha accepted (peft's defaults are 8 to 32; ranks stop at 32 here).
const MAX_ALPHA: f64 = 65536.0;

/// peft's `LoraConfig` fields that change the computation, with peft's names and defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoraConfig {
    pub r: usize,
    #[serde(rename = "lora_alpha", alias = "alpha")]
    pub alpha: f64,
    #[serde(rename = "lora_dropout", alias = "dropout")]
    pub dropout: f64,
    /// The projections to adapt; `None` (null) means peft's default for the architecture (BERT's `query`, `value`;
    /// Llama's `q_proj`, `v_proj`; GPT-2's `c_attn`).
    pub target_modules: Option<Vec<String>>,
    pub use_rslora: bool,
    /// DoRA: also learn a magnitude per output feature.
    #[serde(default)]
    pub use_dora: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: 8,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: None,
            use_rslora: false,
            use_dora: false,
        }
    }
}

impl LoraConfig {
    /// The target modules on `model`: the settings', or peft's default for its architecture.
    pub fn targets(&self, model: &impl TunableModel<SidePaths>) -> Vec<String> {
        targets_or_default(&self.target_modules, model, |d| d.lora)
    }

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
    /// DoRA's magnitude m [out] (peft's `lora_magnitude_vector`).
    pub magnitude: Option<Param<Tensor<1>>>,
}

impl LoraLayer {
    /// The projection's output `base_out` = W x + b with this update added.
    pub fn forward_beside<const D: usize>(&self, base: &Linear, x: Tensor<D>, base_out: Tensor<D>) -> Tensor<D> {
        let x = self.dropout.forward(x);
        let update = x.clone().matmul_last(self.lora_a.val()).matmul_last(self.lora_b.val()).mul_scalar(self.scaling);
        let Some(magnitude) = &self.magnitude else {
            return base_out + update;
        };
        // peft: result + (m/‖W'‖ - 1) W x + m/‖W'‖ s B A x, with W x taken from the dropped-out input when
        // dropout is on and from the bias-free base output otherwise.
        let scale = along_last::<D>(magnitude.val() / self.column_norm(&base.weight.val()).detach());
        let plain = match (&base.bias, self.dropout.prob > 0.0) {
            (_, true) => x.matmul_last(base.weight.val()),
            (Some(bias), false) => base_out.clone() - along_last::<D>(bias.val()),
            (None, false) => base_out.clone(),
        };
        base_out + (scale.clone() - 1.0) * plain + scale * update
    }

    /// The update to the [in, out] weight: s * A B.
    pub fn delta_weight(&self) -> Tensor<2> {
        self.lora_a.val().matmul(self.lora_b.val()).mul_scalar(self.scaling)
    }

    /// ‖W + s A B‖ per output feature (a column of burn's [in, out] weight, a row of torch's).
    fn column_norm(&self, weight: &Tensor<2>) -> Tensor<1> {
        let adapted = weight.clone() + self.delta_weight();
        let [_, out] = adapted.dims();
        adapted.powi_scalar(2).sum_dim(0).sqrt().reshape([out])
    }

    /// The weight this layer is equivalent to: W + s A B, and for DoRA its columns rescaled to norm m.
    pub fn merged_weight(&self, weight: Tensor<2>) -> Tensor<2> {
        let adapted = weight.clone() + self.delta_weight();
        match &self.magnitude {
            Some(m) => adapted * along_last::<2>(m.val() / self.column_norm(&weight)),
            None => adapted,
        }
    }
}

impl SidePath for LoraLayer {
    fn projection(&self, base: &Linear, x: Tensor<2>) -> Tensor<2> {
        let out = base.forward(x.clone());
        self.forward_beside(base, x, out)
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

impl LoraConfig {
    /// Checks the settings and puts a LoRA layer (A random, B zero: the model starts equal to its base) beside every
    /// projection of `model` that the target modules name, for any architecture.
    pub fn inject_into(&self, model: &mut impl TunableModel<SidePaths>, device: &Device) -> Result<(), MethodError> {
        if self.r == 0 {
            return Err(MethodError::Invalid("LoRA rank r must be at least 1".into()));
        }
        check_probability("LoRA lora_dropout", self.dropout)?;
        // The scaling is an f32 in the forward pass: beyond this it only overflows.
        if !(self.alpha > 0.0 && self.alpha <= MAX_ALPHA) {
            return Err(MethodError::Invalid(format!(
                "LoRA lora_alpha = {} is out of range: choose a number above 0 and at most {MAX_ALPHA}",
                self.alpha
            )));
        }
        let scaling = self.scaling();
        inject(model, "LoRA", &self.targets(model), |path, linear| {
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
            let a = Tensor::random([d_in, self.r], Distribution::Uniform(-bound, bound), device);
            let b = Tensor::zeros([self.r, d_out], device);
            let mut layer = LoraLayer {
                lora_a: Param::from_tensor(a),
                lora_b: Param::from_tensor(b),
                dropout: Dropout::new(self.dropout),
                scaling,
                magnitude: None,
            };
            if self.use_dora {
                // m starts at ‖W + s A B‖ = ‖W‖ (B is zero), so DoRA too starts equal to the base model.
                let norm = layer.column_norm(&linear.base.weight.val()).detach();
                layer.magnitude = Some(Param::from_tensor(norm));
            }
            Ok(layer.into_side())
        })
    }
}

impl<M: TunableModel<SidePaths>> Tuner<M> for LoraConfig {
    fn attach(&self, model: M, ctx: &AttachContext) -> Result<M, MethodError> {
        let mut model = model.freeze_base();
        self.inject_into(&mut model, &ctx.device)?;
        Ok(model)
    }

    fn adapter_tensors(&self, model: &M) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        for (path, linear) in model.projections() {
            if let Some(lora) = side::<LoraLayer>(&linear.side) {
                let key = peft_key(TUNER_PREFIX, &path);
                out.push(NamedTensor::from_linear(format!("{key}.lora_A.weight"), lora.lora_a.val()));
                out.push(NamedTensor::from_linear(format!("{key}.lora_B.weight"), lora.lora_b.val()));
                if let Some(m) = &lora.magnitude {
                    out.push(NamedTensor::new(format!("{key}.lora_magnitude_vector"), m.val()));
                }
            }
        }
        out.extend(model.head_tensors(TUNER_PREFIX));
        out
    }

    fn load(&self, mut model: M, adapter: &Checkpoint) -> Result<M, LoadError> {
        let device = model.device();
        for (path, linear) in model.projections_mut() {
            let [d_in, d_out] = linear.dims();
            if let Some(lora) = side_mut::<LoraLayer>(&mut linear.side) {
                let key = peft_key(TUNER_PREFIX, &path);
                let r = lora.lora_a.dims()[1];
                lora.lora_a =
                    Param::from_tensor(adapter.linear_weight(&format!("{key}.lora_A.weight"), d_in, r, &device)?);
                lora.lora_b =
                    Param::from_tensor(adapter.linear_weight(&format!("{key}.lora_B.weight"), r, d_out, &device)?);
                if lora.magnitude.is_some() {
                    let m = adapter.tensor(&format!("{key}.lora_magnitude_vector"), [d_out], &device)?;
                    lora.magnitude = Some(Param::from_tensor(m));
                }
            }
        }
        model.load_head(adapter, TUNER_PREFIX)
    }

    fn peft_json(&self, model: &M) -> serde_json::Value {
        serde_json::json!({
            "peft_type": "LORA",
            "r": self.r,
            // peft writes a whole alpha as an integer.
            "lora_alpha": if self.alpha.fract() == 0.0 { serde_json::json!(self.alpha as i64) } else { serde_json::json!(self.alpha) },
            "lora_dropout": self.dropout,
            "target_modules": self.targets(model),
            "use_rslora": self.use_rslora,
            "use_dora": self.use_dora,
            "bias": "none",
            "fan_in_fan_out": fan_in_fan_out(model, &self.targets(model)),
            "init_lora_weights": true,
            "modules_to_save": modules_to_save(model),
        })
    }
}

impl Method for LoraConfig {
    fn key(&self) -> &'static str {
        if self.use_dora { "dora" } else { "lora" }
    }

    fn label(&self) -> String {
        format!("{} r{}", self.key(), self.r)
    }

    fn default_learning_rate(&self) -> f64 {
        1e-3
    }

    fn cards() -> Vec<CatalogEntry> {
        use Site::*;
        vec![
            CatalogEntry {
                key: "lora",
                title: "LoRA",
                description: "Low-rank updates B·A beside the attention's query and value projections.",
                explanation: Explanation {
                    principle: "Each targeted weight W gets a trainable update (alpha/r)·B·A of rank r: A maps the input \
                                down to r numbers, B maps them back. B starts at zero, so training starts from the \
                                pretrained model.",
                    frozen: "Every pretrained weight.",
                    inference: "None once merged: B·A is added into W and the model is the base model's size and speed.",
                    sites: &[QueryValueUpdate, Head],
                },
                config: MethodConfig::Lora(LoraConfig::default()),
            },
            CatalogEntry {
                key: "dora",
                title: "DoRA",
                description: "LoRA with a learned magnitude per output: direction and length of W train separately.",
                explanation: Explanation {
                    principle: "The adapted weight W + (alpha/r)·B·A is normalised to unit length per output feature \
                                and rescaled by a trained magnitude m, which starts at the pretrained norm.",
                    frozen: "Every pretrained weight.",
                    inference: "None once merged; unmerged, each targeted projection also needs a weight norm.",
                    sites: &[QueryValueUpdate, Head],
                },
                config: MethodConfig::Lora(LoraConfig { use_dora: true, ..Default::default() }),
            },
        ]
    }

    fn peft_type() -> Option<&'static str> {
        Some("LORA")
    }

    fn from_peft(config: &PeftConfig) -> Result<MethodConfig, String> {
        let field = |key: &str| config.field(key);
        for (key, fine) in [
            ("bias", field("bias") == "none" || field("bias").is_null()),
            ("layers_to_transform", field("layers_to_transform").is_null()),
            ("rank_pattern", field("rank_pattern").as_object().is_none_or(|m| m.is_empty())),
            ("alpha_pattern", field("alpha_pattern").as_object().is_none_or(|m| m.is_empty())),
            ("target_modules", field("target_modules").is_array()),
        ] {
            if !fine {
                return Err(format!("LoRA option {key} = {} is not supported", field(key)));
            }
        }
        let mut fields = config.pick(&["r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora", "use_dora"]);
        fields["use_rslora"] = field("use_rslora").as_bool().unwrap_or(false).into();
        fields["use_dora"] = field("use_dora").as_bool().unwrap_or(false).into();
        PeftConfig::parse(fields).map(MethodConfig::Lora)
    }
}

/// Folds every LoRA/DoRA update into its base weight and removes the adapters: inference then costs
/// exactly what the base model costs.
pub fn merge<M: Projections<SidePaths>>(mut model: M) -> M {
    for (_, linear) in model.projections_mut() {
        if let Some(lora) = side::<LoraLayer>(&linear.side) {
            let merged = lora.merged_weight(linear.base.weight.val());
            linear.base.weight = Param::from_tensor(merged.detach()).set_require_grad(false);
            linear.side = None;
        }
    }
    model
}
