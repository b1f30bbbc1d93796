//! The range checks methods share, each with a message that names the setting, its value and what it may be.

use super::MethodError;

/// Encoders wider than this many times the model's hidden size are refused: beyond it they only cost memory, and a
/// huge value (from `--set` or a hostile link) would exhaust it before any tensor is checked.
pub const MAX_ENCODER_WIDTH_FACTOR: usize = 4;

/// An encoder width in 1..=MAX_ENCODER_WIDTH_FACTOR × hidden.
pub fn check_encoder_width(setting: &str, width: usize, hidden_size: usize) -> Result<(), MethodError> {
    let max = MAX_ENCODER_WIDTH_FACTOR * hidden_size;
    if !(1..=max).contains(&width) {
        return Err(MethodError::Invalid(format!(
            "{setting} is {width}; choose 1..={max} ({MAX_ENCODER_WIDTH_FACTOR} × the model's hidden size)"
        )));
    }
    Ok(())
}

/// The most parameters a prompt or prefix encoder may have (256 MiB in f32, four times that with AdamW's states):
/// the widths and depths the settings allow can multiply to billions (from `--set` or a hostile link).
pub const MAX_ENCODER_PARAMETERS: u64 = 64 << 20;

/// An encoder of `parameters` (counted in u64, so no product overflows) within [`MAX_ENCODER_PARAMETERS`].
pub fn check_encoder_parameters(encoder: &str, parameters: u64) -> Result<(), MethodError> {
    if parameters > MAX_ENCODER_PARAMETERS {
        return Err(MethodError::Invalid(format!(
            "{encoder} would have {parameters} parameters, more than {MAX_ENCODER_PARAMETERS}; choose a smaller \
             encoder_hidden_size (or fewer layers)"
        )));
    }
    Ok(())
}

/// Virtual tokens and the longest input must fit the model's position embeddings together.
pub fn check_virtual_tokens(
    method: &str,
    tokens: usize,
    max_length: usize,
    positions: usize,
) -> Result<(), MethodError> {
    if tokens == 0 {
        return Err(MethodError::Invalid(format!("{method} needs at least 1 virtual token")));
    }
    if tokens.saturating_add(max_length) > positions {
        return Err(MethodError::Invalid(format!(
            "{tokens} virtual tokens + max length {max_length} exceed the model's {positions} positions; \
             use at most {} virtual tokens (or a shorter max length)",
            positions.saturating_sub(max_length)
        )));
    }
    Ok(())
}

/// A dropout probability must lie in [0, 1) (burn's dropout refuses anything else).
pub fn check_probability(name: &str, p: f64) -> Result<(), MethodError> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(MethodError::Invalid(format!("{name} = {p} is out of range: choose a probability in [0, 1)")))
    }
}
