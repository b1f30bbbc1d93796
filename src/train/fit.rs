//! The training loop, written once for every [`Task`]: batches in the run's order, the learning-rate schedule, each
//! step's loss and gradients (sharded across the CPU's threads), clipping, AdamW, progress events, the held-out
//! figures after each epoch, and checkpoints to resume from.

use burn::module::Module;

use super::checkpoint::{CheckpointStore, DataDigest, Progress, RunIdentity, TrainingCheckpoint};
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
    let resumed = match host.checkpoints() {
        Some(store) => resumable(store, label, &run, &model).await?,
        None => None,
    };
    let (mut model, mut optimizer, mut progress) = match resumed {
        None => {
            let order = (0..train.len()).collect();
            (model, AdamW::new(config.weight_decay), Progress::start(order, config.seed))
        }
        Some(checkpoint) => {
            let device = task.device(&model);
            let (model, optimizer) = checkpoint
                .restore(model, config.weight_decay, &device)
                .map_err(|(_, why)| TrainError::Checkpoint(why))?;
            let progress = checkpoint.progress;
            let event = TrainEvent::Resumed { step: progress.step, total_steps, losses: progress.losses.clone() };
            if host.event(label, &event).is_break() {
                return Err(TrainError::Cancelled);
            }
            (model, optimizer, progress)
        }
    };
    let mut evaluations = Vec::with_capacity(progress.evaluations.len());
    for (step, saved) in &progress.evaluations {
        let metrics: T::Metrics = serde_json::from_value(saved.clone()).map_err(|e| {
            TrainError::Checkpoint(format!("the checkpoint's evaluation at step {step} is damaged: {e}"))
        })?;
        let epoch = evaluations.len() + 1;
        if host.event(label, &task.evaluated(*step, epoch, &metrics)).is_break() {
            return Err(TrainError::Cancelled);
        }
        evaluations.push((*step, metrics));
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

/// The checkpoint to resume `label` from: none saved, or one that fits the run and its model; one that does not (or
/// cannot be read) fails the run with why, unless the store starts the run afresh.
async fn resumable<M: Module>(
    store: &mut dyn CheckpointStore,
    label: &str,
    run: &RunIdentity,
    model: &M,
) -> Result<Option<TrainingCheckpoint>, TrainError> {
    let why = match store.load(label).await {
        Ok(None) => return Ok(None),
        Ok(Some(checkpoint)) => match run.mismatch(&checkpoint.run).or_else(|| checkpoint.misfit(model)) {
            None => return Ok(Some(checkpoint)),
            Some(why) => why,
        },
        Err(why) => why,
    };
    if store.start_afresh(label, &why) { Ok(None) } else { Err(TrainError::Checkpoint(why)) }
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
