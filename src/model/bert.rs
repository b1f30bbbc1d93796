//! BERT-family encoders (BERT, MiniLM, bert-tiny/mini/small): config.json + model.safetensors.
//!
//! Mirrors transformers' `models/bert/modeling_bert.py` (4.57): struct fields follow the checkpoint's key paths
//! (`encoder.layer.N.attention.self.query`), so loading is mechanical and a mismatch names the exact key.
//! Tuning sites ([`SidePath`]): every projection is a [`TunableLinear`], each sub-block closes through a
//! block-close site, and each layer's attention takes prefix keys/values (prefix tuning, P-tuning v2) before its own.

use super::dropout::Dropout;
use burn::module::{Module, Param};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use super::load::{Checkpoint, LoadError, Weights, check_config};
use super::norm::LayerNorm;
pub use super::site::LayerPrefix;
use super::site::{Block, BlockClose, SidePath};
use super::tensors::NamedTensor;
use super::tunable::{Activation, TunableLinear, named_biases};

fn default_act() -> Activation {
    Activation::Gelu
}
fn default_dropout() -> f64 {
    0.1
}
fn default_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_position_type() -> String {
    "absolute".into()
}

/// The fields of a BERT config.json that the forward pass needs, with transformers' defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BertConfig {
    #[serde(default)]
    pub model_type: Option<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
}

const SUPPORTED: &str = "supported: model_type \"bert\" (BERT, MiniLM, bert-tiny/mini/small-style checkpoints) \
with hidden_act gelu/gelu_new/relu and absolute position embeddings";

impl BertConfig {
    /// Parses config.json and checks that this engine can run it.
    pub fn parse(json: &str) -> Result<Self, LoadError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| LoadError::Config(e.to_string()))?;
        let model_type = value.get("model_type").and_then(|v| v.as_str()).unwrap_or("");
        if model_type != "bert" {
            let found = if model_type.is_empty() {
                "no model_type".to_string()
            } else {
                format!("model_type \"{model_type}\"")
            };
            return Err(LoadError::Unsupported(format!("config.json has {found}; {SUPPORTED}")));
        }
        // Checked by name before parsing, so that an activation we know but BERT does not use is named the same way.
        let act = value.get("hidden_act").and_then(|v| v.as_str()).unwrap_or("gelu");
        if !matches!(Activation::from_name(act), Some(Activation::Gelu | Activation::GeluTanh | Activation::Relu)) {
            return Err(LoadError::Unsupported(format!("hidden_act \"{act}\"; {SUPPORTED}")));
        }
        let config: Self = serde_json::from_value(value).map_err(|e| LoadError::Config(e.to_string()))?;
        if config.position_embedding_type != "absolute" {
            return Err(LoadError::Unsupported(format!(
                "position_embedding_type \"{}\"; {SUPPORTED}",
                config.position_embedding_type
            )));
        }
        config.check()?;
        Ok(config)
    }

    /// Sizes, dropouts and epsilon as every config's ([`check_config`]); heads that divide the width.
    fn check(&self) -> Result<(), LoadError> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        let dropouts = [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            ("attention_probs_dropout_prob", self.attention_probs_dropout_prob),
        ];
        check_config(&sizes, &dropouts, &[("layer_norm_eps", self.layer_norm_eps)])?;
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(LoadError::Config(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// A copy with every dropout off (reference comparisons run the model deterministically).
    pub fn without_dropout(&self) -> Self {
        Self { hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0, ..self.clone() }
    }
}

/// The key a BERT checkpoint always has (found under `bert.` in task checkpoints).
pub const WORD_EMBEDDINGS: &str = "embeddings.word_embeddings.weight";
const POSITION_EMBEDDINGS: &str = "embeddings.position_embeddings.weight";
const TOKEN_TYPE_EMBEDDINGS: &str = "embeddings.token_type_embeddings.weight";

#[derive(Module, Debug)]
pub struct Embeddings {
    pub word_embeddings: Param<Tensor<2>>,
    pub position_embeddings: Param<Tensor<2>>,
    pub token_type_embeddings: Param<Tensor<2>>,
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
}

impl Embeddings {
    fn load(ckpt: &Checkpoint, cfg: &BertConfig, device: &Device) -> Result<Self, LoadError> {
        let h = cfg.hidden_size;
        Ok(Self {
            word_embeddings: Param::from_tensor(ckpt.tensor(WORD_EMBEDDINGS, [cfg.vocab_size, h], device)?),
            position_embeddings: Param::from_tensor(ckpt.tensor(
                POSITION_EMBEDDINGS,
                [cfg.max_position_embeddings, h],
                device,
            )?),
            token_type_embeddings: Param::from_tensor(ckpt.tensor(
                TOKEN_TYPE_EMBEDDINGS,
                [cfg.type_vocab_size, h],
                device,
            )?),
            layer_norm: LayerNorm::load(ckpt, "embeddings.LayerNorm", h, cfg.layer_norm_eps, device)?,
            dropout: Dropout::new(cfg.hidden_dropout_prob),
        })
    }

    /// Word embeddings only: input-level methods (prompt tuning, P-tuning) prepend to these.
    pub fn words(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        burn::tensor::module::embedding(self.word_embeddings.val(), input_ids)
    }

    /// `words` [batch, seq, hidden] plus positions starting at `position_offset` and token type 0, normalised.
    /// transformers offsets positions by the length of the past keys when a prefix is given; so do we.
    pub fn forward(&self, words: Tensor<3>, position_offset: usize) -> Tensor<3> {
        let [_, seq, hidden] = words.dims();
        let positions = self.position_embeddings.val().narrow(0, position_offset, seq);
        let token_type = self.token_type_embeddings.val().narrow(0, 0, 1);
        let x = words + positions.reshape([1, seq, hidden]) + token_type.reshape([1, 1, hidden]);
        self.dropout.forward(self.layer_norm.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct SelfAttention<P: SidePath> {
    pub query: TunableLinear<P>,
    pub key: TunableLinear<P>,
    pub value: TunableLinear<P>,
    pub dropout: Dropout,
    pub heads: usize,
}

impl<P: SidePath> SelfAttention<P> {
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, seq, hidden] = x.dims();
        x.reshape([batch, seq, self.heads, hidden / self.heads]).swap_dims(1, 2)
    }

    /// `mask_bias` [batch, 1, 1, keys] holds 0 for visible keys and a large negative number for padding.
    fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>, prefix: Option<&LayerPrefix>) -> Tensor<3> {
        let [batch, seq, hidden] = x.dims();
        let q = self.split_heads(self.query.forward(x.clone()));
        let mut k = self.split_heads(self.key.forward(x.clone()));
        let mut v = self.split_heads(self.value.forward(x));
        if let Some(prefix) = prefix {
            k = Tensor::cat(vec![prefix.key.clone(), k], 2);
            v = Tensor::cat(vec![prefix.value.clone(), v], 2);
        }
        let scale = 1.0 / ((hidden / self.heads) as f64).sqrt();
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale) + mask_bias;
        let probs = self.dropout.forward(softmax(scores, 3));
        probs.matmul(v).swap_dims(1, 2).reshape([batch, seq, hidden])
    }
}

#[derive(Module, Debug)]
pub struct Layer<P: SidePath> {
    pub attention_self: SelfAttention<P>,
    pub attention_output: TunableLinear<P>,
    pub attention_layer_norm: LayerNorm,
    pub intermediate: TunableLinear<P>,
    pub output: TunableLinear<P>,
    pub output_layer_norm: LayerNorm,
    pub dropout: Dropout,
    /// The block-close sites after the attention block and after the feed-forward block.
    pub attention_close: Option<P>,
    pub output_close: Option<P>,
    #[module(skip)]
    pub act: Activation,
}

impl<P: SidePath> Layer<P> {
    fn load(ckpt: &Checkpoint, cfg: &BertConfig, index: usize, device: &Device) -> Result<Self, LoadError> {
        let p = format!("encoder.layer.{index}");
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        Ok(Self {
            attention_self: SelfAttention {
                query: TunableLinear::load(ckpt, &format!("{p}.attention.self.query"), h, h, device)?,
                key: TunableLinear::load(ckpt, &format!("{p}.attention.self.key"), h, h, device)?,
                value: TunableLinear::load(ckpt, &format!("{p}.attention.self.value"), h, h, device)?,
                dropout: Dropout::new(cfg.attention_probs_dropout_prob),
                heads: cfg.num_attention_heads,
            },
            attention_output: TunableLinear::load(ckpt, &format!("{p}.attention.output.dense"), h, h, device)?,
            attention_layer_norm: LayerNorm::load(ckpt, &format!("{p}.attention.output.LayerNorm"), h, eps, device)?,
            intermediate: TunableLinear::load(ckpt, &format!("{p}.intermediate.dense"), h, i, device)?,
            output: TunableLinear::load(ckpt, &format!("{p}.output.dense"), i, h, device)?,
            output_layer_norm: LayerNorm::load(ckpt, &format!("{p}.output.LayerNorm"), h, eps, device)?,
            dropout: Dropout::new(cfg.hidden_dropout_prob),
            attention_close: None,
            output_close: None,
            act: cfg.hidden_act,
        })
    }

    fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>, prefix: Option<&LayerPrefix>) -> Tensor<3> {
        let attended = self.attention_self.forward(x.clone(), mask_bias, prefix);
        let attended = self.dropout.forward(self.attention_output.forward(attended));
        let x = add_and_norm(attended, x, &self.attention_layer_norm, self.attention_close.as_ref());
        let inner = self.act.forward(self.intermediate.forward(x.clone()));
        let out = self.dropout.forward(self.output.forward(inner));
        add_and_norm(out, x, &self.output_layer_norm, self.output_close.as_ref())
    }
}

/// The residual connection and LayerNorm closing a sub-block, LayerNorm(h + x), or what the side path at this
/// block-close site makes of it.
fn add_and_norm<P: SidePath>(h: Tensor<3>, x: Tensor<3>, norm: &LayerNorm, side: Option<&P>) -> Tensor<3> {
    match side {
        Some(side) => side.close_block(h, x, norm),
        None => norm.forward(h + x),
    }
}

/// The encoder: embeddings, layers and pooler (`BertModel`).
#[derive(Module, Debug)]
pub struct Bert<P: SidePath> {
    pub embeddings: Embeddings,
    pub layers: Vec<Layer<P>>,
    pub pooler: TunableLinear<P>,
}

impl<P: SidePath> Bert<P> {
    /// Loads the encoder from a checkpoint whose keys are `embeddings.*`/`encoder.*`/`pooler.*`, optionally under `bert.`.
    pub fn load(ckpt: &Checkpoint, cfg: &BertConfig, device: &Device) -> Result<Self, LoadError> {
        let layers = (0..cfg.num_hidden_layers).map(|i| Layer::load(ckpt, cfg, i, device)).collect::<Result<_, _>>()?;
        let h = cfg.hidden_size;
        Ok(Self {
            embeddings: Embeddings::load(ckpt, cfg, device)?,
            layers,
            pooler: TunableLinear::load(ckpt, "pooler.dense", h, h, device)?,
        })
    }

    /// Runs the layers over embedded input. `mask` [batch, keys] is 1 for tokens to attend to, prefix included.
    pub fn encode(&self, embedded: Tensor<3>, mask: Tensor<2>, prefixes: Option<&[LayerPrefix]>) -> Tensor<3> {
        let [batch, keys] = mask.dims();
        // (1 - mask) * large negative, as transformers' extended attention mask (finfo.min there; -1e9 keeps
        // the sum finite on every backend and the softmax result identical).
        let mask_bias = mask.neg().add_scalar(1.0).mul_scalar(-1.0e9).reshape([batch, 1, 1, keys]);
        let mut x = embedded;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x, mask_bias.clone(), prefixes.map(|p| &p[i]));
        }
        x
    }

    /// tanh(dense(hidden state of the first token)), as `BertPooler`.
    pub fn pool(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, h] = hidden.dims();
        let first = hidden.slice([0..batch, 0..1]).reshape([batch, h]);
        self.pooler.forward(first).tanh()
    }
}

/// Every projection, borrowed as `&` or `&mut` (one list for both).
macro_rules! projections {
    ($bert:expr, $($borrow:tt)+) => {{
        let bert = $bert;
        let mut out = Vec::new();
        for l in ($($borrow)+ bert.layers).into_iter() {
            out.push($($borrow)+ l.attention_self.query);
            out.push($($borrow)+ l.attention_self.key);
            out.push($($borrow)+ l.attention_self.value);
            out.push($($borrow)+ l.attention_output);
            out.push($($borrow)+ l.intermediate);
            out.push($($borrow)+ l.output);
        }
        out.push($($borrow)+ bert.pooler);
        out
    }};
}

/// Every block-close site, borrowed as `&` or `&mut`; its path is its LayerNorm's module (`...attention.output`).
macro_rules! block_closes {
    ($bert:expr, $($borrow:tt)+) => {{
        let mut out = Vec::new();
        for l in ($($borrow)+ $bert.layers).into_iter() {
            let parent = |norm: &LayerNorm| norm.path.rsplit_once('.').map_or(String::new(), |(m, _)| m.to_string());
            let (attention, feed_forward) = (parent(&l.attention_layer_norm), parent(&l.output_layer_norm));
            out.push(BlockClose { block: Block::Attention, path: attention, side: $($borrow)+ l.attention_close });
            out.push(BlockClose { block: Block::FeedForward, path: feed_forward, side: $($borrow)+ l.output_close });
        }
        out
    }};
}

impl<P: SidePath> Bert<P> {
    pub fn block_closes(&self) -> Vec<BlockClose<&Option<P>>> {
        block_closes!(self, &)
    }

    pub fn block_closes_mut(&mut self) -> Vec<BlockClose<&mut Option<P>>> {
        block_closes!(self, &mut)
    }

    /// Every projection with its checkpoint path (`encoder.layer.0.attention.self.query`), as peft names modules.
    pub fn tunable_linears(&self) -> Vec<(String, &TunableLinear<P>)> {
        projections!(self, &).into_iter().map(|l| (l.path.clone(), l)).collect()
    }

    pub fn tunable_linears_mut(&mut self) -> Vec<(String, &mut TunableLinear<P>)> {
        projections!(self, &mut).into_iter().map(|l| (l.path.clone(), l)).collect()
    }

    /// Every bias (projections', the pooler's, the LayerNorms') with its checkpoint key (`encoder.layer.0.output.dense.bias`).
    pub fn biases_mut(&mut self) -> Vec<(String, &mut Param<Tensor<1>>)> {
        let (mut linears, mut norms) = (vec![&mut self.pooler], vec![&mut self.embeddings.layer_norm]);
        for l in &mut self.layers {
            let Layer {
                attention_self: a,
                attention_output,
                attention_layer_norm,
                intermediate,
                output,
                output_layer_norm,
                ..
            } = l;
            linears.extend([&mut a.query, &mut a.key, &mut a.value, attention_output, intermediate, output]);
            norms.extend([attention_layer_norm, output_layer_norm]);
        }
        named_biases(linears, norms)
    }

    /// Every base weight under its checkpoint key (with `prefix`), in torch layout.
    pub fn named_tensors(&self, prefix: &str) -> Vec<NamedTensor> {
        let e = &self.embeddings;
        let mut out = vec![
            NamedTensor::new(format!("{prefix}{WORD_EMBEDDINGS}"), e.word_embeddings.val()),
            NamedTensor::new(format!("{prefix}{POSITION_EMBEDDINGS}"), e.position_embeddings.val()),
            NamedTensor::new(format!("{prefix}{TOKEN_TYPE_EMBEDDINGS}"), e.token_type_embeddings.val()),
        ];
        out.extend(e.layer_norm.named_tensors(prefix));
        for (_, linear) in self.tunable_linears() {
            out.extend(linear.named_tensors(prefix));
        }
        for l in &self.layers {
            out.extend(l.attention_layer_norm.named_tensors(prefix));
            out.extend(l.output_layer_norm.named_tensors(prefix));
        }
        out
    }
}
