//! Dropout whose mask is drawn on the host by SplitMix64 and uploaded as one tensor.
//!
//! burn's `nn::Dropout` samples a Bernoulli tensor through the backend, which on the CPU backends is a sampler called
//! once per value (about 12 ns each): a quarter of a MiniLM LoRA step on one thread. SplitMix64 gives two values per
//! call in about a nanosecond, a seed gives the same masks on every backend, and on a GPU the upload (4 bytes a value,
//! 40 MB a MiniLM step at batch 16 x 64) is small beside the step.

use std::cell::RefCell;

use burn::module::{Flag, Module, Param};
use burn::nn::DropoutConfig;
use burn::tensor::{Tensor, TensorData};

use crate::rng::SplitMix64;

thread_local! {
    /// Training runs on one thread; a generator per thread keeps runs on other threads (tests) out of its sequence.
    static MASKS: RefCell<SplitMix64> = const { RefCell::new(SplitMix64::new(0)) };
}

/// Seeds the masks of every dropout layer run next on this thread.
pub fn seed_dropout(seed: u64) {
    MASKS.with(|rng| *rng.borrow_mut() = SplitMix64::new(seed));
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

    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        if !self.training.is_enabled() || !input.device().is_autodiff() || self.prob == 0.0 {
            return input;
        }
        let shape = input.shape();
        let count = shape.num_elements();
        let keep = 1.0 - self.prob;
        let (threshold, scale) = ((keep * 4_294_967_296.0) as u64, (1.0 / keep) as f32);
        let mut mask = Vec::with_capacity(count + 1);
        MASKS.with(|rng| {
            let mut rng = rng.borrow_mut();
            while mask.len() < count {
                let bits = rng.next_u64();
                for half in [bits & 0xFFFF_FFFF, bits >> 32] {
                    mask.push(if half < threshold { scale } else { 0.0 });
                }
            }
        });
        mask.truncate(count);
        let device = input.device();
        input * Tensor::from_data(TensorData::new(mask, shape), &device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped(prob: f64, seed: u64) -> Vec<f32> {
        seed_dropout(seed);
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
    fn is_the_identity_in_evaluation_and_at_zero() {
        let device = crate::device::cpu();
        let x = Tensor::<2>::ones([4, 5], &device);
        assert_eq!(Dropout::new(0.0).forward(x.clone()).into_data(), x.clone().into_data());
        let plain = Tensor::<2>::ones([4, 5], &device.inner());
        assert_eq!(Dropout::new(0.5).forward(plain.clone()).into_data(), plain.into_data());
    }
}
