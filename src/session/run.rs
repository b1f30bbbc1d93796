//! Running one method: trained, tested and exported; and the check of a comparison's methods before it starts.

use burn::tensor::Device;

use super::Error;
use crate::method::SequenceClassifier;
use crate::method::{AttachContext, MethodConfig, TunableModel};
use crate::model::Pretrained;
use crate::share::peft::{self, AdapterFiles, RunInfo};
use crate::train::{
    Host, MethodResult, PreparedData, RunSpec, TrainConfig, Trained, evaluate, train, trainable_percent,
};

/// A finished method: its table row, the trained model and its adapter files.
pub struct TrainedMethod {
    pub result: MethodResult,
    pub model: SequenceClassifier,
    pub adapter: AdapterFiles,
}

/// A fresh classifier with the method attached, trained on `data.train` and validated on `data.val` after each epoch;
/// the test part is not looked at. Also returns the model's (trainable, total) parameter counts and its peak memory.
pub async fn train_fresh(
    pretrained: &Pretrained,
    run: &RunSpec<'_>,
    data: &PreparedData,
    device: &Device,
    host: &mut dyn Host,
) -> Result<(Trained, (usize, usize), Option<u64>), Error> {
    // The same seed for every method: the head starts identical and batches come in the same order.
    device.seed(run.config.seed);
    let model = pretrained.classifier(data.labels.len(), device)?;
    let ctx = AttachContext {
        device: device.clone(),
        max_length: run.config.max_length,
        tokenizer: Some(&pretrained.tokenizer),
    };
    let model = run.method.tuner().attach(model, &ctx)?;
    let counts = model.parameter_counts();
    host.reset_peak_memory();
    let pad_id = pretrained.tokenizer.pad_id();
    let trained = train(model, data, pad_id, run, host).await?;
    let peak_memory_bytes = host.peak_memory(device);
    Ok((trained, counts, peak_memory_bytes))
}

/// Builds a fresh classifier, attaches `method`, trains it, tests it where there is a test part, and exports its
/// adapter; its events are named after the method.
pub async fn run_method(
    pretrained: &Pretrained,
    method: &MethodConfig,
    learning_rate: f64,
    data: &PreparedData,
    config: &TrainConfig,
    device: &Device,
    host: &mut dyn Host,
) -> Result<TrainedMethod, Error> {
    let run = RunSpec { method, learning_rate, config, name: method.label() };
    run_tested(pretrained, &run, data, device, host).await
}

/// [`run_method`] for a run described by `run`.
pub async fn run_tested(
    pretrained: &Pretrained,
    run: &RunSpec<'_>,
    data: &PreparedData,
    device: &Device,
    host: &mut dyn Host,
) -> Result<TrainedMethod, Error> {
    let RunSpec { method, learning_rate, config, .. } = *run;
    let label = method.label();
    let (trained, (trainable_params, total_params), peak_memory_bytes) =
        train_fresh(pretrained, run, data, device, host).await?;
    let info = RunInfo { base_model: pretrained.name.clone(), labels: data.labels.clone(), method: method.clone() };
    let adapter = peft::export(method, &trained.model, &info).await?;
    let pad_id = pretrained.tokenizer.pad_id();
    let (test, confusion) = if data.test.is_empty() {
        (None, trained.confusion)
    } else {
        let (metrics, confusion) = evaluate(&trained.model, &data.test, pad_id, config.batch_size).await?;
        (Some(metrics), confusion)
    };
    let last = trained.evaluations.last().map(|(_, m)| m.clone());
    let result = MethodResult {
        method: label,
        config: method.clone(),
        learning_rate,
        trainable_params,
        total_params,
        trainable_percent: trainable_percent(trainable_params, total_params),
        adapter_bytes: adapter.weights.len(),
        steps: trained.steps,
        seconds_per_step: trained.seconds_per_step,
        first_step_seconds: trained.first_step_seconds,
        peak_memory_bytes,
        losses: trained.losses,
        val_loss: last.as_ref().map(|m| m.loss),
        accuracy: last.as_ref().map(|m| m.accuracy),
        macro_f1: last.as_ref().map(|m| m.macro_f1),
        evaluations: trained.evaluations,
        seed: config.seed,
        train_seconds: trained.first_step_seconds + trained.seconds_per_step * trained.steps.saturating_sub(1) as f64,
        test,
        confusion,
        adapter_config: serde_json::from_str(&adapter.config_json).expect("export writes JSON"),
    };
    Ok(TrainedMethod { result, model: trained.model, adapter })
}

/// Attaches every method to one classifier on `device` without training, so that settings the model cannot
/// take (a rank above its width, more virtual tokens than its positions, ...) are all reported before a
/// comparison spends time on the others. Returns each refused method's label and reason.
pub fn check_methods(
    pretrained: &Pretrained,
    methods: &[MethodConfig],
    num_labels: usize,
    max_length: usize,
    device: &Device,
) -> Result<Vec<(String, String)>, Error> {
    let model = pretrained.classifier(num_labels, device)?;
    let ctx = AttachContext { device: device.clone(), max_length, tokenizer: Some(&pretrained.tokenizer) };
    Ok(methods
        .iter()
        .filter_map(|m| m.tuner().attach(model.clone(), &ctx).err().map(|e| (m.label(), e.to_string())))
        .collect())
}
