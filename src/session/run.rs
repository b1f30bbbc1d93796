//! Running methods: one trained and exported, or a comparison in which every method gets the same split, seed and
//! budget, one failing method is reported and the others still run.

use burn::tensor::Device;

use super::Error;
use crate::method::SequenceClassifier;
use crate::method::{AttachContext, MethodConfig};
use crate::model::Pretrained;
use crate::share::peft::{self, AdapterFiles, RunInfo};
use crate::train::{Host, MethodResult, PreparedData, TrainConfig, TrainError, train};

/// A finished method: its table row, the trained model and its adapter files.
pub struct TrainedMethod {
    pub result: MethodResult,
    pub model: SequenceClassifier,
    pub adapter: AdapterFiles,
}

/// Builds a fresh classifier, attaches `method`, trains it and exports its adapter.
pub async fn run_method(
    pretrained: &Pretrained,
    method: &MethodConfig,
    learning_rate: f64,
    data: &PreparedData,
    config: &TrainConfig,
    device: &Device,
    host: &mut dyn Host,
) -> Result<TrainedMethod, Error> {
    // The same seed for every method: the head starts identical and batches come in the same order.
    device.seed(config.seed);
    let model = pretrained.classifier(data.labels.len(), device)?;
    let ctx =
        AttachContext { device: device.clone(), max_length: config.max_length, tokenizer: Some(&pretrained.tokenizer) };
    let model = method.method().attach(model, &ctx)?;
    let (trainable_params, total_params) = model.parameter_counts();
    host.reset_peak_memory();
    let label = method.label();
    let trained = train(model, data, pretrained.tokenizer.pad_id(), config, learning_rate, &label, host).await?;
    let peak_memory_bytes = host.peak_memory(device);
    let info = RunInfo { base_model: pretrained.name.clone(), labels: data.labels.clone(), method: method.clone() };
    let adapter = peft::export(method, &trained.model, &info).await?;
    let last = trained.evaluations.last().map(|(_, m)| m.clone());
    let result = MethodResult {
        method: label,
        config: method.clone(),
        learning_rate,
        trainable_params,
        total_params,
        trainable_percent: 100.0 * trainable_params as f64 / total_params.max(1) as f64,
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
        .filter_map(|m| m.method().attach(model.clone(), &ctx).err().map(|e| (m.label(), e.to_string())))
        .collect())
}

/// Runs each `(method, learning rate)` in turn. A method that fails (bad settings, NaN loss) yields its error
/// and the rest continue; cancelling stops the whole comparison.
pub async fn compare(
    pretrained: &Pretrained,
    methods: &[(MethodConfig, f64)],
    data: &PreparedData,
    config: &TrainConfig,
    device: &Device,
    host: &mut dyn Host,
) -> Vec<(MethodConfig, Result<MethodResult, Error>)> {
    let mut out = Vec::new();
    for (method, learning_rate) in methods {
        let result = run_method(pretrained, method, *learning_rate, data, config, device, host).await.map(|t| t.result);
        let cancelled = matches!(result, Err(Error::Train(TrainError::Cancelled)));
        out.push((method.clone(), result));
        if cancelled {
            break;
        }
    }
    out
}
