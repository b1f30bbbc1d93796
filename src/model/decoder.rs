//! Decoders for text generation: the architectures behind one type ([`Decoder`]), a causal language model with the
//! sites methods use ([`CausalLm`]), its loss, and the checkpoint it comes from ([`PretrainedDecoder`]: a Hugging Face
//! folder or a GGUF file).

use burn::module::{Module, Param};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::bpe::BpeTokenizer;
use super::chat::ChatTemplate;
use super::gguf::Gguf;
use super::gpt2::{Gpt2, Gpt2Config, Gpt2Gguf};
use super::llama::{Llama, LlamaConfig, LlamaGguf};
#[cfg(not(target_arch = "wasm32"))]
use super::load::read_file;
use super::load::{Checkpoint, LoadError, config_text};
use super::site::{BeforeText, BlockClose, LayerPrefix, PrefixShape, SidePath};
use super::tensors::NamedTensor;
use super::tunable::{Projections, TunableLinear, TunableModel};

/// The model_types [`DecoderConfig::parse`] reads (what `is_decoder_path` looks for).
#[cfg(not(target_arch = "wasm32"))]
const DECODER_TYPES: [&str; 2] = ["llama", "gpt2"];

const SUPPORTED: &str = "supported decoders: model_type \"llama\" (Llama, SmolLM2, TinyLlama) and \"gpt2\"";

/// A decoder's hyper-parameters, by architecture.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "model_type", rename_all = "snake_case")]
pub enum DecoderConfig {
    Llama(LlamaConfig),
    Gpt2(Gpt2Config),
}

impl DecoderConfig {
    /// A decoder's parsed config.json, by its model_type.
    pub fn parse(value: serde_json::Value) -> Result<Self, LoadError> {
        match value.get("model_type").and_then(|v| v.as_str()) {
            Some("llama") => Ok(Self::Llama(LlamaConfig::parse(value)?)),
            Some("gpt2") => Ok(Self::Gpt2(Gpt2Config::parse(value)?)),
            Some(other) => Err(LoadError::Unsupported(format!("config.json has model_type \"{other}\"; {SUPPORTED}"))),
            None => Err(LoadError::Unsupported(format!("config.json has no model_type; {SUPPORTED}"))),
        }
    }

    /// The hyper-parameters in a GGUF file's metadata, by its `general.architecture`.
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, LoadError> {
        match gguf.get_str("general.architecture")? {
            Some("llama") => Ok(Self::Llama(LlamaConfig::from_gguf(gguf)?)),
            Some("gpt2") => Ok(Self::Gpt2(Gpt2Config::from_gguf(gguf)?)),
            Some(other) => Err(LoadError::Unsupported(format!(
                "the GGUF file's architecture is \"{other}\"; supported in GGUF files: \"llama\" (Llama, SmolLM2, \
                 TinyLlama) and \"gpt2\""
            ))),
            None => Err(LoadError::Unsupported("the GGUF file names no general.architecture".into())),
        }
    }

    /// A copy with every dropout off.
    pub fn without_dropout(&self) -> Self {
        match self {
            Self::Llama(c) => Self::Llama(c.clone()),
            Self::Gpt2(c) => Self::Gpt2(Gpt2Config { resid_pdrop: 0.0, embd_pdrop: 0.0, attn_pdrop: 0.0, ..c.clone() }),
        }
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Llama(c) => c.vocab_size,
            Self::Gpt2(c) => c.vocab_size,
        }
    }
}

/// A decoder of any supported architecture.
#[derive(Module, Debug)]
pub enum Decoder<P: SidePath> {
    Llama(Llama<P>),
    Gpt2(Gpt2<P>),
}

impl<P: SidePath> Decoder<P> {
    pub fn words(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        match self {
            Self::Llama(m) => m.words(ids),
            Self::Gpt2(m) => m.words(ids),
        }
    }

    /// The final hidden states of `words` after `past`, and every layer's keys and values (see `Llama::forward`).
    pub fn forward(
        &self,
        words: Tensor<3>,
        mask: Tensor<2>,
        past: Option<&[LayerPrefix]>,
    ) -> (Tensor<3>, Vec<LayerPrefix>) {
        match self {
            Self::Llama(m) => m.forward(words, mask, past),
            Self::Gpt2(m) => m.forward(words, mask, past),
        }
    }

    /// The device its weights are on.
    pub fn device(&self) -> Device {
        match self {
            Self::Llama(m) => m.embed_tokens.device(),
            Self::Gpt2(m) => m.wte.device(),
        }
    }

    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        match self {
            Self::Llama(m) => m.logits(hidden),
            Self::Gpt2(m) => m.logits(hidden),
        }
    }
}

/// Every projection under its module path, as peft names modules (`model.layers.0.self_attn.q_proj`,
/// `transformer.h.0.attn.c_attn`).
impl<P: SidePath> Projections<P> for CausalLm<P> {
    fn projections(&self) -> Vec<(String, &TunableLinear<P>)> {
        match &self.decoder {
            Decoder::Llama(m) => m.tunable_linears(),
            Decoder::Gpt2(m) => m.tunable_linears(),
        }
    }

    fn projections_mut(&mut self) -> Vec<(String, &mut TunableLinear<P>)> {
        match &mut self.decoder {
            Decoder::Llama(m) => m.tunable_linears_mut(),
            Decoder::Gpt2(m) => m.tunable_linears_mut(),
        }
    }
}

/// A decoder as a causal language model, with the sequence site of the methods that put virtual tokens or
/// per-layer keys and values before the text.
#[derive(Module, Debug)]
pub struct CausalLm<P: SidePath> {
    pub decoder: Decoder<P>,
    pub sequence: Option<P>,
}

impl<P: SidePath> CausalLm<P> {
    /// Next-token logits [batch, seq, vocab] for `input_ids` [batch, seq]; `mask` [batch, seq] is 1 for tokens,
    /// 0 for padding. Virtual tokens and prefixes are visible to every token; the logits are the text's only.
    pub fn forward(&self, input_ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<3> {
        self.forward_keeping_cache(input_ids, mask).0
    }

    /// As [`Self::forward`], with every layer's keys and values (the method's prefix and virtual tokens included):
    /// the cache that [`Self::extend`] continues from.
    pub fn forward_keeping_cache(&self, input_ids: Tensor<2, Int>, mask: Tensor<2>) -> (Tensor<3>, Vec<LayerPrefix>) {
        let seq = input_ids.dims()[1];
        let (hidden, cache) = self.hidden(input_ids, mask);
        let text = hidden.dims()[1] - seq;
        (self.decoder.logits(hidden.narrow(1, text, seq)), cache)
    }

    /// The mean next-token loss of `targets` for `input_ids` [batch, seq], as peft computes it: with virtual input
    /// tokens (prompt tuning, P-tuning) the last of them predicts the text's first token. Only the positions that
    /// predict a target go through the head (transformers runs every position, padding included; the mean is the
    /// same): a batch of short texts padded to its longest pays for its texts only. Zero when nothing is learned.
    pub fn loss(&self, input_ids: Tensor<2, Int>, mask: Tensor<2>, targets: &Targets) -> Tensor<1> {
        let seq = input_ids.dims()[1];
        let (hidden, _) = self.hidden(input_ids, mask);
        let [batch, length, width] = hidden.dims();
        let virtual_tokens = length - seq;
        let (mut rows, mut ids) = (Vec::with_capacity(targets.ids.len()), Vec::with_capacity(targets.ids.len()));
        for (&(row, column), &id) in targets.places.iter().zip(&targets.ids) {
            // The hidden state before the target's place predicts it; the text's first token has one only after
            // virtual tokens.
            if let Some(before) = (virtual_tokens + column).checked_sub(1) {
                rows.push((row * length + before) as i64);
                ids.push(id);
            }
        }
        let device = hidden.device();
        if rows.is_empty() {
            // Zero, still on the graph (a fresh tensor would have no tape for the backward pass).
            return hidden.sum().mul_scalar(0.0);
        }
        let count = rows.len();
        let predicting = hidden.reshape([batch * length, width]).select(0, int_tensor(rows, &device));
        let logits = self.decoder.logits(predicting.reshape([1, count, width]));
        let vocab = logits.dims()[2];
        let logits = logits.reshape([count, vocab]);
        let picked = log_softmax(logits, 1).gather(1, int_tensor(ids, &device).reshape([count, 1]));
        picked.mean().neg().reshape([1])
    }

    /// Whether virtual input tokens come before the text (prompt tuning, P-tuning): then the loss predicts the text's
    /// first token too.
    pub fn predicts_first_token(&self) -> bool {
        self.sequence.as_ref().is_some_and(|side| side.input_token_count() > 0)
    }

    /// The final hidden states of the virtual tokens (if any) and the text, and every layer's keys and values.
    fn hidden(&self, input_ids: Tensor<2, Int>, mask: Tensor<2>) -> (Tensor<3>, Vec<LayerPrefix>) {
        let before = BeforeText::new(self.sequence.as_ref(), self.decoder.words(input_ids), mask);
        self.decoder.forward(before.words, before.mask, before.prefixes.as_deref())
    }

    /// Logits [batch, seq, vocab] of `input_ids` [batch, seq] that follow what `cache` holds (no padding), and the
    /// cache grown by them: one step of generation.
    pub fn extend(&self, input_ids: Tensor<2, Int>, cache: &[LayerPrefix]) -> (Tensor<3>, Vec<LayerPrefix>) {
        let [batch, seq] = input_ids.dims();
        let words = self.decoder.words(input_ids);
        let past = cache.first().map_or(0, |layer| layer.key.dims()[2]);
        let mask = Tensor::ones([batch, past + seq], &words.device());
        let (hidden, cache) = self.decoder.forward(words, mask, Some(cache));
        (self.decoder.logits(hidden), cache)
    }

    /// Positions the method's virtual tokens or prefix take before the text.
    pub fn virtual_tokens(&self) -> usize {
        self.sequence.as_ref().map_or(0, |side| side.input_token_count() + side.prefix_length())
    }
}

/// A causal language model has no head of its own (its head is pretrained, often the embedding itself), so methods
/// save only what they add, under `CAUSAL_LM` adapters.
impl<P: SidePath> TunableModel<P> for CausalLm<P> {
    fn sequence(&self) -> &Option<P> {
        &self.sequence
    }

    fn sequence_mut(&mut self) -> &mut Option<P> {
        &mut self.sequence
    }

    /// Freezes the pretrained decoder: only what a method adds trains.
    fn freeze_base(mut self) -> Self {
        self.decoder = self.decoder.no_grad();
        self
    }

    /// What each layer's attention prefix holds: the key/value heads (fewer than the query heads under grouped-query
    /// attention), as peft sizes a decoder's prefix.
    fn prefix_shape(&self) -> PrefixShape {
        match &self.decoder {
            Decoder::Llama(m) => {
                let c = &m.config;
                PrefixShape { layers: c.num_hidden_layers, heads: c.kv_heads(), head_dim: c.head_dim() }
            }
            Decoder::Gpt2(m) => {
                let c = &m.config;
                PrefixShape { layers: c.n_layer, heads: c.n_head, head_dim: c.n_embd / c.n_head }
            }
        }
    }

    fn attention_heads(&self) -> usize {
        match &self.decoder {
            Decoder::Llama(m) => m.config.num_attention_heads,
            Decoder::Gpt2(m) => m.config.n_head,
        }
    }

    fn hidden_size(&self) -> usize {
        match &self.decoder {
            Decoder::Llama(m) => m.config.hidden_size,
            Decoder::Gpt2(m) => m.config.n_embd,
        }
    }

    /// How many positions the model has, for the prompt, virtual tokens and generated tokens together.
    fn max_positions(&self) -> usize {
        match &self.decoder {
            Decoder::Llama(m) => m.config.max_position_embeddings,
            Decoder::Gpt2(m) => m.config.n_positions,
        }
    }

    fn token_embeddings(&self, ids: Tensor<1, Int>) -> Tensor<2> {
        let table = match &self.decoder {
            Decoder::Llama(m) => m.embed_tokens.val(),
            Decoder::Gpt2(m) => m.wte.val(),
        };
        table.select(0, ids)
    }

    fn device(&self) -> Device {
        self.decoder.device()
    }

    /// Bottleneck adapters' sites are BERT's post-norm block closes; decoders are pre-norm and offer none.
    fn block_closes(&self) -> Vec<BlockClose<&Option<P>>> {
        Vec::new()
    }

    fn block_closes_mut(&mut self) -> Vec<BlockClose<&mut Option<P>>> {
        Vec::new()
    }

    /// GPT-2's projections and LayerNorms have biases; Llama's have none.
    fn biases_mut(&mut self) -> Vec<(String, &mut Param<Tensor<1>>)> {
        match &mut self.decoder {
            Decoder::Llama(_) => Vec::new(),
            Decoder::Gpt2(m) => m.biases_mut(),
        }
    }

    fn base_tensors(&self) -> Vec<NamedTensor> {
        match &self.decoder {
            Decoder::Llama(m) => m.named_tensors(),
            Decoder::Gpt2(m) => m.named_tensors(),
        }
    }

    fn load_base(mut self, ckpt: &Checkpoint) -> Result<Self, LoadError> {
        let device = self.decoder.device();
        self.decoder = match &self.decoder {
            Decoder::Llama(m) => Decoder::Llama(Llama::load(ckpt, &m.config, &device)?),
            Decoder::Gpt2(m) => Decoder::Gpt2(Gpt2::load(ckpt, &m.config, &device)?),
        };
        Ok(self)
    }

    fn head(&self) -> Option<&'static str> {
        None
    }

    fn head_tensors(&self, _prefix: &str) -> Vec<NamedTensor> {
        Vec::new()
    }

    fn load_head(self, _adapter: &Checkpoint, _prefix: &str) -> Result<Self, LoadError> {
        Ok(self)
    }

    const TASK_TYPE: &'static str = "CAUSAL_LM";

    fn model_type(&self) -> &'static str {
        match &self.decoder {
            Decoder::Llama(_) => "llama",
            Decoder::Gpt2(_) => "gpt2",
        }
    }
}

/// The labels a loss reads, known on the host so that only their positions go through the head: each learned
/// label's place in the text (row, column) and its id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Targets {
    pub places: Vec<(usize, usize)>,
    pub ids: Vec<i64>,
}

impl Targets {
    /// The learned labels (0 and above; -100 and other negatives are not learned) of a batch's labels, row-major with
    /// `columns` per row.
    pub fn of_labels(labels: &[i64], columns: usize) -> Self {
        let learned = labels.iter().enumerate().filter(|(_, label)| **label >= 0);
        let (places, ids) = learned.map(|(at, &label)| ((at / columns, at % columns), label)).unzip();
        Self { places, ids }
    }
}

fn int_tensor(values: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let count = values.len();
    Tensor::from_data(TensorData::new(values, [count]), device)
}

/// Where a decoder's weights are: a safetensors file, or a GGUF file (which holds the tokenizer too).
enum DecoderWeights {
    Safetensors(Vec<u8>),
    Gguf(Vec<u8>),
}

/// A decoder checkpoint held as bytes, so the browser and the CLI load it the same way.
pub struct PretrainedDecoder {
    /// Where it came from (a folder, a file, "SmolLM2-135M-Instruct"): recorded in adapters and links.
    pub name: String,
    pub config: DecoderConfig,
    pub tokenizer: BpeTokenizer,
    /// The Jinja source of its chat template, if it has one.
    pub chat_template: Option<String>,
    weights: DecoderWeights,
}

impl PretrainedDecoder {
    /// A Hugging Face folder's config.json, model.safetensors and tokenizer.json.
    pub fn from_bytes(
        name: &str,
        config_json: &[u8],
        weights: Vec<u8>,
        tokenizer_json: &[u8],
    ) -> Result<Self, LoadError> {
        let value: serde_json::Value =
            serde_json::from_str(config_text(config_json)?).map_err(|e| LoadError::Config(e.to_string()))?;
        // tokenizer.json names no end token; config.json does (an id, or a list whose first is the main one).
        let id = |key: &str| {
            let v = value.get(key)?;
            v.as_u64().or_else(|| v.as_array()?.first()?.as_u64()).and_then(|id| u32::try_from(id).ok())
        };
        let (bos, eos) = (id("bos_token_id"), id("eos_token_id"));
        let config = DecoderConfig::parse(value)?;
        Checkpoint::parse(&weights)?;
        let mut tokenizer = BpeTokenizer::from_tokenizer_json(tokenizer_json)?;
        tokenizer.bos = tokenizer.bos.or(bos);
        tokenizer.eos = tokenizer.eos.or(eos);
        Self::checked(name, config, tokenizer, DecoderWeights::Safetensors(weights), "tokenizer.json", "config.json")
    }

    /// A GGUF file: hyper-parameters, tokenizer and weights in one.
    pub fn from_gguf(name: &str, bytes: Vec<u8>) -> Result<Self, LoadError> {
        let gguf = Gguf::parse(&bytes)?;
        let config = DecoderConfig::from_gguf(&gguf)?;
        let tokenizer = BpeTokenizer::from_gguf(&gguf)?;
        let chat_template = gguf.get_str("tokenizer.chat_template")?.map(str::to_string);
        drop(gguf);
        let decoder = Self::checked(
            name,
            config,
            tokenizer,
            DecoderWeights::Gguf(bytes),
            "the GGUF file's tokenizer",
            "its embedding",
        )?;
        Ok(decoder.with_chat_template(chat_template))
    }

    /// The same model with the chat template whose Jinja source is given (a folder's tokenizer_config.json or
    /// chat_template.jinja has it).
    pub fn with_chat_template(self, chat_template: Option<String>) -> Self {
        Self { chat_template, ..self }
    }

    /// The chat template, recognised; or why chat prompts cannot be written for this model.
    pub fn chat(&self) -> Result<ChatTemplate, LoadError> {
        let template = self.chat_template.as_deref().ok_or_else(|| {
            LoadError::Unsupported(format!("{} has no chat template, so it cannot take chat prompts", self.name))
        })?;
        ChatTemplate::recognise(template)
    }

    /// Refuses a tokenizer with ids beyond the embedding's rows.
    fn checked(
        name: &str,
        config: DecoderConfig,
        tokenizer: BpeTokenizer,
        weights: DecoderWeights,
        tokenizer_source: &str,
        vocab_source: &str,
    ) -> Result<Self, LoadError> {
        let (tokens, rows) = (tokenizer.vocab_size(), config.vocab_size());
        if tokens > rows {
            return Err(LoadError::Mismatch(format!(
                "{tokenizer_source} has {tokens} tokens but {vocab_source} has rows for {rows} (vocab_size); are both \
                 from the same model?"
            )));
        }
        Ok(Self { name: name.to_string(), config, tokenizer, chat_template: None, weights })
    }

    /// Whether `path` holds a decoder, as [`Self::from_path`] reads one: a file (GGUF: encoders come as folders), a
    /// folder holding a GGUF file and no config.json, or a folder whose config.json names a decoder's model_type.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn is_decoder_path(path: &std::path::Path) -> bool {
        if path.is_file() {
            return true;
        }
        let config = path.join("config.json");
        if !config.exists() {
            let entries = std::fs::read_dir(path).into_iter().flatten().flatten();
            return entries.into_iter().any(|e| e.path().extension().is_some_and(|x| x.eq_ignore_ascii_case("gguf")));
        }
        let value: Option<serde_json::Value> =
            std::fs::read(&config).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let model_type = value.as_ref().and_then(|v| v.get("model_type")?.as_str());
        model_type.is_some_and(|t| DECODER_TYPES.contains(&t))
    }

    /// Reads a GGUF file, a folder with config.json, model.safetensors and tokenizer.json, or a folder that holds one
    /// GGUF file (as public/models/SmolLM2-135M-Instruct).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(path: &std::path::Path) -> Result<Self, LoadError> {
        let name = path.display().to_string();
        if !path.is_dir() {
            return Self::from_gguf(&name, read_file(path)?);
        }
        if !path.join("config.json").exists() {
            let mut ggufs: Vec<std::path::PathBuf> = std::fs::read_dir(path)
                .map_err(|e| LoadError::Io { path: name.clone(), reason: e.to_string() })?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")))
                .collect();
            ggufs.sort();
            return match ggufs.as_slice() {
                [one] => Self::from_gguf(&name, read_file(one)?),
                [] => Err(LoadError::Io {
                    path: name,
                    reason: "the folder has neither config.json (with model.safetensors and tokenizer.json) nor a \
                             .gguf file"
                        .into(),
                }),
                several => Err(LoadError::Io {
                    path: name,
                    reason: format!(
                        "the folder holds {} GGUF files ({}); name the one to use",
                        several.len(),
                        several
                            .iter()
                            .filter_map(|p| p.file_name())
                            .map(|n| n.to_string_lossy())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            };
        }
        let read = |file: &str| read_file(&path.join(file));
        let (config, weights, tokenizer) = (read("config.json")?, read("model.safetensors")?, read("tokenizer.json")?);
        let decoder = Self::from_bytes(&name, &config, weights, &tokenizer)?;
        Ok(decoder.with_chat_template(chat_template_in(path)?))
    }

    /// The bytes of its weights file (model.safetensors, or the GGUF file): what a share link's model identity
    /// hashes.
    pub fn weights(&self) -> &[u8] {
        match &self.weights {
            DecoderWeights::Safetensors(bytes) | DecoderWeights::Gguf(bytes) => bytes,
        }
    }

    /// How many positions the model has.
    pub fn max_positions(&self) -> usize {
        match &self.config {
            DecoderConfig::Llama(config) => config.max_position_embeddings,
            DecoderConfig::Gpt2(config) => config.n_positions,
        }
    }

    /// Whether examples of up to `max_length` tokens fit in the model's positions beside `virtual_tokens`: the one
    /// rule for training, links and adapters.
    pub fn check_max_length(&self, max_length: usize, virtual_tokens: usize) -> Result<(), String> {
        let positions = self.max_positions();
        if max_length == 0 {
            return Err("the maximum length must be at least 1 token".into());
        }
        if max_length + virtual_tokens > positions {
            let virtual_part =
                if virtual_tokens > 0 { format!(" with {virtual_tokens} virtual tokens") } else { String::new() };
            return Err(format!(
                "the maximum length {max_length}{virtual_part} exceeds the model's {positions} positions; use at most {}",
                positions.saturating_sub(virtual_tokens)
            ));
        }
        Ok(())
    }

    /// The model on `device`, without side paths.
    pub fn causal_lm<P: SidePath>(&self, device: &Device) -> Result<CausalLm<P>, LoadError> {
        self.causal_lm_with_config(&self.config, device)
    }

    /// As [`Self::causal_lm`] with another config of the same architecture (dropout off for reference comparisons).
    pub fn causal_lm_with_config<P: SidePath>(
        &self,
        config: &DecoderConfig,
        device: &Device,
    ) -> Result<CausalLm<P>, LoadError> {
        let decoder = match (&self.weights, config) {
            (DecoderWeights::Safetensors(bytes), DecoderConfig::Llama(config)) => {
                Decoder::Llama(Llama::load(&Checkpoint::parse(bytes)?, config, device)?)
            }
            (DecoderWeights::Safetensors(bytes), DecoderConfig::Gpt2(config)) => {
                Decoder::Gpt2(Gpt2::load(&Checkpoint::parse(bytes)?, config, device)?)
            }
            (DecoderWeights::Gguf(bytes), DecoderConfig::Llama(config)) => {
                let gguf = Gguf::parse(bytes)?;
                Decoder::Llama(Llama::load(&LlamaGguf { gguf: &gguf, config }, config, device)?)
            }
            (DecoderWeights::Gguf(bytes), DecoderConfig::Gpt2(config)) => {
                let gguf = Gguf::parse(bytes)?;
                Decoder::Gpt2(Gpt2::load_weights(&Gpt2Gguf { gguf: &gguf }, config, device)?)
            }
        };
        Ok(CausalLm { decoder, sequence: None })
    }
}

/// A model folder's chat template: chat_template.jinja (transformers 4.43 on), else tokenizer_config.json's
/// `chat_template`.
#[cfg(not(target_arch = "wasm32"))]
fn chat_template_in(dir: &std::path::Path) -> Result<Option<String>, LoadError> {
    let text = |file: &std::path::Path| read_file(file).map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let jinja = dir.join("chat_template.jinja");
    if jinja.exists() {
        return text(&jinja).map(Some);
    }
    let config = dir.join("tokenizer_config.json");
    if !config.exists() {
        return Ok(None);
    }
    let value: serde_json::Value = serde_json::from_str(&text(&config)?)
        .map_err(|e| LoadError::Tokenizer(format!("tokenizer_config.json does not parse: {e}")))?;
    Ok(value.get("chat_template").and_then(|t| t.as_str()).map(str::to_string))
}
