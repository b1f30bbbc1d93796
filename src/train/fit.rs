//! The training loop, written once for every [`Task`]: batches in the run's order, the learning-rate schedule, each
//! step's loss and gradients (sharded across the CPU's threads), clipping, AdamW, progress events, the held-out
//! figures after each epoch, and checkpoints to resume from.

use burn::module::Module;

use super::checkpoint::{DataDigest, Progress, RunIdentity, TrainingCheckpoint};
use super::optim::AdamW;
use super::task::Task;
use super::{Host, RunSpec, TrainError, TrainEvent, optim, order, shard};
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

/// Trains `model` (already on an autodiff device, `run.method` attached) on `train`, evaluating on `val` after each
/// epoch (not at all when `val` is empty); events carry `run.name`. Where the host keeps checkpoints, the run is
/// saved every few steps and after each evaluation, and goes on from the run's checkpoint when the store has one.
pub async fn train_task<T: Task>(
    task: &T,
    model: T::Model,
    train: &[T::Example],
    val: &[T::Example],
    spec: &RunSpec<'_>,
    host: &mut dyn Host,
) -> Result<TaskRun<T::Model, T::Metrics>, TrainError> {
    let RunSpec { learning_rate, config, name: label, .. } = spec;
    let (learning_rate, label) = (*learning_rate, label.as_str());
    if train.is_empty() {
        return Err(TrainError::NoData);
    }
    let total_steps = config.total_steps(train.len());
    let warmup = config.warmup_steps(total_steps);
    let lengths: Vec<usize> = train.iter().map(|e| task.length(e)).collect();
    let run = run_identity(task, train, spec);
    let started = TrainEvent::Started { seed: config.seed, learning_rate, total_steps };
    if host.event(label, &started).is_break() {
        return Err(TrainError::Cancelled);
    }
    let checkpoint_every = host.checkpoints().map(|store| store.every(total_steps).max(1));
    let Start { mut model, mut optimizer, mut progress, evaluations: saved, resumed } =
        start_of(task, model, train.len(), spec, &run, host).await?;
    if resumed {
        let event = TrainEvent::Resumed { step: progress.step, total_steps, losses: progress.losses.clone() };
        if host.event(label, &event).is_break() {
            return Err(TrainError::Cancelled);
        }
    }
    let mut evaluations = Vec::with_capacity(saved.len());
    for (step, metrics) in saved {
        let epoch = evaluations.len() + 1;
        if host.event(label, &task.evaluated(step, epoch, &metrics)).is_break() {
            return Err(TrainError::Cancelled);
        }
        evaluations.push((step, metrics));
    }
    // Saved when `every` steps have passed since the last checkpoint.
    let mut last_saved = progress.step;
    let checkpoint_due =
        |step: usize, last_saved: usize| checkpoint_every.is_some_and(|every| step >= last_saved + every);
    let mut order = progress.epoch_order.clone();
    let mut rng = SplitMix64::new(progress.epoch_rng);
    while progress.step < total_steps {
        progress.epoch_order.clone_from(&order);
        progress.epoch_rng = rng.state();
        let batches = order::epoch_batches(&mut order, &lengths, config.batch_size, config.group_by_length, &mut rng);
        let batch_count = batches.len();
        for (index, chunk) in batches.into_iter().enumerate().skip(progress.batches_done) {
            if progress.step >= total_steps {
                break;
            }
            let step = progress.step;
            let started = host.now();
            let examples: Vec<&T::Example> = chunk.into_iter().map(|i| &train[i]).collect();
            let learning_rate = optim::linear_schedule(learning_rate, step, warmup, total_steps);
            let mask_seed = derive_seed(config.seed, step as u64);
            let (loss, grads) = shard::loss_and_gradients(task, &model, &examples, mask_seed);
            let loss_value: f32 =
                loss.into_scalar_async().await.map_err(|e| TrainError::read_back("loss read-back", e))?;
            if !loss_value.is_finite() {
                return Err(if step == 0 {
                    TrainError::NonFiniteAtStart { loss: loss_value }
                } else {
                    TrainError::NonFinite { step: step + 1, loss: loss_value, learning_rate }
                });
            }
            let grads = optim::clip_global_norm(&model, grads, config.max_grad_norm);
            model = optimizer.step(learning_rate, model, grads);
            let seconds = host.now() - started;
            if step == 0 {
                progress.first_step_seconds = seconds;
            } else {
                progress.later_seconds += seconds;
            }
            progress.step += 1;
            progress.batches_done = index + 1;
            progress.losses.push(loss_value);
            let step = progress.step;
            let epoch = progress.epoch;
            let event = TrainEvent::Step { step, total_steps, epoch, loss: loss_value, learning_rate, seconds };
            if host.event(label, &event).is_break() {
                return Err(TrainError::Cancelled);
            }
            // An epoch's last step is saved after its evaluation.
            if checkpoint_due(step, last_saved) && step < total_steps && index + 1 < batch_count {
                save_checkpoint(host, label, &run, &progress, &model, &optimizer).await?;
                last_saved = step;
            }
        }
        progress.epoch += 1;
        (progress.epoch_order, progress.epoch_rng, progress.batches_done) = (order.clone(), rng.state(), 0);
        if !val.is_empty() {
            let metrics = task.evaluate(&model, val, config.batch_size).await?;
            let event = task.evaluated(progress.step, progress.epoch, &metrics);
            let saved = serde_json::to_value(&metrics).expect("held-out figures serialise");
            progress.evaluations.push((progress.step, saved));
            evaluations.push((progress.step, metrics));
            if host.event(label, &event).is_break() {
                return Err(TrainError::Cancelled);
            }
        }
        // Short epochs are not each saved; the run's end always is.
        if checkpoint_due(progress.step, last_saved) || (checkpoint_every.is_some() && progress.step >= total_steps) {
            save_checkpoint(host, label, &run, &progress, &model, &optimizer).await?;
            last_saved = progress.step;
        }
    }
    let Progress { step, losses, first_step_seconds, later_seconds, .. } = progress;
    let seconds_per_step = if step > 1 { later_seconds / (step - 1) as f64 } else { first_step_seconds };
    Ok(TaskRun { model, losses, evaluations, steps: step, seconds_per_step, first_step_seconds })
}

/// Where a run starts: its model, optimiser and progress, the held-out figures so far, and whether it goes on from a
/// checkpoint.
struct Start<T: Task> {
    model: T::Model,
    optimizer: AdamW,
    progress: Progress,
    evaluations: Vec<(usize, T::Metrics)>,
    resumed: bool,
}

/// The run's start: from its checkpoint where the store has one that fits the run and its model, else from the first
/// step. A checkpoint that does not fit (or cannot be read) fails the run with why, unless the store starts it afresh.
async fn start_of<T: Task>(
    task: &T,
    mut model: T::Model,
    examples: usize,
    spec: &RunSpec<'_>,
    run: &RunIdentity,
    host: &mut dyn Host,
) -> Result<Start<T>, TrainError> {
    let (weight_decay, seed, label) = (spec.config.weight_decay, spec.config.seed, spec.name.as_str());
    let fresh = |model| Start {
        model,
        optimizer: AdamW::new(weight_decay),
        progress: Progress::start((0..examples).collect(), seed),
        evaluations: Vec::new(),
        resumed: false,
    };
    let Some(store) = host.checkpoints() else { return Ok(fresh(model)) };
    let why = match store.load(label).await {
        Ok(None) => return Ok(fresh(model)),
        Err(why) => why,
        Ok(Some(checkpoint)) => {
            match run.mismatch(&checkpoint.run).map_or_else(|| saved_evaluations::<T>(&checkpoint.progress), Err) {
                Err(why) => why,
                Ok(evaluations) => {
                    let device = task.device(&model);
                    match checkpoint.restore(model, weight_decay, &device) {
                        Ok((model, optimizer)) => {
                            let progress = checkpoint.progress;
                            return Ok(Start { model, optimizer, progress, evaluations, resumed: true });
                        }
                        Err((given_back, why)) => {
                            model = given_back;
                            why
                        }
                    }
                }
            }
        }
    };
    if store.start_afresh(label, &why) { Ok(fresh(model)) } else { Err(TrainError::Checkpoint(why)) }
}

/// The held-out figures a checkpoint kept, as the task reads them.
fn saved_evaluations<T: Task>(progress: &Progress) -> Result<Vec<(usize, T::Metrics)>, String> {
    progress
        .evaluations
        .iter()
        .map(|(step, saved)| {
            let metrics = serde_json::from_value(saved.clone())
                .map_err(|e| format!("the checkpoint's evaluation at step {step} is damaged: {e}"))?;
            Ok((*step, metrics))
        })
        .collect()
}

/// What a checkpoint of this run must match.
fn run_identity<T: Task>(task: &T, train: &[T::Example], spec: &RunSpec<'_>) -> RunIdentity {
    let mut digest = DataDigest::new();
    train.iter().for_each(|example| task.digest(example, &mut digest));
    RunIdentity {
        label: spec.name.clone(),
        method: spec.method.clone(),
        learning_rate: spec.learning_rate,
        config: spec.config.clone(),
        examples: train.len(),
        data_digest: digest.hex(),
    }
}

/// Reads the run back from the device and hands it to the host's store.
async fn save_checkpoint<M: Module>(
    host: &mut dyn Host,
    label: &str,
    run: &RunIdentity,
    progress: &Progress,
    model: &M,
    optimizer: &AdamW,
) -> Result<(), TrainError> {
    let checkpoint = TrainingCheckpoint::capture(run.clone(), progress.clone(), model, optimizer).await?;
    if let Some(store) = host.checkpoints() {
        store.save(label, checkpoint).await;
    }
    Ok(())
}
