//! Text generation from a causal language model, one token at a time: greedy or sampled (temperature, top-k,
//! top-p), until an end token, a stop sequence, the token budget or the model's context. Keys and values of what came
//! before are kept (the cache), so each step runs the model over one new token; without the cache each step runs it
//! over the whole text again (what the benchmark compares). Logits are read back asynchronously, as the browser
//! requires.

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::bpe::BpeTokenizer;
use super::decoder::CausalLm;
use super::site::{LayerPrefix, SidePath};
use super::tunable::TunableModel;
use crate::rng::SplitMix64;

/// How tokens are chosen and when generation stops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationSettings {
    pub max_new_tokens: usize,
    /// 0 picks the most likely token (greedy); above 0 divides the logits before sampling.
    pub temperature: f32,
    /// Sample among the k most likely tokens only.
    pub top_k: Option<usize>,
    /// Sample among the most likely tokens whose probabilities add up to p (nucleus sampling).
    pub top_p: Option<f32>,
    /// Texts that end generation when the output ends with one of them (they are not part of the result).
    pub stop: Vec<String>,
    pub seed: u64,
    /// Keep every layer's keys and values between steps (always, but in the benchmark's comparison).
    pub use_cache: bool,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        Self {
            max_new_tokens: 128,
            temperature: 0.0,
            top_k: None,
            top_p: None,
            stop: Vec::new(),
            seed: 0,
            use_cache: true,
        }
    }
}

impl GenerationSettings {
    /// Settings a person gives that cannot generate, each with a message.
    pub fn check(&self) -> Result<(), String> {
        if self.max_new_tokens == 0 {
            return Err("the number of new tokens must be at least 1".into());
        }
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(format!("the temperature is {}; it must be 0 (greedy) or above", self.temperature));
        }
        if self.top_k == Some(0) {
            return Err("top-k is 0; it must be at least 1".into());
        }
        if let Some(p) = self.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
            return Err(format!("top-p is {p}; it must be above 0 and at most 1"));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err("a stop sequence is empty".into());
        }
        Ok(())
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Finish {
    /// The model produced its end token.
    EndToken,
    /// The text reached a stop sequence.
    Stop,
    /// `max_new_tokens` were generated.
    Budget,
    /// The model's positions are used up.
    Context,
}

/// A prompt that cannot be generated from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GenerationError {
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error(
        "the prompt is {tokens} tokens{virtual_part}, and the model has {positions} positions; shorten it to at most {room} tokens",
        virtual_part = if *virtual_tokens > 0 { format!(" after the method's {virtual_tokens} virtual tokens") } else { String::new() },
        room = positions.saturating_sub(*virtual_tokens + 1)
    )]
    PromptTooLong { tokens: usize, virtual_tokens: usize, positions: usize },
    #[error("{0}")]
    Settings(String),
    #[error("reading the logits back from the device failed: {0}")]
    Device(String),
}

/// A generation in progress: call [`Generation::next`] until it returns the reason it finished.
pub struct Generation<'m, P: SidePath> {
    model: &'m CausalLm<P>,
    tokenizer: &'m BpeTokenizer,
    settings: GenerationSettings,
    device: Device,
    /// Every token so far, prompt included (what a step without the cache runs over).
    tokens: Vec<u32>,
    prompt_length: usize,
    cache: Option<Vec<LayerPrefix>>,
    /// Positions taken by the method's virtual tokens or prefix.
    virtual_tokens: usize,
    /// The bytes of the generated tokens, and how many of them were handed out as text.
    bytes: Vec<u8>,
    emitted: usize,
    rng: SplitMix64,
    finished: Option<Finish>,
}

/// One step's result: the new text (possibly empty while a character is split across tokens), or the end.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Text { token: u32, text: String },
    Finished(Finish),
}

impl<'m, P: SidePath> Generation<'m, P> {
    pub fn new(
        model: &'m CausalLm<P>,
        tokenizer: &'m BpeTokenizer,
        prompt: &[u32],
        settings: GenerationSettings,
        device: &Device,
    ) -> Result<Self, GenerationError> {
        settings.check().map_err(GenerationError::Settings)?;
        if prompt.is_empty() {
            return Err(GenerationError::EmptyPrompt);
        }
        let virtual_tokens = model.virtual_tokens();
        let positions = model.max_positions();
        if prompt.len() + virtual_tokens >= positions {
            return Err(GenerationError::PromptTooLong { tokens: prompt.len(), virtual_tokens, positions });
        }
        Ok(Self {
            model,
            tokenizer,
            rng: SplitMix64::new(settings.seed),
            settings,
            device: device.clone(),
            tokens: prompt.to_vec(),
            prompt_length: prompt.len(),
            cache: None,
            virtual_tokens,
            bytes: Vec::new(),
            emitted: 0,
            finished: None,
        })
    }

    /// The generated tokens so far.
    pub fn generated(&self) -> &[u32] {
        &self.tokens[self.prompt_length..]
    }

    /// The next token and the text it completes, or why generation finished.
    pub async fn next(&mut self) -> Result<Step, GenerationError> {
        if let Some(finish) = self.finished {
            return Ok(Step::Finished(finish));
        }
        let generated = self.tokens.len() - self.prompt_length;
        if generated == self.settings.max_new_tokens {
            return Ok(self.finish(Finish::Budget));
        }
        if self.tokens.len() + self.virtual_tokens >= self.model.max_positions() {
            return Ok(self.finish(Finish::Context));
        }
        let logits = self.next_logits().await?;
        let token = self.choose(logits);
        self.tokens.push(token);
        if Some(token) == self.tokenizer.eos {
            return Ok(self.finish(Finish::EndToken));
        }
        self.bytes.extend(self.tokenizer.decode_bytes(&[token]));
        if let Some(stop) = self.settings.stop.iter().find(|s| self.bytes.ends_with(s.as_bytes())) {
            let end = self.bytes.len() - stop.len();
            // What the stop sequence leaves of this step's text.
            let text = String::from_utf8_lossy(&self.bytes[self.emitted.min(end)..end]).into_owned();
            self.emitted = self.bytes.len();
            self.finished = Some(Finish::Stop);
            return Ok(Step::Text { token, text });
        }
        Ok(Step::Text { token, text: self.complete_characters() })
    }

    /// The last position's logits of the text so far, read back from the device.
    async fn next_logits(&mut self) -> Result<Vec<f32>, GenerationError> {
        let cached = self.cache.as_deref().filter(|_| self.settings.use_cache);
        // With the cache, only the last token is new to the model.
        let new = if cached.is_some() { &self.tokens[self.tokens.len() - 1..] } else { &self.tokens[..] };
        let ids = Tensor::<2, Int>::from_data(
            TensorData::new(new.iter().map(|&t| t as i64).collect::<Vec<_>>(), [1, new.len()]),
            &self.device,
        );
        let (logits, cache) = match cached {
            Some(cache) => self.model.extend(ids, cache),
            None => self.model.forward_keeping_cache(ids, Tensor::ones([1, new.len()], &self.device)),
        };
        self.cache = Some(cache);
        let [_, seq, vocab] = logits.dims();
        let last = logits.narrow(1, seq - 1, 1).reshape([vocab]);
        let data = last.into_data_async().await.map_err(|e| GenerationError::Device(format!("{e:?}")))?;
        data.try_to_vec::<f32>().map_err(|e| GenerationError::Device(format!("{e:?}")))
    }

    /// The greedy choice, or a sample under the settings' temperature, top-k and top-p.
    fn choose(&mut self, logits: Vec<f32>) -> u32 {
        let settings = &self.settings;
        if settings.temperature == 0.0 {
            return argmax(&logits);
        }
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b)));
        order.truncate(settings.top_k.unwrap_or(order.len()).min(order.len()));
        let top = logits[order[0] as usize];
        let mut weights: Vec<f64> =
            order.iter().map(|&t| (((logits[t as usize] - top) / settings.temperature) as f64).exp()).collect();
        if let Some(p) = settings.top_p {
            let total: f64 = weights.iter().sum();
            let (mut cumulative, mut keep) = (0.0, 0);
            // The fewest most likely tokens whose probabilities reach p (at least one).
            while keep < weights.len() && (keep == 0 || cumulative < p as f64 * total) {
                cumulative += weights[keep];
                keep += 1;
            }
            weights.truncate(keep);
        }
        let total: f64 = weights.iter().sum();
        let mut target = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        for (i, w) in weights.iter().enumerate() {
            if target < *w {
                return order[i];
            }
            target -= w;
        }
        order[weights.len() - 1]
    }

    /// The generated bytes not yet handed out that form whole characters.
    fn complete_characters(&mut self) -> String {
        let pending = &self.bytes[self.emitted..];
        let complete = match std::str::from_utf8(pending) {
            Ok(_) => pending.len(),
            // A character cut at the end waits for its next bytes; bytes that can never form one pass as U+FFFD.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => pending.len(),
        };
        let text = String::from_utf8_lossy(&pending[..complete]).into_owned();
        self.emitted += complete;
        text
    }

    fn finish(&mut self, finish: Finish) -> Step {
        self.finished = Some(finish);
        Step::Finished(finish)
    }
}

/// The index of the largest value, the first of equals (as torch's argmax).
fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}
