//! IA3 (Liu et al., 2022, "Infused Adapter by Inhibiting and Amplifying Inner Activations") as peft's
//! `tuners/ia3`: a learned vector rescales the output of the key and value projections and the input of the
//! feed-forward projections, elementwise. The vectors start at one, so the model starts equal to the base.
//! peft's default targets for BERT are `key`, `value` and `output.dense`; the last one matches both the
//! attention's output projection and the FFN's down-projection (whose input is the intermediate activation),
//! and both count as feed-forward modules.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{
    AttachContext, Attached, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, PeftConfig,
    SidePaths, Site, Tuner, TunableModel, side, side_mut,
};
use super::inject::{TUNER_PREFIX, fan_in_fan_out, inject, modules_to_save, targets_or_default, module_matches, peft_key};
use crate::model::tunable::along_last;
use crate::model::{Checkpoint, LoadError, SidePath, Weights};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Ia3Config {
    /// The projections to rescale; `None` (null) means peft's default for the architecture.
    pub target_modules: Option<Vec<String>>,
    /// Targets whose input (not output) is rescaled; must be among the targets. `None`: peft's default.
    pub feedforward_modules: Option<Vec<String>>,
}

/// The learned vector of one projection: [out] on its output, or [in] on its input (feed-forward modules).
#[derive(Module, Debug)]
pub struct Ia3Scale {
    pub scale: Param<Tensor<1>>,
    pub on_input: bool,
}

impl Ia3Scale {
    pub fn rescale<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        x * along_last::<D>(self.scale.val())
    }

    /// peft's layout: [out, 1] for output scaling, [1, in] for input scaling.
    fn torch_shape(&self) -> [usize; 2] {
        let n = self.scale.dims()[0];
        if self.on_input { [1, n] } else { [n, 1] }
    }
}

impl SidePath for Ia3Scale {
    fn projection(&self, base: &Linear, x: Tensor<2>) -> Tensor<2> {
        if self.on_input { base.forward(self.rescale(x)) } else { self.rescale(base.forward(x)) }
    }
}

impl Ia3Config {
    /// The target and feed-forward modules on `model`: the settings', or peft's defaults for its architecture.
    pub fn targets(&self, model: &impl TunableModel<SidePaths>) -> (Vec<String>, Vec<String>) {
        (
            targets_or_default(&self.target_modules, model, |d| d.ia3),
            targets_or_default(&self.feedforward_modules, model, |d| d.ia3_feedforward),
        )
    }

    /// Checks the settings and puts a vector of ones on every projection of `model` that the target modules name (on
    /// its input for the feed-forward modules), for any architecture.
    pub fn inject_into(&self, model: &mut impl TunableModel<SidePaths>, device: &Device) -> Result<(), MethodError> {
        let (targets, feedforward) = self.targets(model);
        if let Some(stray) = feedforward.iter().find(|f| !targets.contains(f)) {
            return Err(MethodError::Invalid(format!(
                "IA3 feed-forward module '{stray}' is not among the target modules {targets:?}"
            )));
        }
        inject(model, "IA3", &targets, |path, linear| {
            let on_input = module_matches(&feedforward, path);
            let [d_in, d_out] = linear.dims();
            let n = if on_input { d_in } else { d_out };
            Ok(Ia3Scale { scale: Param::from_tensor(Tensor::ones([n], device)), on_input }.into_side())
        })
    }
}

impl<M: TunableModel<SidePaths>> Tuner<M> for Ia3Config {
    fn attach(&self, model: M, ctx: &AttachContext) -> Result<M, MethodError> {
        let mut model = model.freeze_base();
        self.inject_into(&mut model, &ctx.device)?;
        Ok(model)
    }

    fn adapter_tensors(&self, model: &M) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        for (path, linear) in model.projections() {
            if let Some(ia3) = side::<Ia3Scale>(&linear.side) {
                let name = format!("{}.ia3_l", peft_key(TUNER_PREFIX, &path));
                out.push(NamedTensor::new(name, ia3.scale.val().reshape(ia3.torch_shape())));
            }
        }
        out.extend(model.head_tensors(TUNER_PREFIX));
        out
    }

    fn load(&self, mut model: M, adapter: &Checkpoint) -> Result<M, LoadError> {
        let device = model.device();
        for (path, linear) in model.projections_mut() {
            if let Some(ia3) = side_mut::<Ia3Scale>(&mut linear.side) {
                let shape = ia3.torch_shape();
                let values = adapter.tensor(&format!("{}.ia3_l", peft_key(TUNER_PREFIX, &path)), shape, &device)?;
                ia3.scale = Param::from_tensor(values.reshape([shape[0] * shape[1]]));
            }
        }
        model.load_head(adapter, TUNER_PREFIX)
    }

    fn peft_json(&self, model: &M) -> serde_json::Value {
        let (targets, feedforward) = self.targets(model);
        serde_json::json!({
            "peft_type": "IA3",
            "target_modules": targets,
            "feedforward_modules": feedforward,
            "fan_in_fan_out": fan_in_fan_out(model, &targets),
            "init_ia3_weights": true,
            "modules_to_save": modules_to_save(model),
        })
    }
}

impl Method for Ia3Config {
    fn key(&self) -> &'static str {
        "ia3"
    }

    fn default_learning_rate(&self) -> f64 {
        5e-3
    }

    fn cards() -> Vec<CatalogEntry> {
        use Site::*;
        vec![CatalogEntry {
            key: "ia3",
            title: "IA3",
            description: "Learned vectors rescale keys, values, and the inputs of the two output projections.",
            explanation: Explanation {
                principle: "Four elementwise scalings per layer, each starting at one: the attention's keys and \
                                values, the input of the attention's output projection and the input of the \
                                feed-forward down projection (the intermediate activations) are multiplied by \
                                trained vectors (peft's defaults for BERT).",
                frozen: "Every pretrained weight.",
                inference: "A few elementwise products; the vectors can be folded into the weights, which \
                                makes it free.",
                sites: &[Rescaling, Head],
            },
            config: MethodConfig::Ia3(Ia3Config::default()),
        }]
    }

    fn peft_type() -> Option<&'static str> {
        Some("IA3")
    }

    fn from_peft(config: &PeftConfig) -> Result<MethodConfig, String> {
        PeftConfig::parse(config.pick(&["target_modules", "feedforward_modules"])).map(MethodConfig::Ia3)
    }
}
