//! Causal language modelling as a training [`Task`]: the next-token loss over the tokens the loss reads (each token
//! counts once, as transformers' loss over one batch does); held out, that loss, its exponential (the perplexity), and
//! a greedy continuation of a few fixed prompts after each epoch, so that a person sees what the model now writes.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::checkpoint::DataDigest;
use super::{Task, TrainError, TrainEvent};
use crate::data::lm::{LmBatch, LmExample};
use crate::method::{CausalLm, TunableModel};
use crate::model::bpe::BpeTokenizer;
use crate::model::generate::{Generation, GenerationSettings, Step};

/// Loss and perplexity over a set of examples.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmMetrics {
    #[serde(deserialize_with = "super::metrics::nan_if_null")]
    pub loss: f64,
    #[serde(deserialize_with = "super::metrics::nan_if_null")]
    pub perplexity: f64,
    /// The tokens the loss read.
    pub tokens: usize,
}

/// `model`'s mean next-token loss over `examples` in batches of `batch_size` (padded to each batch's longest), run
/// without autodiff and read back asynchronously.
pub async fn evaluate_lm(
    model: &CausalLm,
    examples: &[LmExample],
    pad_id: u32,
    batch_size: usize,
) -> Result<LmMetrics, TrainError> {
    let model = model.valid();
    let device = model.decoder.device();
    let first_predicted = model.predicts_first_token();
    let (mut total, mut tokens) = (0.0f64, 0usize);
    for chunk in examples.chunks(batch_size.max(1)) {
        let refs: Vec<&LmExample> = chunk.iter().collect();
        let learned: usize = chunk.iter().map(|e| e.learned_tokens(first_predicted)).sum();
        if learned == 0 {
            continue;
        }
        let batch = LmBatch::new(&refs, pad_id, &device);
        let loss = model.loss(batch.input_ids, batch.mask, &batch.targets);
        let mean = loss.into_scalar_async::<f32>().await.map_err(|e| TrainError::read_back("loss read-back", e))?;
        total += f64::from(mean) * learned as f64;
        tokens += learned;
    }
    if tokens == 0 {
        return Err(TrainError::NoData);
    }
    let loss = total / tokens as f64;
    Ok(LmMetrics { loss, perplexity: loss.exp(), tokens })
}

/// Tokens generated for each sample prompt after an evaluation.
pub const SAMPLE_TOKENS: usize = 32;

/// A prompt and the model's greedy continuation of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub prompt: String,
    pub continuation: String,
}

/// One evaluation of a language model: its held-out loss and a greedy continuation of each sample prompt.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmEvaluation {
    pub metrics: LmMetrics,
    pub samples: Vec<Sample>,
}

/// Causal language modelling: batches of documents, completions or conversations (labels -100 where nothing is
/// learned), and after each epoch the held-out perplexity and the samples.
pub struct LanguageModeling<'a> {
    pub pad_id: u32,
    pub tokenizer: &'a BpeTokenizer,
    /// The prompts continued after each evaluation, as token ids (chat prompts already in the template).
    pub sample_prompts: Vec<Vec<u32>>,
}

impl Task for LanguageModeling<'_> {
    type Model = CausalLm;
    type Example = LmExample;
    type Metrics = LmEvaluation;

    fn length(&self, example: &LmExample) -> usize {
        example.ids.len()
    }

    fn digest(&self, example: &LmExample, digest: &mut DataDigest) {
        example.ids.iter().for_each(|&id| digest.add(id.into()));
        example.labels.iter().for_each(|&label| digest.add(label as u64));
    }

    fn weight(&self, model: &CausalLm, example: &LmExample) -> usize {
        example.learned_tokens(model.predicts_first_token())
    }

    fn loss(&self, model: &CausalLm, examples: &[&LmExample], padded_length: usize) -> Tensor<1> {
        let batch = LmBatch::padded(examples, padded_length, self.pad_id, &model.device());
        model.loss(batch.input_ids, batch.mask, &batch.targets)
    }

    async fn evaluate(
        &self,
        model: &CausalLm,
        examples: &[LmExample],
        batch_size: usize,
    ) -> Result<LmEvaluation, TrainError> {
        let metrics = evaluate_lm(model, examples, self.pad_id, batch_size).await?;
        let samples = samples(model, self.tokenizer, &self.sample_prompts).await?;
        Ok(LmEvaluation { metrics, samples })
    }

    fn evaluated(&self, step: usize, epoch: usize, evaluation: &LmEvaluation) -> TrainEvent {
        let LmEvaluation { metrics, samples } = evaluation.clone();
        TrainEvent::LmEvaluated { step, epoch, metrics, samples }
    }

    fn device(&self, model: &CausalLm) -> Device {
        model.device()
    }
}

/// The greedy continuation (at most [`SAMPLE_TOKENS`] tokens) of each prompt, without autodiff.
pub async fn samples(
    model: &CausalLm,
    tokenizer: &BpeTokenizer,
    prompts: &[Vec<u32>],
) -> Result<Vec<Sample>, TrainError> {
    let model = model.valid();
    let device = model.device();
    let settings = GenerationSettings { max_new_tokens: SAMPLE_TOKENS, ..GenerationSettings::default() };
    let mut out = Vec::with_capacity(prompts.len());
    for prompt in prompts {
        let mut generation = Generation::new(&model, tokenizer, prompt, settings.clone(), &device)
            .map_err(|e| TrainError::Device("sample generation", e.to_string()))?;
        let mut text = String::new();
        while let Step::Text { text: piece, .. } =
            generation.next().await.map_err(|e| TrainError::Device("sample generation", e.to_string()))?
        {
            text.push_str(&piece);
        }
        out.push(Sample { prompt: tokenizer.decode(prompt), continuation: text });
    }
    Ok(out)
}
