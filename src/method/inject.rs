//! Where methods put their side paths and how peft names what they save, written once for every architecture:
//! matching `target_modules` against a model's named projections, as peft's `BaseTuner.inject_adapter` does,
//! and the key prefixes of peft's adapter files.

use super::{MethodError, SidePaths};
use crate::model::HEAD;
use crate::model::tunable::{Projections, TunableLinear};

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

/// The head's key below `prefix` (`base_model.model.classifier`).
pub fn peft_head(prefix: &str) -> String {
    peft_key(prefix, HEAD)
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
