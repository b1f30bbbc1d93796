//! Pretrained models: one file per architecture (`bert.rs`), the checkpoint reader (`load.rs`), the tokenizer
//! wrapper, and the sequence classifier that puts a head on an encoder.

pub mod bert;
pub mod dropout;
pub mod load;
pub mod site;
pub mod tensors;
pub mod tokenizer;
pub mod tunable;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::Linear;

use burn::tensor::{Device, Distribution, Int, Tensor};
use dropout::Dropout;

pub use bert::{Bert, BertConfig};
pub use load::{Checkpoint, LoadError};
use tensors::{NamedTensor, linear_tensors, load_linear};
pub use tokenizer::{Encoded, TextTokenizer};

pub use site::SidePath;

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
        let config_text =
            std::str::from_utf8(config_json).map_err(|_| LoadError::Config("config.json is not UTF-8".into()))?;
        let config = BertConfig::parse(config_text)?;
        Checkpoint::parse(&weights)?;
        let tokenizer = TextTokenizer::from_bytes(tokenizer_json)?;
        Ok(Self { name: name.to_string(), config, weights, tokenizer })
    }

    /// Reads `dir/config.json`, `dir/model.safetensors` and `dir/tokenizer.json`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<Self, LoadError> {
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read(&path).map_err(|e| LoadError::Io { path: path.display().to_string(), reason: e.to_string() })
        };
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
        let ckpt = Checkpoint::parse(&self.weights)?.with_prefix_if_present("bert.", bert::WORD_EMBEDDINGS);
        let bert = Bert::load(&ckpt, config, device)?;
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
        let [batch, _] = input_ids.dims();
        let mut words = self.bert.embeddings.words(input_ids);
        let mut mask = mask;
        let visible =
            |mask: Tensor<2>, tokens: usize| Tensor::cat(vec![Tensor::ones([batch, tokens], &mask.device()), mask], 1);
        if let Some(tokens) = self.sequence.as_ref().and_then(SidePath::input_tokens) {
            let [count, hidden] = tokens.dims();
            words = Tensor::cat(vec![tokens.reshape([1, count, hidden]).expand([batch, count, hidden]), words], 1);
            mask = visible(mask, count);
        }
        let prefixes = self.sequence.as_ref().and_then(|side| side.attention_prefixes(batch));
        let position_offset = prefixes.as_ref().and_then(|p| p.first()).map_or(0, |p| p.key.dims()[2]);
        if position_offset > 0 {
            mask = visible(mask, position_offset);
        }
        let embedded = self.bert.embeddings.forward(words, position_offset);
        let hidden = self.bert.encode(embedded, mask, prefixes.as_deref());
        let pooled = self.bert.pool(hidden);
        self.classifier.forward(self.dropout.forward(pooled))
    }

    /// Freezes the pretrained encoder (dropout keeps working, as in peft); the head stays trainable.
    pub fn freeze_base(mut self) -> Self {
        self.bert = self.bert.no_grad();
        self
    }

    /// Replaces the head with `{prefix}.weight` / `{prefix}.bias` from a saved adapter.
    pub fn load_classifier(mut self, adapter: &Checkpoint, prefix: &str) -> Result<Self, LoadError> {
        load_linear(adapter, prefix, &mut self.classifier)?;
        Ok(self)
    }

    pub fn num_labels(&self) -> usize {
        self.classifier.weight.dims()[1]
    }

    /// The head's weight and bias under `{prefix}.weight` / `{prefix}.bias`, torch layout.
    pub fn classifier_tensors(&self, prefix: &str) -> Vec<NamedTensor> {
        linear_tensors(prefix, &self.classifier)
    }

    /// (trainable, total) parameter counts. Trainable means tracked by autodiff, so the model must live on an
    /// autodiff device for the first number to be meaningful. The total is the base model plus everything
    /// the method and the head add, as peft's `get_nb_trainable_parameters` counts.
    pub fn parameter_counts(&self) -> (usize, usize) {
        struct Count {
            trainable: usize,
            total: usize,
        }
        impl ModuleVisitor for Count {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let tensor = param.val();
                let n = tensor.shape().num_elements();
                self.total += n;
                if tensor.is_require_grad() {
                    self.trainable += n;
                }
            }
        }
        let mut count = Count { trainable: 0, total: 0 };
        self.visit(&mut count);
        (count.trainable, count.total)
    }
}
