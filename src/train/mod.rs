//! The training loop: async so the same code runs in a Web Worker (tensors are only read with `*_async`),
//! reporting through a [`Host`] instead of printing.

pub mod checkpoint;
pub mod fit;
pub mod lm;
pub mod metrics;
pub mod optim;
pub mod order;
mod param_path;
mod result;
pub mod shard;
pub mod task;

use std::ops::ControlFlow;

use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, ExecutionError, Int, Tensor};
use serde::{Deserialize, Serialize};

use checkpoint::DataDigest;
pub use checkpoint::{CheckpointStore, Loading, Saving, TrainingCheckpoint};
pub use metrics::{Confusion, EvalMetrics};
pub use result::{MethodResult, trainable_percent};

use crate::data::Example;
use crate::data::batch::{Batch, TokenizedExample, tokenize};
use crate::method::{MethodConfig, SequenceClassifier, TunableModel};
use crate::model::TextTokenizer;
pub use fit::{TaskRun, train_task};
pub use task::Task;

/// What one run trains: the method, its learning rate and budget, and the name its events and checkpoint carry.
pub struct RunSpec<'a> {
    pub method: &'a MethodConfig,
    pub learning_rate: f64,
    pub config: &'a TrainConfig,
    pub name: String,
}

/// The budget and optimiser settings every method of a comparison shares (the learning rate may differ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    /// Stops after this many optimiser steps when set (overrides epochs).
    pub max_steps: Option<usize>,
    pub batch_size: usize,
    pub max_length: usize,
    pub weight_decay: f64,
    /// Fraction of the steps spent warming the learning rate up from 0.
    pub warmup_ratio: f64,
    pub max_grad_norm: f64,
    pub seed: u64,
    /// Batches of similar lengths, less padding (see `order.rs`). Runs recorded before the setting had random batches.
    #[serde(default)]
    pub group_by_length: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            max_steps: None,
            batch_size: 16,
            max_length: 128,
            weight_decay: 0.01,
            warmup_ratio: 0.06,
            max_grad_norm: 1.0,
            seed: 42,
            group_by_length: true,
        }
    }
}

/// The budget's bounds: beyond them a value is a typo or a hostile link, not a plan. (The max length's depend on
/// the model: `Pretrained::check_max_length`.)
pub const MAX_EPOCHS: usize = 1_000;
pub const MAX_STEPS: usize = 10_000_000;
pub const MAX_BATCH_SIZE: usize = 4_096;

impl TrainConfig {
    pub fn total_steps(&self, train_examples: usize) -> usize {
        let per_epoch = train_examples.div_ceil(self.batch_size.max(1));
        self.max_steps.unwrap_or(per_epoch.saturating_mul(self.epochs))
    }

    /// Refuses a budget no run can use, naming the setting, its value and the valid range. The CLI, the page and
    /// the worker (settings from a link or a stored run) all check here; the maximum length's upper bound is the
    /// model's (`session::check_methods`).
    pub fn check(&self) -> Result<(), String> {
        let refuse = |name: &str, value: &dyn std::fmt::Display, range: &str| -> Result<(), String> {
            Err(format!("{name} is {value}; it must be {range}"))
        };
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return refuse("the number of epochs", &self.epochs, &format!("a whole number from 1 to {MAX_EPOCHS}"));
        }
        if let Some(steps) = self.max_steps.filter(|s| !(1..=MAX_STEPS).contains(s)) {
            return refuse("the number of steps", &steps, &format!("a whole number from 1 to {MAX_STEPS}"));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return refuse("the batch size", &self.batch_size, &format!("a whole number from 1 to {MAX_BATCH_SIZE}"));
        }
        if !(0.0..=1.0).contains(&self.weight_decay) {
            return refuse("the weight decay", &self.weight_decay, "a number from 0 to 1");
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return refuse("the warm-up ratio", &self.warmup_ratio, "a fraction of the steps from 0 to 1");
        }
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm > 0.0) {
            return refuse("the gradient clipping norm", &self.max_grad_norm, "a positive number");
        }
        Ok(())
    }

    /// Warm-up steps of a run of `total_steps`: ceil(total × ratio), as transformers' `Trainer` counts them.
    pub fn warmup_steps(&self, total_steps: usize) -> usize {
        (total_steps as f64 * self.warmup_ratio).ceil() as usize
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("the training loss became {loss} at step {step}; lower the learning rate (it was {learning_rate:.2e})")]
    NonFinite { step: usize, loss: f32, learning_rate: f64 },
    #[error(
        "the loss is {loss} on the first batch, before any update: the model's weights overflow on this data (or the \
         checkpoint is damaged); no learning rate can fix that"
    )]
    NonFiniteAtStart { loss: f32 },
    #[error("stopped by the user")]
    Cancelled,
    #[error("nothing to train on: the training split is empty")]
    NoData,
    #[error("the {0} failed: {1}")]
    Device(&'static str, String),
    /// The GPU went away (a driver reset, out of memory, a test's switch): every later operation on it fails, so the
    /// run can only go on from its last checkpoint on another device.
    #[error("the GPU was lost ({0})")]
    DeviceLost(String),
    #[error("{0}")]
    Checkpoint(String),
}

impl TrainError {
    /// A device failure may be the device going away before it says so (WebGPU reports a loss after the reads it
    /// fails): where the device cannot read back one number either, it is lost.
    pub async fn settle(self, device: &Device) -> Self {
        let Self::Device(_, message) = &self else { return self };
        match Tensor::<1>::from_floats([0.0f32], device).into_data_async().await {
            Ok(_) => self,
            Err(e @ ExecutionError::DevicePoisoned { .. }) => Self::DeviceLost(cause(&e)),
            Err(_) => Self::DeviceLost(message.clone()),
        }
    }

    /// A read-back that failed: the device lost apart from other failures.
    pub fn read_back(what: &'static str, error: ExecutionError) -> Self {
        match error {
            ExecutionError::DevicePoisoned { .. } => Self::DeviceLost(cause(&error)),
            _ => Self::Device(what, cause(&error)),
        }
    }
}

/// The innermost cause of an execution error, without its backtrace.
fn cause(error: &ExecutionError) -> String {
    let (ExecutionError::WithContext { reason }
    | ExecutionError::Generic { reason, .. }
    | ExecutionError::DevicePoisoned { reason }) = error;
    let reason = reason.split("Backtrace:").next().unwrap_or(reason);
    reason.rsplit("Caused by:").next().unwrap_or(reason).trim().to_string()
}

/// What the loop reports as it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TrainEvent {
    /// A run begins: its seed, learning rate and length.
    Started {
        seed: u64,
        learning_rate: f64,
        total_steps: usize,
    },
    Step {
        step: usize,
        total_steps: usize,
        epoch: usize,
        loss: f32,
        learning_rate: f64,
        seconds: f64,
    },
    Evaluated {
        step: usize,
        epoch: usize,
        metrics: EvalMetrics,
    },
    /// A run goes on from a checkpoint: the steps already taken and their losses (the evaluations follow as
    /// their own events).
    Resumed {
        step: usize,
        total_steps: usize,
        losses: Vec<f32>,
    },
    /// A language model's held-out loss and perplexity, and its continuation of each sample prompt.
    LmEvaluated {
        step: usize,
        epoch: usize,
        metrics: lm::LmMetrics,
        samples: Vec<lm::Sample>,
    },
}

/// What the engine needs from whoever runs it: a clock (std's `Instant` does not exist in browsers),
/// an event sink that may cancel, and memory readings where the platform has them.
pub trait Host {
    /// Seconds since any fixed origin.
    fn now(&self) -> f64;
    /// Receives progress; `Break` cancels the run.
    fn event(&mut self, method: &str, event: &TrainEvent) -> ControlFlow<()>;
    /// Starts a new peak-memory measurement.
    fn reset_peak_memory(&mut self) {}
    /// Peak bytes since the last reset, when the platform can tell.
    fn peak_memory(&mut self, _device: &Device) -> Option<u64> {
        None
    }
    /// Where runs are checkpointed and resumed from; `None`: they are not.
    fn checkpoints(&mut self) -> Option<&mut dyn CheckpointStore> {
        None
    }
}

/// The examples every method trains, validates and is tested on, tokenised once, and the label names. Choices
/// (learning rates) are made on `val`; `test`, when there is one, is only ever reported.
pub struct PreparedData {
    pub train: Vec<TokenizedExample>,
    pub val: Vec<TokenizedExample>,
    /// Empty without a test part.
    pub test: Vec<TokenizedExample>,
    pub labels: Vec<String>,
}

impl PreparedData {
    /// Tokenises every part; also returns every text's length before truncation (train, validation, test).
    pub fn tokenize(
        tokenizer: &TextTokenizer,
        train: &[Example],
        val: &[Example],
        test: &[Example],
        labels: Vec<String>,
        max_length: usize,
    ) -> (Self, Vec<usize>) {
        let (train, mut lengths) = tokenize(tokenizer, train, max_length);
        let (val, val_lengths) = tokenize(tokenizer, val, max_length);
        let (test, test_lengths) = tokenize(tokenizer, test, max_length);
        lengths.extend(val_lengths);
        lengths.extend(test_lengths);
        (Self { train, val, test, labels }, lengths)
    }
}

/// One finished training run.
pub struct Trained {
    pub model: SequenceClassifier,
    pub losses: Vec<f32>,
    pub evaluations: Vec<(usize, EvalMetrics)>,
    pub steps: usize,
    /// Mean wall time of the steps after the first (the first also compiles kernels on GPUs).
    pub seconds_per_step: f64,
    pub first_step_seconds: f64,
    /// The last validation's confusion matrix (empty without validation data).
    pub confusion: Confusion,
}

/// Mean cross-entropy of `logits` [batch, classes] against `labels`.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [batch, classes] = logits.dims();
    // One-hot by comparison: burn's `one_hot` validates its input with a synchronous read, which panics in wasm.
    let class_ids = Tensor::<1, Int>::arange(0..classes as i64, &logits.device()).reshape([1, classes]);
    let targets: Tensor<2> =
        labels.reshape([batch, 1]).expand([batch, classes]).equal(class_ids.expand([batch, classes])).float();
    log_softmax(logits, 1).mul(targets).sum_dim(1).mean().neg()
}

/// Sequence classification as a [`Task`]: cross-entropy over each example's label; accuracy, macro-F1 and the confusion
/// matrix held out.
struct Classification {
    pad_id: u32,
}

impl Task for Classification {
    type Model = SequenceClassifier;
    type Example = TokenizedExample;
    type Metrics = (EvalMetrics, Confusion);

    fn length(&self, example: &TokenizedExample) -> usize {
        example.ids.len()
    }

    fn digest(&self, example: &TokenizedExample, digest: &mut DataDigest) {
        example.ids.iter().for_each(|&id| digest.add(id.into()));
        digest.add(example.label as u64);
    }

    fn weight(&self, _model: &SequenceClassifier, _example: &TokenizedExample) -> usize {
        1
    }

    fn loss(&self, model: &SequenceClassifier, examples: &[&TokenizedExample], padded_length: usize) -> Tensor<1> {
        let batch = Batch::padded(examples, padded_length, self.pad_id, &model.device());
        cross_entropy(model.forward(batch.input_ids, batch.mask), batch.labels)
    }

    async fn evaluate(
        &self,
        model: &SequenceClassifier,
        examples: &[TokenizedExample],
        batch_size: usize,
    ) -> Result<(EvalMetrics, Confusion), TrainError> {
        evaluate(model, examples, self.pad_id, batch_size).await
    }

    fn evaluated(&self, step: usize, epoch: usize, (metrics, _): &(EvalMetrics, Confusion)) -> TrainEvent {
        TrainEvent::Evaluated { step, epoch, metrics: metrics.clone() }
    }

    fn device(&self, model: &SequenceClassifier) -> Device {
        model.device()
    }
}

/// Trains `model` (already on an autodiff device, `run.method` attached) on `data.train`, evaluating on `data.val`
/// after each epoch.
pub async fn train(
    model: SequenceClassifier,
    data: &PreparedData,
    pad_id: u32,
    run: &RunSpec<'_>,
    host: &mut dyn Host,
) -> Result<Trained, TrainError> {
    let task = Classification { pad_id };
    let device = model.classifier.weight.val().device();
    let run = match train_task(&task, model, &data.train, &data.val, run, host).await {
        Ok(run) => run,
        Err(e) => return Err(TrainError::settle(e, &device).await),
    };
    let confusion = run.evaluations.last().map(|(_, (_, confusion))| confusion.clone()).unwrap_or_else(Confusion::new);
    Ok(Trained {
        model: run.model,
        losses: run.losses,
        evaluations: run.evaluations.into_iter().map(|(step, (metrics, _))| (step, metrics)).collect(),
        steps: run.steps,
        seconds_per_step: run.seconds_per_step,
        first_step_seconds: run.first_step_seconds,
        confusion,
    })
}

/// Logits for `examples`, row-major [n, classes], computed without autodiff and read back asynchronously.
pub async fn logits(
    model: &SequenceClassifier,
    examples: &[TokenizedExample],
    pad_id: u32,
    batch_size: usize,
) -> Result<Vec<f32>, TrainError> {
    let model = model.valid();
    let device = model.classifier.weight.val().device();
    let classes = model.num_labels();
    // Batched in order of length, so each batch pads little; the rows go back to the examples' order.
    let mut by_length: Vec<usize> = (0..examples.len()).collect();
    by_length.sort_by_key(|&i| examples[i].ids.len());
    let mut out = vec![0.0; examples.len() * classes];
    for chunk in by_length.chunks(batch_size.max(1)) {
        let refs: Vec<&TokenizedExample> = chunk.iter().map(|&i| &examples[i]).collect();
        let batch = Batch::new(&refs, pad_id, &device);
        let data = model
            .forward(batch.input_ids, batch.mask)
            .into_data_async()
            .await
            .map_err(|e| TrainError::read_back("logits read-back", e))?;
        let rows = data.try_to_vec::<f32>().map_err(|e| TrainError::Device("logits conversion", format!("{e:?}")))?;
        for (&i, row) in chunk.iter().zip(rows.chunks(classes)) {
            out[i * classes..(i + 1) * classes].copy_from_slice(row);
        }
    }
    Ok(out)
}

/// Loss, accuracy, macro-F1 and the confusion matrix of `model` on `examples`.
pub async fn evaluate(
    model: &SequenceClassifier,
    examples: &[TokenizedExample],
    pad_id: u32,
    batch_size: usize,
) -> Result<(EvalMetrics, Confusion), TrainError> {
    let logits = logits(model, examples, pad_id, batch_size).await?;
    let labels: Vec<usize> = examples.iter().map(|e| e.label).collect();
    Ok(metrics::evaluate(&logits, &labels, model.num_labels()))
}

#[cfg(test)]
mod tests {
    use super::{ExecutionError, TrainConfig, TrainError};

    #[test]
    fn a_device_error_on_a_device_that_still_answers_is_not_a_loss() {
        let error = TrainError::Device("loss read-back", "timeout".into());
        let settled = pollster::block_on(error.settle(&crate::device::cpu()));
        assert!(matches!(settled, TrainError::Device("loss read-back", ref e) if e == "timeout"), "{settled}");
    }

    #[test]
    fn a_lost_device_is_told_apart_from_other_read_back_failures() {
        let lost =
            TrainError::read_back("loss read-back", ExecutionError::DevicePoisoned { reason: "Destroyed".into() });
        assert_eq!(lost.to_string(), "the GPU was lost (Destroyed)");
        let nested =
            "An error happened during execution\nCaused by:\n  the buffer could not be mapped\nBacktrace:\nnone";
        let other = TrainError::read_back("loss read-back", ExecutionError::WithContext { reason: nested.into() });
        assert_eq!(other.to_string(), "the loss read-back failed: the buffer could not be mapped");
    }

    #[test]
    fn a_budget_out_of_range_is_refused_with_its_range() {
        let ok = TrainConfig::default();
        assert_eq!(ok.check(), Ok(()));
        let cases: [(TrainConfig, &str); 10] = [
            (
                TrainConfig { epochs: 0, ..ok.clone() },
                "the number of epochs is 0; it must be a whole number from 1 to 1000",
            ),
            (TrainConfig { epochs: usize::MAX, ..ok.clone() }, "the number of epochs is 18446744073709551615"),
            (
                TrainConfig { max_steps: Some(0), ..ok.clone() },
                "the number of steps is 0; it must be a whole number from 1",
            ),
            (
                TrainConfig { batch_size: 0, ..ok.clone() },
                "the batch size is 0; it must be a whole number from 1 to 4096",
            ),
            (TrainConfig { batch_size: 100_000, ..ok.clone() }, "the batch size is 100000"),
            (
                TrainConfig { weight_decay: -0.1, ..ok.clone() },
                "the weight decay is -0.1; it must be a number from 0 to 1",
            ),
            (TrainConfig { weight_decay: f64::NAN, ..ok.clone() }, "the weight decay is NaN"),
            (TrainConfig { warmup_ratio: 2.0, ..ok.clone() }, "the warm-up ratio is 2; it must be a fraction"),
            (
                TrainConfig { max_grad_norm: 0.0, ..ok.clone() },
                "the gradient clipping norm is 0; it must be a positive",
            ),
            (TrainConfig { max_grad_norm: f64::INFINITY, ..ok.clone() }, "the gradient clipping norm is inf"),
        ];
        for (config, message) in cases {
            let refused = config.check().expect_err(message);
            assert!(refused.starts_with(message), "{refused} / {message}");
        }
    }

    #[test]
    fn hostile_budgets_do_not_overflow_the_step_count() {
        let config = TrainConfig { epochs: usize::MAX, batch_size: 1, ..TrainConfig::default() };
        assert_eq!(config.total_steps(usize::MAX), usize::MAX);
    }

    #[test]
    fn warmup_is_counted_as_transformers_trainer_counts_it() {
        let config = TrainConfig::default();
        // math.ceil(steps * 0.06): 22.5 -> 23 (Python's round gave 22), 6.12 -> 7, exactly 6.0 -> 6.
        assert_eq!(config.warmup_steps(375), 23);
        assert_eq!(config.warmup_steps(102), 7);
        assert_eq!(config.warmup_steps(100), 6);
        assert_eq!(config.warmup_steps(0), 0);
        assert_eq!(TrainConfig { warmup_ratio: 0.0, ..config }.warmup_steps(50), 0);
    }
}
