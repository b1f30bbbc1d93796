//! One step's loss and gradients, the batch split into shards that train side by side on the CPU's threads.
//!
//! burn-flex splits each kernel's work across rayon threads, which does not pay at MiniLM's sizes: two threads ran a
//! LoRA step slower than one (26.8 against 29.1 examples/s). Whole shards of the batch do pay. Each shard runs the
//! forward and backward pass of its examples on a fork of the model (the same weights, an autodiff graph of its own)
//! and the gradients are summed. A shard's loss is its mean scaled by its share of the batch, so the sum is the whole
//! batch's mean loss and its gradient; dropout masks follow the example, not the shard (`model::dropout`). The result
//! is the one-piece batch's up to float rounding, whatever the thread count.

use std::ops::Range;

use burn::module::{Module, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use super::optim::float_params;
use super::task::Task;
use crate::model::dropout::start_masks;

/// The batch's mean loss and its gradients; `mask_seed` names the step's dropout masks.
pub fn loss_and_gradients<T: Task>(
    task: &T,
    model: &T::Model,
    examples: &[&T::Example],
    mask_seed: u64,
) -> (Tensor<1>, GradientsParams) {
    let device = task.device(model);
    let weights: Vec<usize> = examples.iter().map(|e| task.weight(model, e)).collect();
    // Padded as the whole batch is: a mask's values are laid out by the padded length.
    let longest = examples.iter().map(|e| task.length(e)).max().unwrap_or(1).max(1);
    let shards = shard_ranges(examples.len(), longest, shard_count(&device));
    let shard = |model: &T::Model, rows: Range<usize>| {
        let share = weights[rows.clone()].iter().sum::<usize>() as f64 / weights.iter().sum::<usize>().max(1) as f64;
        let _masks = start_masks(mask_seed, rows.clone());
        let mut loss = task.loss(model, &examples[rows], longest);
        if share < 1.0 {
            loss = loss.mul_scalar(share);
        }
        let grads = GradientsParams::from_grads(loss.backward(), model);
        // Only the value is wanted now: a sum of the graphs' roots would keep the graphs.
        (loss.detach(), grads)
    };
    if let [whole] = shards.as_slice() {
        return shard(model, whole.clone());
    }
    let mut parts = map_shards(shards, |rows| shard(&model.clone().fork(&device), rows)).into_iter();
    let (mut loss, mut grads) = parts.next().expect("at least two shards");
    let params = float_params(model);
    for (shard_loss, mut shard_grads) in parts {
        loss = loss + shard_loss;
        for &(id, rank) in &params {
            match rank {
                1 => add_gradient::<1>(&mut grads, &mut shard_grads, id),
                2 => add_gradient::<2>(&mut grads, &mut shard_grads, id),
                3 => add_gradient::<3>(&mut grads, &mut shard_grads, id),
                4 => add_gradient::<4>(&mut grads, &mut shard_grads, id),
                _ => unreachable!("the models have parameters of rank 1 to 4"),
            }
        }
    }
    (loss, grads)
}

/// A shard of fewer examples than this, and fewer tokens than [`MIN_SHARD_TOKENS`], would not keep a thread's matmuls
/// busy; and every shard holds a set of gradients (full fine-tuning: one copy of the model) until they are summed.
const MIN_SHARD_EXAMPLES: usize = 4;

/// Tokens that keep a thread busy as a shard whatever its examples (4 of MiniLM's 64-token benchmark rows): a
/// decoder's batches are few long sequences (SmolLM2's benchmark: 4 x 128).
const MIN_SHARD_TOKENS: usize = 256;

/// One shard per CPU thread natively; one on GPUs (a shard would only halve each kernel's work) and in wasm (one
/// thread a worker).
fn shard_count(device: &burn::tensor::Device) -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    if device.clone().inner() == burn::tensor::Device::flex() {
        return rayon::current_num_threads();
    }
    let _ = device;
    1
}

/// Up to `count` shards of `len` rows of `padded_length` tokens as even as they come, each of at least
/// `MIN_SHARD_EXAMPLES` rows or `MIN_SHARD_TOKENS` tokens where the batch has them.
fn shard_ranges(len: usize, padded_length: usize, count: usize) -> Vec<Range<usize>> {
    let by_rows = len / MIN_SHARD_EXAMPLES;
    let by_tokens = (len * padded_length / MIN_SHARD_TOKENS).min(len);
    let count = count.min(by_rows.max(by_tokens)).max(1);
    (0..count).map(|i| i * len / count..(i + 1) * len / count).collect()
}

#[cfg(not(target_arch = "wasm32"))]
fn map_shards<T: Send>(shards: Vec<Range<usize>>, run: impl Fn(Range<usize>) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    shards.into_par_iter().map(run).collect()
}

/// In wasm there is one shard (see `shard_count`); this keeps the one code path compiling there.
#[cfg(target_arch = "wasm32")]
fn map_shards<T>(shards: Vec<Range<usize>>, run: impl Fn(Range<usize>) -> T) -> Vec<T> {
    shards.into_iter().map(run).collect()
}

/// Adds the shard's gradient of `id` to the total, in place where the backend can: each is taken out of its holder,
/// so no third copy of a full fine-tuning's gradients is made.
fn add_gradient<const D: usize>(total: &mut GradientsParams, shard: &mut GradientsParams, id: ParamId) {
    let Some(g) = shard.remove::<D>(id) else { return };
    let sum = match total.remove::<D>(id) {
        Some(t) => t + g,
        None => g,
    };
    total.register(id, sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_evenly() {
        assert_eq!(shard_ranges(16, 8, 2), vec![0..8, 8..16]);
        assert_eq!(shard_ranges(9, 8, 2), vec![0..4, 4..9]);
        assert_eq!(shard_ranges(16, 8, 16), vec![0..4, 4..8, 8..12, 12..16], "at least 4 examples a shard");
        assert_eq!(shard_ranges(3, 8, 8), vec![0..3], "a batch too small to split");
        assert_eq!(shard_ranges(7, 8, 1), vec![0..7]);
        assert_eq!(shard_ranges(4, 128, 2), vec![0..2, 2..4], "or 256 tokens a shard");
        assert_eq!(shard_ranges(4, 128, 8), vec![0..2, 2..4]);
        assert_eq!(shard_ranges(2, 1024, 8), vec![0..1, 1..2], "never an empty shard");
    }
}
