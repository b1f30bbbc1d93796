//! What the training loop (`fit.rs`) needs of a task: what its examples are, how a batch's loss is computed and what
//! evaluating means (a classifier's accuracy, a language model's perplexity).

use std::future::Future;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::checkpoint::DataDigest;
use super::{TrainError, TrainEvent};

/// What the loop needs of a task (shared with the threads that train the batch's shards natively).
pub trait Task: Sync {
    type Model: Module + Sync;
    type Example: Sync;
    /// The held-out figures of one evaluation (kept in checkpoints).
    type Metrics: Clone + serde::Serialize + serde::de::DeserializeOwned;

    /// Tokens the example feeds the model: batches group by it and are padded to their longest.
    fn length(&self, example: &Self::Example) -> usize;
    /// Adds what the example is (its tokens and what is learned of them) to the digest that tells a checkpoint's
    /// training data from other data.
    fn digest(&self, example: &Self::Example, digest: &mut DataDigest);
    /// What the example weighs in its batch's mean loss: 1 for a classifier's examples, the learned tokens for a
    /// language model's (the loss is a mean over tokens).
    fn weight(&self, model: &Self::Model, example: &Self::Example) -> usize;
    /// The mean loss of `examples`, each padded to `padded_length` tokens.
    fn loss(&self, model: &Self::Model, examples: &[&Self::Example], padded_length: usize) -> Tensor<1>;
    /// The held-out figures of `model` on `examples`, run without autodiff and read back asynchronously.
    fn evaluate(
        &self,
        model: &Self::Model,
        examples: &[Self::Example],
        batch_size: usize,
    ) -> impl Future<Output = Result<Self::Metrics, TrainError>>;
    /// The event that reports an evaluation.
    fn evaluated(&self, step: usize, epoch: usize, metrics: &Self::Metrics) -> TrainEvent;
    /// The device the model's weights are on.
    fn device(&self, model: &Self::Model) -> Device;
}
