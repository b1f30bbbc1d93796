//! Pretrained models: one file per architecture (`bert.rs` encoders; `llama.rs` and `gpt2.rs` decoders, behind
//! `decoder.rs`), the checkpoint readers (`load.rs` for safetensors, `gguf.rs` for llama.cpp's GGUF), the tokenizers
//! (`tokenizer.rs` WordPiece, `bpe.rs` byte-level BPE), and the sequence classifier that puts a head on an encoder.

pub mod attention;
pub mod bert;
pub mod bpe;
pub mod chat;
pub mod decoder;
pub mod dropout;
pub mod generate;
pub mod gguf;
pub mod gpt2;
pub mod llama;
pub mod load;
pub mod norm;
pub mod site;
pub mod tensors;
pub mod tokenizer;
pub mod tunable;

use burn::module::{Module, Param};
use burn::nn::Linear;

use burn::tensor::{Device, Distribution, Int, Tensor};
use dropout::Dropout;

pub use bert::{Bert, BertConfig};
pub use load::{Checkpoint, LoadError, Weights};
use tensors::{NamedTensor, linear_tensors, load_linear};
pub use tokenizer::{Encoded, TextTokenizer};

pub use site::{BeforeText, Block, BlockClose, PrefixShape, SidePath};
use tunable::TunableLinear;
pub use tunable::{Projections, TunableModel};

/// A tokenizer as a method's initialisation reads a text (prompt tuning's TEXT init): the ids the model's tokenizer
/// gives it, special tokens included where the tokenizer adds them (as peft calls the tokenizer).
pub trait TextIds {
    fn text_ids(&self, text: &str) -> Vec<u32>;
}

impl TextIds for TextTokenizer {
    fn text_ids(&self, text: &str) -> Vec<u32> {
        self.encode_all(&[text], usize::MAX).swap_remove(0).ids
    }
}

impl TextIds for bpe::BpeTokenizer {
    /// With the start token where the tokenizer adds one, as peft's `tokenizer(prompt_tuning_init_text)`.
    fn text_ids(&self, text: &str) -> Vec<u32> {
        self.encode_alone(text)
    }
}

/// The encoder's module name in `BertForSequenceClassification`: the prefix of its keys there and in peft's.
const ENCODER: &str = "bert";

/// The head's module name in `BertForSequenceClassification`: the prefix of its keys (`classifier.weight`).
pub const HEAD: &str = "classifier";

/// The head's key below `prefix` (`base_model.model.classifier`), or bare (`classifier`).
fn head_key(prefix: &str) -> String {
    if prefix.is_empty() { HEAD.to_string() } else { format!("{prefix}.{HEAD}") }
}

fn in_encoder(path: &str) -> String {
    format!("{ENCODER}.{path}")
}

/// The encoder of a checkpoint whose keys may or may not carry the [`ENCODER`] prefix.
fn load_encoder<P: SidePath>(ckpt: Checkpoint, config: &BertConfig, device: &Device) -> Result<Bert<P>, LoadError> {
    Bert::load(&ckpt.with_prefix_if_present(&format!("{ENCODER}."), bert::WORD_EMBEDDINGS), config, device)
}

/// A checkpoint in the Hugging Face layout, held as bytes so the browser and the CLI load it the same way.
pub struct Pretrained {
    /// Where it came from (a directory, a URL, "all-MiniLM-L6-v2"): recorded in adapters and links.
    pub name: String,
    pub config: BertConfig,
    pub weights: Vec<u8>,
    pub tokenizer: TextTokenizer,
}

impl Pretrained {
    /// Parses config.json and tokenizer.json and checks that model.safetensors is readable.
    pub fn from_bytes(
        name: &str,
        config_json: &[u8],
        weights: Vec<u8>,
        tokenizer_json: &[u8],
    ) -> Result<Self, LoadError> {
        let config = BertConfig::parse(load::config_text(config_json)?)?;
        Checkpoint::parse(&weights)?;
        let tokenizer = TextTokenizer::from_bytes(tokenizer_json)?;
        let (max_id, token) = tokenizer.max_id();
        if max_id as usize >= config.vocab_size {
            return Err(LoadError::Mismatch(format!(
                "tokenizer.json has id {max_id} ({token}) but config.json's vocab_size is {}, so the embedding table \
                 has rows 0 to {}; are both files from the same model?",
                config.vocab_size,
                config.vocab_size - 1
            )));
        }
        Ok(Self { name: name.to_string(), config, weights, tokenizer })
    }

    /// The fewest tokens a text may be cut to: one of content beside the tokenizer's special tokens.
    pub fn min_max_length(&self) -> usize {
        self.tokenizer.special_tokens() + 1
    }

    /// A max length for texts with `virtual_tokens` in front of them: room for text beside the special tokens,
    /// within the model's positions. The one rule for training, links, adapters and `eval --max-length`.
    pub fn check_max_length(&self, max_length: usize, virtual_tokens: usize) -> Result<(), String> {
        let (name, specials) = (&self.name, self.tokenizer.special_tokens());
        if max_length < self.min_max_length() {
            return Err(format!(
                "the maximum length {max_length} leaves no room for text: {name}'s tokenizer.json puts {specials} \
                 special tokens around each; use at least {}",
                self.min_max_length()
            ));
        }
        let positions = self.config.max_position_embeddings;
        let room = positions.saturating_sub(virtual_tokens);
        if max_length > room {
            let virtual_part =
                if virtual_tokens > 0 { format!(" with {virtual_tokens} virtual tokens") } else { String::new() };
            return Err(format!(
                "the maximum length {max_length}{virtual_part} exceeds the {positions} positions of {name}'s \
                 config.json (max_position_embeddings); use at most {room}"
            ));
        }
        Ok(())
    }

    /// Reads `dir/config.json`, `dir/model.safetensors` and `dir/tokenizer.json`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<Self, LoadError> {
        let read = |file: &str| load::read_file(&dir.join(file));
        let (config, weights, tokenizer) = (read("config.json")?, read("model.safetensors")?, read("tokenizer.json")?);
        Self::from_bytes(&dir.display().to_string(), &config, weights, &tokenizer)
    }

    /// A fresh classifier with `num_labels` outputs on `device`, the head initialised as transformers does
    /// (N(0, 0.02) weights, zero bias) from the device's seeded generator.
    pub fn classifier<P: SidePath>(
        &self,
        num_labels: usize,
        device: &Device,
    ) -> Result<SequenceClassifier<P>, LoadError> {
        self.classifier_with_config(&self.config, num_labels, device)
    }

    /// As [`Self::classifier`] with another config (e.g. dropout off for reference comparisons).
    pub fn classifier_with_config<P: SidePath>(
        &self,
        config: &BertConfig,
        num_labels: usize,
        device: &Device,
    ) -> Result<SequenceClassifier<P>, LoadError> {
        let bert = load_encoder(Checkpoint::parse(&self.weights)?, config, device)?;
        let h = config.hidden_size;
        let classifier = Linear {
            weight: Param::from_tensor(Tensor::random([h, num_labels], Distribution::Normal(0.0, 0.02), device)),
            bias: Some(Param::from_tensor(Tensor::zeros([num_labels], device))),
        };
        Ok(SequenceClassifier {
            bert,
            sequence: None,
            dropout: Dropout::new(config.hidden_dropout_prob),
            classifier,
            config: config.clone(),
        })
    }
}

/// The sites methods plug into, each under its checkpoint path (`bert.encoder.layer.0.attention.self.query`), as peft
/// names the modules it targets (below `base_model.model.`).
impl<P: SidePath> Projections<P> for SequenceClassifier<P> {
    fn projections(&self) -> Vec<(String, &TunableLinear<P>)> {
        self.bert.tunable_linears().into_iter().map(|(path, l)| (in_encoder(&path), l)).collect()
    }

    fn projections_mut(&mut self) -> Vec<(String, &mut TunableLinear<P>)> {
        self.bert.tunable_linears_mut().into_iter().map(|(path, l)| (in_encoder(&path), l)).collect()
    }
}

/// An encoder with a classification head on the pooled first token, as `BertForSequenceClassification`:
/// logits = classifier(dropout(tanh(pooler(h[CLS])))). The pooler is pretrained (MiniLM ships it), which is what
/// peft's reference runs use, so accuracy and parameter counts compare like for like.
#[derive(Module, Debug)]
pub struct SequenceClassifier<P: SidePath> {
    pub bert: Bert<P>,
    /// The sequence sites: virtual input tokens (prompt tuning, P-tuning) or every layer's attention prefix
    /// (prefix tuning, P-tuning v2).
    pub sequence: Option<P>,
    pub dropout: Dropout,
    /// [hidden, labels].
    pub classifier: Linear,
    #[module(skip)]
    pub config: BertConfig,
}

impl<P: SidePath> SequenceClassifier<P> {
    /// `input_ids` [batch, seq]; `mask` [batch, seq] is 1 for real tokens, 0 for padding. Returns [batch, labels].
    ///
    /// Virtual tokens of either kind are visible to every real token: the mask gets ones in front for them.
    /// A soft prompt is part of the sequence (positions from 0, and the pooled first token is its first virtual
    /// token, as in peft); a prefix only adds keys and values, and the real tokens' positions start after it.
    pub fn forward(&self, input_ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<2> {
        let before = BeforeText::new(self.sequence.as_ref(), self.bert.embeddings.words(input_ids), mask);
        let embedded = self.bert.embeddings.forward(before.words.clone(), before.prefix_length());
        let hidden = self.bert.encode(embedded, before.mask, before.prefixes.as_deref());
        let pooled = self.bert.pool(hidden);
        self.classifier.forward(self.dropout.forward(pooled))
    }

    /// Every site a side path can occupy: the sequence, every block close, every projection.
    pub fn sites(&self) -> Vec<&Option<P>> {
        let mut out = vec![&self.sequence];
        out.extend(self.block_closes().into_iter().map(|c| c.side));
        out.extend(self.projections().into_iter().map(|(_, l)| &l.side));
        out
    }

    pub fn num_labels(&self) -> usize {
        self.classifier.weight.dims()[1]
    }
}

impl<P: SidePath> TunableModel<P> for SequenceClassifier<P> {
    fn sequence(&self) -> &Option<P> {
        &self.sequence
    }

    fn sequence_mut(&mut self) -> &mut Option<P> {
        &mut self.sequence
    }

    /// Freezes the pretrained encoder (dropout keeps working, as in peft); the head stays trainable.
    fn freeze_base(mut self) -> Self {
        self.bert = self.bert.no_grad();
        self
    }

    fn prefix_shape(&self) -> PrefixShape {
        let c = &self.config;
        PrefixShape { layers: c.num_hidden_layers, heads: c.num_attention_heads, head_dim: c.head_dim() }
    }

    fn attention_heads(&self) -> usize {
        self.config.num_attention_heads
    }

    fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    fn max_positions(&self) -> usize {
        self.config.max_position_embeddings
    }

    fn token_embeddings(&self, ids: Tensor<1, Int>) -> Tensor<2> {
        self.bert.embeddings.word_embeddings.val().select(0, ids)
    }

    fn device(&self) -> Device {
        self.classifier.weight.device()
    }

    fn block_closes(&self) -> Vec<BlockClose<&Option<P>>> {
        self.bert.block_closes().into_iter().map(|c| BlockClose { path: in_encoder(&c.path), ..c }).collect()
    }

    fn block_closes_mut(&mut self) -> Vec<BlockClose<&mut Option<P>>> {
        self.bert.block_closes_mut().into_iter().map(|c| BlockClose { path: in_encoder(&c.path), ..c }).collect()
    }

    fn biases_mut(&mut self) -> Vec<(String, &mut Param<Tensor<1>>)> {
        self.bert.biases_mut().into_iter().map(|(key, bias)| (in_encoder(&key), bias)).collect()
    }

    /// The whole encoder under `BertForSequenceClassification`'s keys (`bert.encoder...`), torch layout.
    fn base_tensors(&self) -> Vec<NamedTensor> {
        self.bert.named_tensors(&format!("{ENCODER}."))
    }

    /// Replaces the encoder's weights with a saved whole model's (`bert.*` or unprefixed keys).
    fn load_base(mut self, ckpt: &Checkpoint) -> Result<Self, LoadError> {
        self.bert = load_encoder(ckpt.reparse()?, &self.config, &self.classifier.weight.device())?;
        Ok(self)
    }

    fn head(&self) -> Option<&'static str> {
        Some(HEAD)
    }

    fn head_tensors(&self, prefix: &str) -> Vec<NamedTensor> {
        linear_tensors(&head_key(prefix), &self.classifier)
    }

    fn load_head(mut self, adapter: &Checkpoint, prefix: &str) -> Result<Self, LoadError> {
        load_linear(adapter, &head_key(prefix), &mut self.classifier)?;
        Ok(self)
    }

    const TASK_TYPE: &'static str = "SEQ_CLS";

    fn model_type(&self) -> &'static str {
        "bert"
    }
}
