//! Dropout whose mask is drawn on the host by SplitMix64 and uploaded as one tensor.
//!
//! burn's `nn::Dropout` samples a Bernoulli tensor through the backend, which on the CPU backends is a sampler called
//! once per value (about 12 ns each): a quarter of a MiniLM LoRA step on one thread. SplitMix64 gives two values per
//! call in about a nanosecond, a seed gives the same masks on every backend, and on a GPU the upload (4 bytes a value,
//! 40 MB a MiniLM step at batch 16 x 64) is small beside the step.
//!
//! A mask depends on the step's seed, the layer's place in the forward pass and the example's row in the batch, never
//! on how the batch is split: a batch trained in shards side by side (`train::shard`) gets the masks it gets whole.
use std::cell::RefCell;
use std::ops::Range;

use burn::module::{Flag, Module, Param};
use burn::nn::DropoutConfig;
use burn::tensor::{Tensor, TensorData};

use crate::rng::{SplitMix64, derive_seed};

/// Where the forward pass running on this thread draws its masks from.
struct MaskStream {
    seed: u64,
    /// The batch rows of the examples this thread runs.
    examples: Range<u64>,
    /// Dropout calls so far in this forward pass: each call's masks are a stream of their own.
    calls: u64,
}

thread_local! {
    static MASKS: RefCell<MaskStream> = const { RefCell::new(MaskStream { seed: 0, examples: 0..1, calls: 0 }) };
}

/// Seeds the masks of the forward pass run on this thread while the returned scope lives: `seed` names the step,
/// `examples` are the batch rows of the examples it runs.
pub fn start_masks(seed: u64, examples: Range<usize>) -> MaskScope {
    let examples = examples.start as u64..examples.end as u64;
    let outer = MASKS.with(|masks| masks.replace(MaskStream { seed, examples, calls: 0 }));
    MaskScope { outer: Some(outer) }
}

/// Gives the thread back the masks it drew before: a rayon thread waiting inside a kernel of one shard may run another
/// shard's whole forward pass meanwhile, and the first shard must then go on with its own stream.
#[must_use = "the masks go back to the outer stream when the scope drops"]
pub struct MaskScope {
    outer: Option<MaskStream>,
}

impl Drop for MaskScope {
    fn drop(&mut self) {
        if let Some(outer) = self.outer.take() {
            MASKS.with(|masks| *masks.borrow_mut() = outer);
        }
    }
}

/// `nn.Dropout`: during training zeroes each value with probability `prob` and scales the rest by 1 / (1 - prob);
/// the identity off the autodiff device (evaluation), at `prob` 0 or when frozen with `Module::freeze`.
#[derive(Module, Debug)]
pub struct Dropout {
    pub prob: f64,
    pub training: Param<Flag>,
}

impl Dropout {
    pub fn new(prob: f64) -> Self {
        let burn::nn::Dropout { prob, training } = DropoutConfig::new(prob).init();
        Self { prob, training }
    }

    /// Dropout on a tensor laid out example by example (the batch first, also flattened with the tokens as
    /// [batch * seq, hidden]): each example's values have a mask of their own.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        self.apply(input, true)
    }

    /// Dropout on a tensor that is not per example (a prompt encoder's table, computed once per forward pass): every
    /// shard of a batch draws the same mask for it.
    pub fn forward_unbatched<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        self.apply(input, false)
    }

    fn apply<const D: usize>(&self, input: Tensor<D>, per_example: bool) -> Tensor<D> {
        if !self.training.is_enabled() || !input.device().is_autodiff() || self.prob == 0.0 {
            return input;
        }
        let shape = input.shape();
        let count = shape.num_elements();
        let keep = 1.0 - self.prob;
        let (threshold, scale) = ((keep * 4_294_967_296.0) as u64, (1.0 / keep) as f32);
        let mut mask = Vec::with_capacity(count + 1);
        MASKS.with(|masks| {
            let mut masks = masks.borrow_mut();
            let call = derive_seed(masks.seed, masks.calls);
            masks.calls += 1;
            let examples = masks.examples.clone();
            let rows: Vec<u64> = if per_example && !examples.is_empty() { examples.collect() } else { vec![u64::MAX] };
            assert_eq!(count % rows.len(), 0, "a per-example tensor of {count} values for {} examples", rows.len());
            let row_len = count / rows.len();
            for row in rows {
                let mut rng = SplitMix64::new(derive_seed(call, row));
                let end = mask.len() + row_len;
                while mask.len() < end {
                    let bits = rng.next_u64();
                    for half in [bits & 0xFFFF_FFFF, bits >> 32] {
                        mask.push(if half < threshold { scale } else { 0.0 });
                    }
                }
                mask.truncate(end);
            }
        });
        let device = input.device();
        input * Tensor::from_data(TensorData::new(mask, shape), &device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped(prob: f64, seed: u64) -> Vec<f32> {
        let _masks = start_masks(seed, 0..64);
        let device = crate::device::cpu();
        let ones = Tensor::<2>::ones([64, 1000], &device);
        Dropout::new(prob).forward(ones).into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn zeroes_prob_of_the_values_and_scales_the_rest() {
        let values = dropped(0.1, 7);
        let kept = values.iter().filter(|&&v| v != 0.0).count() as f64 / values.len() as f64;
        assert!((kept - 0.9).abs() < 0.005, "kept {kept}");
        assert!(values.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.9).abs() < 1e-6));
        assert_eq!(values, dropped(0.1, 7), "the same seed gives the same mask");
        assert_ne!(values, dropped(0.1, 8));
    }

    #[test]
    fn an_example_gets_the_same_mask_whichever_shard_runs_it() {
        let device = crate::device::cpu();
        let dropout = Dropout::new(0.5);
        let ones = |rows| Tensor::<3>::ones([rows, 3, 50], &device);
        let masks = |examples: Range<usize>| {
            let rows = examples.len();
            let _masks = start_masks(11, examples);
            let batched = dropout.forward(ones(rows)).into_data().try_to_vec::<f32>().unwrap();
            let flat: Tensor<2> = ones(rows).reshape([rows * 3, 50]);
            let flat = dropout.forward(flat).into_data().try_to_vec::<f32>().unwrap();
            let table = dropout.forward_unbatched(ones(2)).into_data().try_to_vec::<f32>().unwrap();
            (batched, flat, table)
        };
        let (whole, whole_flat, table) = masks(0..4);
        let (first, first_flat, first_table) = masks(0..2);
        let (second, second_flat, second_table) = masks(2..4);
        assert_eq!(whole, [first, second].concat(), "examples 0-1 and 2-3 as two shards");
        assert_eq!(whole_flat, [first_flat, second_flat].concat(), "[examples * tokens, hidden] too");
        assert_eq!(table, first_table, "a table not per example has one mask for every shard");
        assert_eq!(table, second_table);
        let _masks = start_masks(12, 0..4);
        assert_ne!(dropout.forward(ones(4)).into_data().try_to_vec::<f32>().unwrap(), whole, "another step's seed");
    }

    #[test]
    fn a_nested_scope_gives_the_outer_stream_back() {
        let device = crate::device::cpu();
        let dropout = Dropout::new(0.5);
        let draw = || dropout.forward(Tensor::<2>::ones([2, 40], &device)).into_data().try_to_vec::<f32>().unwrap();
        let plain = {
            let _outer = start_masks(5, 0..2);
            (draw(), draw())
        };
        let nested = {
            let _outer = start_masks(5, 0..2);
            let first = draw();
            {
                let _inner = start_masks(6, 2..4);
                draw();
            }
            (first, draw())
        };
        assert_eq!(plain, nested, "another shard run in between does not move this one's stream");
    }

    #[test]
    fn is_the_identity_in_evaluation_and_at_zero() {
        let device = crate::device::cpu();
        let x = Tensor::<2>::ones([4, 5], &device);
        assert_eq!(Dropout::new(0.0).forward(x.clone()).into_data(), x.clone().into_data());
        let plain = Tensor::<2>::ones([4, 5], &device.inner());
        assert_eq!(Dropout::new(0.5).forward(plain.clone()).into_data(), plain.into_data());
    }
}
