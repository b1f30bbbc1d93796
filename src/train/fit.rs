//! The training loop, written once for every [`Task`]: batches in the run's order, the learning-rate schedule, each
//! step's loss and gradients (sharded across the CPU's threads), clipping, AdamW, progress events, and the held-out
//! figures after each epoch.

use super::task::Task;
use super::{Host, TrainConfig, TrainError, TrainEvent, optim, order, shard};
use crate::rng::{SplitMix64, derive_seed};

/// One finished run of a task.
pub struct TaskRun<M, E> {
    pub model: M,
    pub losses: Vec<f32>,
    /// After each epoch: the step and the held-out figures.
    pub evaluations: Vec<(usize, E)>,
    pub steps: usize,
    /// Mean wall time of the steps after the first (the first also compiles kernels on GPUs).
    pub seconds_per_step: f64,
    pub first_step_seconds: f64,
}

/// Trains `model` (already on an autodiff device, method attached) on `train`, evaluating on `val` after each epoch
/// (not at all when `val` is empty). `label` names the run in events.
#[allow(clippy::too_many_arguments)]
pub async fn train_task<T: Task>(
    task: &T,
    mut model: T::Model,
    train: &[T::Example],
    val: &[T::Example],
    config: &TrainConfig,
    learning_rate: f64,
    label: &str,
    host: &mut dyn Host,
) -> Result<TaskRun<T::Model, T::Metrics>, TrainError> {
    if train.is_empty() {
        return Err(TrainError::NoData);
    }
    let total_steps = config.total_steps(train.len());
    let warmup = config.warmup_steps(total_steps);
    let mut optimizer = optim::adamw(config.weight_decay);
    let mut rng = SplitMix64::new(config.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let lengths: Vec<usize> = train.iter().map(|e| task.length(e)).collect();
    let (mut losses, mut evaluations) = (Vec::new(), Vec::new());
    let (mut step, mut epoch) = (0, 0);
    let started = TrainEvent::Started { seed: config.seed, learning_rate, total_steps };
    if host.event(label, &started).is_break() {
        return Err(TrainError::Cancelled);
    }
    let (mut first_step_seconds, mut later_seconds) = (0.0, 0.0);
    while step < total_steps {
        for chunk in order::epoch_batches(&mut order, &lengths, config.batch_size, config.group_by_length, &mut rng) {
            if step >= total_steps {
                break;
            }
            let started = host.now();
            let examples: Vec<&T::Example> = chunk.into_iter().map(|i| &train[i]).collect();
            let learning_rate = optim::linear_schedule(learning_rate, step, warmup, total_steps);
            let mask_seed = derive_seed(config.seed, step as u64);
            let (loss, grads) = shard::loss_and_gradients(task, &model, &examples, mask_seed);
            let loss_value: f32 =
                loss.into_scalar_async().await.map_err(|e| TrainError::Device("loss read-back", format!("{e:?}")))?;
            if !loss_value.is_finite() {
                return Err(if step == 0 {
                    TrainError::NonFiniteAtStart { loss: loss_value }
                } else {
                    TrainError::NonFinite { step: step + 1, loss: loss_value, learning_rate }
                });
            }
            let grads = optim::clip_global_norm(&model, grads, config.max_grad_norm);
            model = optimizer.step(learning_rate, model, grads);
            step += 1;
            losses.push(loss_value);
            let seconds = host.now() - started;
            if step == 1 {
                first_step_seconds = seconds;
            } else {
                later_seconds += seconds;
            }
            let event = TrainEvent::Step { step, total_steps, epoch, loss: loss_value, learning_rate, seconds };
            if host.event(label, &event).is_break() {
                return Err(TrainError::Cancelled);
            }
        }
        epoch += 1;
        if !val.is_empty() {
            let metrics = task.evaluate(&model, val, config.batch_size).await?;
            let event = task.evaluated(step, epoch, &metrics);
            evaluations.push((step, metrics));
            if host.event(label, &event).is_break() {
                return Err(TrainError::Cancelled);
            }
        }
    }
    let seconds_per_step = if step > 1 { later_seconds / (step - 1) as f64 } else { first_step_seconds };
    Ok(TaskRun { model, losses, evaluations, steps: step, seconds_per_step, first_step_seconds })
}
