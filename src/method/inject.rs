//! Where methods put their side paths and how peft names what they save, written once for every architecture:
//! matching `target_modules` against a model's named projections, as peft's `BaseTuner.inject_adapter` does,
//! and the key prefixes of peft's adapter files.

use super::{MethodError, SidePaths};
use crate::model::TunableModel;
use crate::model::tunable::{Projections, Stored, TunableLinear};

/// Where peft saves a tuner's tensors (LoRA, IA3) and the head trained beside it: below the wrapped model,
/// `base_model.model.<module path>`.
pub const TUNER_PREFIX: &str = "base_model.model";

/// Where peft saves what its prompt-learning methods (prompt tuning, P-tuning, prefix tuning) train beside their
/// tokens, the head: `base_model.<module>`.
pub const PROMPT_LEARNING_PREFIX: &str = "base_model";

/// A module's key in a peft adapter file below `prefix` (one of the two above).
pub fn peft_key(prefix: &str, path: &str) -> String {
    format!("{prefix}.{path}")
}

/// peft's default targets for an architecture (its `model_type`), used when a method's settings name none: peft's
/// `TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING`, `..._TO_IA3_TARGET_MODULES_MAPPING` and
/// `..._TO_IA3_FEEDFORWARD_MODULES_MAPPING` (peft/utils/constants.py) for the architectures we run.
pub struct DefaultTargets {
    pub lora: &'static [&'static str],
    pub ia3: &'static [&'static str],
    pub ia3_feedforward: &'static [&'static str],
}

const DEFAULT_TARGETS: [(&str, DefaultTargets); 3] = [
    (
        "bert",
        DefaultTargets {
            lora: &["query", "value"],
            ia3: &["key", "value", "output.dense"],
            ia3_feedforward: &["output.dense"],
        },
    ),
    (
        "llama",
        DefaultTargets {
            lora: &["q_proj", "v_proj"],
            ia3: &["k_proj", "v_proj", "down_proj"],
            ia3_feedforward: &["down_proj"],
        },
    ),
    ("gpt2", DefaultTargets { lora: &["c_attn"], ia3: &["c_attn", "mlp.c_proj"], ia3_feedforward: &["mlp.c_proj"] }),
];

/// The targets a method's settings give, or peft's default for `model`'s architecture (`pick` chooses the list).
pub fn targets_or_default(
    given: &Option<Vec<String>>,
    model: &impl TunableModel<SidePaths>,
    pick: impl Fn(&DefaultTargets) -> &'static [&'static str],
) -> Vec<String> {
    given.clone().unwrap_or_else(|| {
        let defaults = DEFAULT_TARGETS.iter().find(|(model_type, _)| *model_type == model.model_type());
        defaults.map_or_else(Vec::new, |(_, d)| pick(d).iter().map(|t| t.to_string()).collect())
    })
}

/// Whether a module path (`bert.encoder.layer.0.attention.self.query`) is one of `targets`, which name modules as
/// peft does: the full path or a suffix of it after a dot (`query`, `output.dense`).
pub fn module_matches(targets: &[String], path: &str) -> bool {
    targets.iter().any(|t| path == t || path.ends_with(&format!(".{t}")))
}

/// Puts the side path `side_for` builds on every projection of `model` that `targets` names (`side_for` gets the
/// projection's module path and the projection). `method` names the method in the errors: no targets, or targets
/// that match nothing (with the names that would).
pub fn inject(
    model: &mut impl Projections<SidePaths>,
    method: &str,
    targets: &[String],
    mut side_for: impl FnMut(&str, &TunableLinear<SidePaths>) -> Result<SidePaths, MethodError>,
) -> Result<(), MethodError> {
    if targets.is_empty() {
        return Err(MethodError::Invalid(format!(
            "{method} needs at least one target module; names available: {}",
            model.target_names().join(", ")
        )));
    }
    let mut matched = 0;
    for (path, linear) in model.projections_mut() {
        if module_matches(targets, &path) {
            linear.side = Some(side_for(&path, linear)?);
            matched += 1;
        }
    }
    if matched == 0 {
        return Err(MethodError::Invalid(format!(
            "{method} target modules {targets:?} match no layer of this model; names available: {}",
            model.target_names().join(", ")
        )));
    }
    Ok(())
}

/// peft's `modules_to_save` for `model`: its head, under both names peft's classifiers give it, or none.
pub fn modules_to_save(model: &impl TunableModel<SidePaths>) -> serde_json::Value {
    model.head().map_or(serde_json::Value::Null, |head| serde_json::json!([head, "score"]))
}

/// peft's `fan_in_fan_out`: whether the projections `targets` name store their weight [in, out] (GPT-2's `Conv1D`).
pub fn fan_in_fan_out(model: &impl Projections<SidePaths>, targets: &[String]) -> bool {
    model.projections().iter().any(|(path, linear)| module_matches(targets, path) && linear.stored == Stored::Conv1D)
}
