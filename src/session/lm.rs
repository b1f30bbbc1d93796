//! Fine-tuning a decoder: its dataset tokenised and split, the base model's held-out perplexity and samples, one
//! method trained with perplexity and samples after each epoch, and its adapter in peft's format (`CAUSAL_LM`).

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::Error;
use crate::data::generation::{Example, GenerationData};
use crate::data::lm::{LmExample, LmTokenizing, tokenize_lm};
use crate::method::{AttachContext, CausalLm, MethodConfig, TunableModel};
use crate::model::decoder::PretrainedDecoder;
use crate::rng::{SplitMix64, derive_seed};
use crate::share::peft::{self, AdapterFiles, RunInfo};
pub use crate::train::lm::LmEvaluation;
use crate::train::lm::{LanguageModeling, evaluate_lm, samples};
use crate::train::{Host, RunSpec, TrainConfig, TrainError, TrainEvent, train_task};

/// Held-out examples whose opening a sample continues after each epoch.
pub const SAMPLE_PROMPTS: usize = 2;

/// The opening of a plain-text example that its sample continues, in tokens (at most half the example).
const SAMPLE_OPENING_TOKENS: usize = 8;

/// A decoder's dataset, tokenised and split.
#[derive(Debug, Clone)]
pub struct LmData {
    pub train: Vec<LmExample>,
    pub val: Vec<LmExample>,
    /// What tokenising did (both parts together).
    pub tokenizing: LmTokenizing,
    /// The prompts the samples continue, as ids.
    pub sample_prompts: Vec<Vec<u32>>,
}

/// Tokenises `data` for `pretrained` (conversations through its chat template) within `max_length` tokens and holds
/// out `val` or, without it, a seeded `val_fraction` of the examples (of the pieces, for a whole file), at least one
/// of each part where there are two examples.
pub fn prepare_lm(
    pretrained: &PretrainedDecoder,
    data: &GenerationData,
    val: Option<&GenerationData>,
    val_fraction: f64,
    seed: u64,
    max_length: usize,
) -> Result<LmData, Error> {
    if !(0.0..1.0).contains(&val_fraction) {
        return Err(Error::Settings(format!("the validation fraction {val_fraction} must be at least 0 and below 1")));
    }
    let conversations = |d: &GenerationData| d.examples.iter().any(|e| matches!(e, Example::Chat(_)));
    // Conversations are written with the model's template: one it lacks, or cannot read, is an error here.
    let chat = match conversations(data) || val.is_some_and(conversations) {
        true => Some(pretrained.chat()?),
        false => None,
    };
    let tokenize = |data| tokenize_lm(data, &pretrained.tokenizer, chat.as_ref(), max_length);
    let (mut examples, mut tokenizing) = tokenize(data)?;
    let (train, val) = match val {
        Some(val) => {
            let (val, held_out) = tokenize(val)?;
            tokenizing += held_out;
            (examples, val)
        }
        None => {
            SplitMix64::new(derive_seed(seed, 0x5917)).shuffle(&mut examples);
            let held = (examples.len() as f64 * val_fraction).round() as usize;
            let held = if val_fraction > 0.0 && examples.len() >= 2 { held.clamp(1, examples.len() - 1) } else { 0 };
            let train = examples.split_off(held);
            (train, examples)
        }
    };
    let sample_prompts = val.iter().take(SAMPLE_PROMPTS).map(opening).collect();
    Ok(LmData { train, val, tokenizing, sample_prompts })
}

/// What a sample continues: the prompt of a completion or conversation (the ids before the first learned one), or
/// the opening tokens of a document.
fn opening(example: &LmExample) -> Vec<u32> {
    let prompt = example.labels.iter().position(|&label| label >= 0).unwrap_or(example.ids.len());
    let length = if prompt > 0 { prompt } else { SAMPLE_OPENING_TOKENS.min(example.ids.len() / 2).max(1) };
    example.ids[..length].to_vec()
}

/// One decoder run: its settings, sizes, timings, losses, and the held-out figures before and after training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmResult {
    pub method: String,
    pub config: MethodConfig,
    pub learning_rate: f64,
    pub seed: u64,
    pub trainable_params: usize,
    pub total_params: usize,
    pub adapter_bytes: usize,
    pub steps: usize,
    pub seconds_per_step: f64,
    pub first_step_seconds: f64,
    pub peak_memory_bytes: Option<u64>,
    pub losses: Vec<f32>,
    /// The base model's held-out figures and samples, before training; `None` without validation data.
    pub base: Option<LmEvaluation>,
    /// After each epoch (and at the end of a `max_steps` run): the step, the held-out figures and the samples.
    pub evaluations: Vec<(usize, LmEvaluation)>,
    /// The adapter_config.json peft reads.
    pub adapter_config: serde_json::Value,
}

/// A trained decoder: its record, the model and its adapter files.
pub struct TrainedLm {
    pub result: LmResult,
    pub model: CausalLm,
    pub adapter: AdapterFiles,
}

/// Evaluates the base model (reported as an evaluation at step 0), then trains `method` on `data` and exports its
/// adapter. Events are named after the method.
pub async fn train_lm(
    pretrained: &PretrainedDecoder,
    method: &MethodConfig,
    learning_rate: f64,
    data: &LmData,
    config: &TrainConfig,
    device: &Device,
    host: &mut dyn Host,
) -> Result<TrainedLm, Error> {
    config.check().map_err(Error::Settings)?;
    device.seed(config.seed);
    pretrained.check_max_length(config.max_length, method.virtual_tokens()).map_err(Error::Settings)?;
    let model: CausalLm = pretrained.causal_lm(device)?;
    let task = LanguageModeling {
        pad_id: pretrained.tokenizer.pad_id(),
        tokenizer: &pretrained.tokenizer,
        sample_prompts: data.sample_prompts.clone(),
    };
    let label = method.label();
    let base = match data.val.is_empty() {
        true => None,
        false => {
            let metrics = evaluate_lm(&model, &data.val, task.pad_id, config.batch_size).await?;
            let samples = samples(&model, &pretrained.tokenizer, &data.sample_prompts).await?;
            let event = TrainEvent::LmEvaluated { step: 0, epoch: 0, metrics, samples: samples.clone() };
            if host.event(&label, &event).is_break() {
                return Err(TrainError::Cancelled.into());
            }
            Some(LmEvaluation { metrics, samples })
        }
    };
    let ctx =
        AttachContext { device: device.clone(), max_length: config.max_length, tokenizer: Some(&pretrained.tokenizer) };
    let model = method.tuner().attach(model, &ctx)?;
    let (trainable_params, total_params) = model.parameter_counts();
    host.reset_peak_memory();
    let spec = RunSpec { method, learning_rate, config, name: label.clone() };
    let run = train_task(&task, model, &data.train, &data.val, &spec, host).await?;
    let peak_memory_bytes = host.peak_memory(device);
    let info = RunInfo { base_model: pretrained.name.clone(), labels: Vec::new(), method: method.clone() };
    let adapter = peft::export(method, &run.model, &info).await?;
    let result = LmResult {
        method: label,
        config: method.clone(),
        learning_rate,
        seed: config.seed,
        trainable_params,
        total_params,
        adapter_bytes: adapter.weights.len(),
        steps: run.steps,
        seconds_per_step: run.seconds_per_step,
        first_step_seconds: run.first_step_seconds,
        peak_memory_bytes,
        losses: run.losses,
        base,
        evaluations: run.evaluations,
        adapter_config: serde_json::from_str(&adapter.config_json).expect("export writes JSON"),
    };
    Ok(TrainedLm { result, model: run.model, adapter })
}
