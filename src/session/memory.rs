//! What training needs in memory, estimated before it starts from the model's shape, the method and the batch, so
//! that a run which cannot fit is refused with a batch that does, instead of stopping the worker or the GPU midway.

use serde::{Deserialize, Serialize};

use crate::method::MethodConfig;
use crate::model::{Checkpoint, Pretrained};

/// The sizes of an encoder that its training memory follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelShape {
    pub parameters: u64,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub intermediate: u64,
    /// The bytes of model.safetensors, which the worker keeps beside the tensors built from it.
    pub file_bytes: u64,
}

impl ModelShape {
    pub fn of(pretrained: &Pretrained) -> Self {
        let c = &pretrained.config;
        Self {
            parameters: Checkpoint::parse(&pretrained.weights).map_or(0, |ck| ck.parameter_count() as u64),
            layers: c.num_hidden_layers as u64,
            hidden: c.hidden_size as u64,
            heads: c.num_attention_heads as u64,
            intermediate: c.intermediate_size as u64,
            file_bytes: pretrained.weights.len() as u64,
        }
    }
}

/// What one run needs, in bytes (f32 throughout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// The model's file and the tensors built from it.
    pub weights: u64,
    /// Gradients and AdamW's two moments of what trains (all of the model for full fine-tuning; a few per cent of it
    /// at most for the others).
    pub training_state: u64,
    /// What the forward pass keeps for the backward pass, over every layer.
    pub activations: u64,
    /// The largest single tensor: a layer's attention scores or its feed-forward activations.
    pub largest_tensor: u64,
}

/// Tensors a layer keeps per token for the backward pass, of the hidden size (inputs of the projections, queries,
/// keys, values, the attention's output, residuals and layer norms) and of the feed-forward size (before and after
/// the activation, with dropout); and per attention score (scores, scaled and masked, probabilities, dropout mask).
const KEPT_HIDDEN: u64 = 14;
const KEPT_INTERMEDIATE: u64 = 3;
const KEPT_SCORES: u64 = 4;
/// What a method other than full fine-tuning trains, as a share of the model at most (prefix tuning's MLP on MiniLM
/// is 12 %).
const PEFT_SHARE_BOUND: f64 = 0.15;

impl MemoryEstimate {
    pub fn new(shape: &ModelShape, method: &MethodConfig, batch: usize, max_length: usize) -> Self {
        let (batch, length) = (batch as u64, (max_length + method.virtual_tokens()) as u64);
        let tokens = batch * length;
        let scores = batch * shape.heads * length * length;
        let per_layer =
            tokens * (KEPT_HIDDEN * shape.hidden + KEPT_INTERMEDIATE * shape.intermediate) + KEPT_SCORES * scores;
        // The head alone trains on the encoder's output: nothing of the frozen layers is kept, one layer at a time
        // is alive.
        let layers_kept = if matches!(method, MethodConfig::Head(_)) { 1 } else { shape.layers };
        let trained = match method {
            MethodConfig::Full(_) => shape.parameters,
            MethodConfig::Head(_) => 0,
            _ => (shape.parameters as f64 * PEFT_SHARE_BOUND) as u64,
        };
        Self {
            weights: shape.file_bytes + 4 * shape.parameters,
            training_state: 3 * 4 * trained,
            activations: 4 * layers_kept * per_layer,
            largest_tensor: 4 * scores.max(tokens * shape.intermediate),
        }
    }

    pub fn total(&self) -> u64 {
        self.weights + self.training_state + self.activations
    }
}

/// What the device training runs on allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryLimits {
    /// Memory for everything a run holds (a browser worker's wasm memory), where it is bounded.
    pub total: Option<u64>,
    /// The largest buffer one tensor may have (a GPU's max storage binding).
    pub largest_tensor: Option<u64>,
}

fn mib(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

impl MemoryLimits {
    /// Why `estimate` does not fit, if it does not.
    fn refusal(&self, estimate: &MemoryEstimate) -> Option<String> {
        if let Some(limit) = self.total
            && estimate.total() > limit
        {
            return Some(format!(
                "needs about {} (activations {}), more than the {} it may use",
                mib(estimate.total()),
                mib(estimate.activations),
                mib(limit)
            ));
        }
        if let Some(limit) = self.largest_tensor
            && estimate.largest_tensor > limit
        {
            return Some(format!(
                "needs {} in one buffer (a layer's attention scores or feed-forward activations), more than the {} \
                 this GPU allows",
                mib(estimate.largest_tensor),
                mib(limit)
            ));
        }
        None
    }

    /// The run's estimate where it fits; else what it needs, and the largest batch (halving it, then the length)
    /// that fits.
    pub fn check(
        &self,
        shape: &ModelShape,
        method: &MethodConfig,
        batch: usize,
        max_length: usize,
    ) -> Result<MemoryEstimate, String> {
        let estimate = MemoryEstimate::new(shape, method, batch, max_length);
        let Some(why) = self.refusal(&estimate) else { return Ok(estimate) };
        let fits = |batch, length| self.refusal(&MemoryEstimate::new(shape, method, batch, length)).is_none();
        let smaller_batch = std::iter::successors(Some(batch / 2), |b| (*b > 1).then_some(b / 2))
            .take_while(|b| *b >= 1)
            .find(|&b| fits(b, max_length));
        let suggestion = match smaller_batch {
            Some(b) => format!("a batch of {b} fits"),
            None => {
                match std::iter::successors(Some(max_length / 2), |l| (*l > 8).then_some(l / 2)).find(|&l| fits(1, l)) {
                    Some(l) => format!("not even a batch of 1 fits at this length; a max length of {l} does"),
                    None => "no batch fits: the model alone is too big".into(),
                }
            }
        };
        Err(format!("{} at batch {batch} × {max_length} tokens {why}: {suggestion}", method.label()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::catalog;

    /// all-MiniLM-L6-v2's sizes.
    const MINILM: ModelShape = ModelShape {
        parameters: 22_713_216,
        layers: 6,
        hidden: 384,
        heads: 12,
        intermediate: 1536,
        file_bytes: 90_868_376,
    };

    fn method(key: &str) -> MethodConfig {
        catalog().into_iter().find(|e| e.key == key).expect("in the catalog").config
    }

    #[test]
    fn activations_grow_with_the_batch_and_faster_with_the_length() {
        let lora = method("lora");
        let small = MemoryEstimate::new(&MINILM, &lora, 16, 64);
        let twice_batch = MemoryEstimate::new(&MINILM, &lora, 32, 64);
        let twice_length = MemoryEstimate::new(&MINILM, &lora, 16, 128);
        assert_eq!(twice_batch.activations, 2 * small.activations);
        assert!(twice_length.activations > 2 * small.activations, "attention is quadratic in the length");
        assert_eq!(small.weights, twice_length.weights);
        let full = MemoryEstimate::new(&MINILM, &method("full"), 16, 64);
        assert_eq!(full.training_state, 12 * MINILM.parameters, "full fine-tuning: gradients and two moments");
        let head = MemoryEstimate::new(&MINILM, &method("head"), 16, 64);
        assert!(head.activations * 6 == small.activations && head.training_state == 0, "the head keeps one layer");
    }

    #[test]
    fn a_run_that_does_not_fit_is_refused_with_a_batch_that_does() {
        let lora = method("lora");
        let browser = MemoryLimits { total: Some(3 << 30), largest_tensor: None };
        assert!(browser.check(&MINILM, &lora, 16, 64).is_ok());
        let refused = browser.check(&MINILM, &lora, 256, 512).unwrap_err();
        assert!(refused.starts_with("lora r8 at batch 256 × 512 tokens needs about"), "{refused}");
        let suggested: usize =
            refused.rsplit("a batch of ").next().and_then(|s| s.split(' ').next()).unwrap().parse().unwrap();
        assert!(browser.check(&MINILM, &lora, suggested, 512).is_ok(), "{refused}");
        assert!(browser.check(&MINILM, &lora, suggested * 2, 512).is_err(), "the largest that fits: {refused}");
        let gpu = MemoryLimits { total: None, largest_tensor: Some(128 << 20) };
        let refused = gpu.check(&MINILM, &lora, 64, 512).unwrap_err();
        assert!(refused.contains("in one buffer") && refused.contains("128 MiB this GPU allows"), "{refused}");
        let tiny = MemoryLimits { total: Some(100 << 20), largest_tensor: None };
        let refused = tiny.check(&MINILM, &lora, 16, 64).unwrap_err();
        assert!(
            refused.ends_with("more than the 100 MiB it may use: no batch fits: the model alone is too big"),
            "{refused}"
        );
    }
}
