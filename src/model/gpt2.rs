//! GPT-2-style decoders (GPT-2, DistilGPT-2 and checkpoints people train in its layout): config.json +
//! model.safetensors, or a GGUF file of architecture "gpt2" (read through the same keys, see [`Gpt2Gguf`]).
//!
//! Mirrors transformers' `models/gpt2/modeling_gpt2.py` (4.57): learned positions, pre-norm blocks with LayerNorm,
//! one fused query/key/value projection, a GELU feed-forward, the head tied to the token embedding. Its projections
//! are `Conv1D`s, whose weights are stored [in, out] (burn's own layout). Keys are read with or without the
//! `transformer.` prefix of `GPT2LMHeadModel`; modules are named with it, as peft names them.
//! Tuning sites ([`SidePath`]): every projection is a [`TunableLinear`]; each layer's attention takes keys and
//! values before the sequence (prefix tuning, P-tuning v2, the generation cache).

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use super::attention::{attend, causal_bias, split_heads, with_past};
use super::dropout::Dropout;
use super::gguf::Gguf;
use super::load::{LoadError, Weights, all_finite, check_config, transpose};
use super::norm::LayerNorm;
use super::site::{LayerPrefix, SidePath};
use super::tensors::NamedTensor;
use super::tunable::{Activation, Stored, TunableLinear, named_biases, on_rows};

fn default_act() -> Activation {
    Activation::GeluTanh
}
fn default_dropout() -> f64 {
    0.1
}
fn default_eps() -> f64 {
    1e-5
}
fn default_positions() -> usize {
    1024
}

/// The fields of a GPT-2 config.json that the forward pass needs, with transformers' defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    /// The feed-forward width; 4 × n_embd when absent.
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_positions")]
    pub n_positions: usize,
    #[serde(default = "default_act")]
    pub activation_function: Activation,
    #[serde(default = "default_dropout")]
    pub resid_pdrop: f64,
    #[serde(default = "default_dropout")]
    pub embd_pdrop: f64,
    #[serde(default = "default_dropout")]
    pub attn_pdrop: f64,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
}

const SUPPORTED: &str = "supported: GPT-2-style decoders (model_type \"gpt2\") with scaled attention, without \
cross-attention or per-layer attention scaling";

/// The prefix of `GPT2LMHeadModel`'s keys, and of the module paths peft uses for GPT-2.
const TRANSFORMER: &str = "transformer.";
const TOKEN_EMBEDDING: &str = "wte.weight";
const POSITION_EMBEDDING: &str = "wpe.weight";

impl Gpt2Config {
    /// Parses a config.json whose model_type is "gpt2" and checks that this engine can run it.
    pub fn parse(value: serde_json::Value) -> Result<Self, LoadError> {
        for (flag, refused) in
            [("scale_attn_by_inverse_layer_idx", true), ("add_cross_attention", true), ("scale_attn_weights", false)]
        {
            if value.get(flag).and_then(|v| v.as_bool()) == Some(refused) {
                return Err(LoadError::Unsupported(format!("config.json sets {flag} to {refused}; {SUPPORTED}")));
            }
        }
        let config: Self = serde_json::from_value(value).map_err(|e| LoadError::Config(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Sizes, dropouts and epsilon as every config's ([`check_config`]); heads that divide the width.
    fn check(&self) -> Result<(), LoadError> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_inner", self.inner()),
            ("n_positions", self.n_positions),
        ];
        let dropouts =
            [("resid_pdrop", self.resid_pdrop), ("embd_pdrop", self.embd_pdrop), ("attn_pdrop", self.attn_pdrop)];
        check_config(&sizes, &dropouts, &[("layer_norm_epsilon", self.layer_norm_epsilon)])?;
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(LoadError::Config(format!(
                "n_embd {} is not divisible by n_head {}",
                self.n_embd, self.n_head
            )));
        }
        Ok(())
    }

    pub fn inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    /// The hyper-parameters a GGUF file of architecture "gpt2" gives in its metadata (`gpt2.block_count`...); the
    /// vocabulary and the positions are the embeddings' rows; dropouts and the activation are GPT-2's (the file has
    /// neither).
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, LoadError> {
        let required = |key: &str| gguf.required_size(&format!("gpt2.{key}"), "GPT-2");
        let config = Self {
            vocab_size: gguf.tensor_rows(GGUF_TOKEN_EMBEDDING)?,
            n_embd: required("embedding_length")?,
            n_layer: required("block_count")?,
            n_head: required("attention.head_count")?,
            n_inner: Some(required("feed_forward_length")?),
            n_positions: gguf.tensor_rows(GGUF_POSITION_EMBEDDING)?,
            activation_function: default_act(),
            resid_pdrop: default_dropout(),
            embd_pdrop: default_dropout(),
            attn_pdrop: default_dropout(),
            layer_norm_epsilon: gguf.get_f64("gpt2.attention.layer_norm_epsilon")?.unwrap_or_else(default_eps),
        };
        config.check()?;
        Ok(config)
    }
}

const GGUF_TOKEN_EMBEDDING: &str = "token_embd.weight";
const GGUF_POSITION_EMBEDDING: &str = "position_embd.weight";

/// A GGUF file of architecture "gpt2" seen through the checkpoint's keys (without `transformer.`): llama.cpp's names
/// for the tensors, and its converter's transposition of the `Conv1D` weights (to [out, in]) undone. The tied head it
/// writes out as `output.weight` is the token embedding again, and is not read.
pub struct Gpt2Gguf<'a> {
    pub gguf: &'a Gguf<'a>,
}

impl Gpt2Gguf<'_> {
    /// llama.cpp's name for a checkpoint key, and whether it is a `Conv1D` weight (stored transposed).
    fn gguf_name(key: &str) -> Option<(String, bool)> {
        match key {
            TOKEN_EMBEDDING => return Some((GGUF_TOKEN_EMBEDDING.into(), false)),
            POSITION_EMBEDDING => return Some((GGUF_POSITION_EMBEDDING.into(), false)),
            _ => {}
        }
        if let Some(part) = key.strip_prefix("ln_f.") {
            return Some((format!("output_norm.{part}"), false));
        }
        let (layer, rest) = key.strip_prefix("h.")?.split_once('.')?;
        let (module, part) = rest.rsplit_once('.')?;
        let name = match module {
            "ln_1" => "attn_norm",
            "attn.c_attn" => "attn_qkv",
            "attn.c_proj" => "attn_output",
            "ln_2" => "ffn_norm",
            "mlp.c_fc" => "ffn_up",
            "mlp.c_proj" => "ffn_down",
            _ => return None,
        };
        Some((format!("blk.{layer}.{name}.{part}"), part == "weight" && !module.starts_with("ln")))
    }
}

impl Weights for Gpt2Gguf<'_> {
    fn values(&self, key: &str, expected: &[usize]) -> Result<Vec<f32>, LoadError> {
        let (name, transposed) =
            Self::gguf_name(key).ok_or_else(|| LoadError::Unsupported(format!("no GGUF tensor stands for '{key}'")))?;
        let (shape, values) = self.gguf.tensor(&name)?;
        // A Conv1D weight [in, out] is stored as torch's Linear would store it, [out, in].
        let stored: Vec<usize> = match transposed {
            true => expected.iter().rev().copied().collect(),
            false => expected.to_vec(),
        };
        if shape != stored {
            return Err(LoadError::WrongShape {
                config: "the GGUF file's metadata",
                key: name,
                found: shape,
                expected: stored,
            });
        }
        let values = match transposed {
            true => transpose(&values, stored[0], stored[1]),
            false => values,
        };
        all_finite("the GGUF file", &name, values)
    }
}

#[derive(Module, Debug)]
pub struct Gpt2Block<P: SidePath> {
    pub ln_1: LayerNorm,
    /// Queries, keys and values in one projection [hidden, 3 · hidden].
    pub c_attn: TunableLinear<P>,
    pub attn_c_proj: TunableLinear<P>,
    pub ln_2: LayerNorm,
    pub c_fc: TunableLinear<P>,
    pub mlp_c_proj: TunableLinear<P>,
    pub attn_dropout: Dropout,
    pub resid_dropout: Dropout,
    pub heads: usize,
    #[module(skip)]
    pub act: Activation,
}

impl<P: SidePath> Gpt2Block<P> {
    fn load(weights: &impl Weights, cfg: &Gpt2Config, index: usize, device: &Device) -> Result<Self, LoadError> {
        let p = format!("h.{index}");
        let (h, i, eps) = (cfg.n_embd, cfg.inner(), cfg.layer_norm_epsilon);
        let conv = |path: String, shape| TunableLinear::load_stored(weights, &path, shape, Stored::Conv1D, device);
        Ok(Self {
            ln_1: LayerNorm::load(weights, &format!("{p}.ln_1"), h, eps, device)?,
            c_attn: conv(format!("{p}.attn.c_attn"), [h, 3 * h])?,
            attn_c_proj: conv(format!("{p}.attn.c_proj"), [h, h])?,
            ln_2: LayerNorm::load(weights, &format!("{p}.ln_2"), h, eps, device)?,
            c_fc: conv(format!("{p}.mlp.c_fc"), [h, i])?,
            mlp_c_proj: conv(format!("{p}.mlp.c_proj"), [i, h])?,
            attn_dropout: Dropout::new(cfg.attn_pdrop),
            resid_dropout: Dropout::new(cfg.resid_pdrop),
            heads: cfg.n_head,
            act: cfg.activation_function,
        })
    }

    fn forward(&self, x: Tensor<3>, bias: Tensor<4>, past: Option<&LayerPrefix>) -> (Tensor<3>, LayerPrefix) {
        let [batch, seq, hidden] = x.dims();
        let qkv = self.c_attn.forward(self.ln_1.forward(x.clone()));
        let part =
            |i: usize| split_heads(qkv.clone().slice([0..batch, 0..seq, i * hidden..(i + 1) * hidden]), self.heads);
        let present = with_past(past, part(1), part(2));
        let attended = attend(part(0), present.key.clone(), present.value.clone(), bias, &self.attn_dropout);
        let x = x + self.resid_dropout.forward(self.attn_c_proj.forward(attended));
        let inner = self.act.forward(self.c_fc.forward(self.ln_2.forward(x.clone())));
        (x.clone() + self.resid_dropout.forward(self.mlp_c_proj.forward(inner)), present)
    }
}

/// Every projection with its path under `transformer.`, borrowed as `&` or `&mut` (one list for both).
macro_rules! projections {
    ($gpt2:expr, $($borrow:tt)+) => {{
        let mut out = Vec::new();
        for b in ($($borrow)+ $gpt2.h).into_iter() {
            out.extend([$($borrow)+ b.c_attn, $($borrow)+ b.attn_c_proj, $($borrow)+ b.c_fc, $($borrow)+ b.mlp_c_proj]);
        }
        out.into_iter().map(|l| (format!("{TRANSFORMER}{}", l.path), l)).collect()
    }};
}

/// A GPT-2 decoder with its tied language-model head (`GPT2LMHeadModel`).
#[derive(Module, Debug)]
pub struct Gpt2<P: SidePath> {
    pub wte: Param<Tensor<2>>,
    pub wpe: Param<Tensor<2>>,
    pub dropout: Dropout,
    pub h: Vec<Gpt2Block<P>>,
    pub ln_f: LayerNorm,
    #[module(skip)]
    pub config: Gpt2Config,
}

impl<P: SidePath> Gpt2<P> {
    /// Loads a GPT-2 checkpoint, its keys under `transformer.` (`GPT2LMHeadModel`) or bare (`GPT2Model`, OpenAI's).
    pub fn load(weights: &super::Checkpoint, cfg: &Gpt2Config, device: &Device) -> Result<Self, LoadError> {
        Self::load_weights(&weights.reparse()?.with_prefix_if_present(TRANSFORMER, TOKEN_EMBEDDING), cfg, device)
    }

    /// Loads GPT-2's weights by their keys without `transformer.`: a checkpoint's, or a GGUF file's ([`Gpt2Gguf`]).
    pub fn load_weights(weights: &impl Weights, cfg: &Gpt2Config, device: &Device) -> Result<Self, LoadError> {
        let h = cfg.n_embd;
        let blocks = (0..cfg.n_layer).map(|i| Gpt2Block::load(weights, cfg, i, device)).collect::<Result<_, _>>()?;
        Ok(Self {
            wte: Param::from_tensor(weights.tensor(TOKEN_EMBEDDING, [cfg.vocab_size, h], device)?),
            wpe: Param::from_tensor(weights.tensor(POSITION_EMBEDDING, [cfg.n_positions, h], device)?),
            dropout: Dropout::new(cfg.embd_pdrop),
            h: blocks,
            ln_f: LayerNorm::load(weights, "ln_f", h, cfg.layer_norm_epsilon, device)?,
            config: cfg.clone(),
        })
    }

    /// The token embeddings of `ids` [batch, seq]: [batch, seq, hidden].
    pub fn words(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        burn::tensor::module::embedding(self.wte.val(), ids)
    }

    /// As [`super::llama::Llama::forward`]: `words` take the positions after `past`'s, `mask` covers both.
    pub fn forward(
        &self,
        words: Tensor<3>,
        mask: Tensor<2>,
        past: Option<&[LayerPrefix]>,
    ) -> (Tensor<3>, Vec<LayerPrefix>) {
        let [_, seq, hidden] = words.dims();
        let start = mask.dims()[1] - seq;
        let positions = self.wpe.val().narrow(0, start, seq).reshape([1, seq, hidden]);
        let bias = causal_bias(mask, seq);
        let mut x = self.dropout.forward(words + positions);
        let mut presents = Vec::with_capacity(self.h.len());
        for (i, block) in self.h.iter().enumerate() {
            let (out, present) = block.forward(x, bias.clone(), past.map(|p| &p[i]));
            x = out;
            presents.push(present);
        }
        (self.ln_f.forward(x), presents)
    }

    /// The next-token logits [batch, seq, vocab] of final hidden states (the head is the token embedding).
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let head = self.wte.val();
        on_rows(hidden, |rows| rows.matmul(head.transpose()))
    }

    /// Every projection with its module path as peft names it (`transformer.h.0.attn.c_attn`).
    pub fn tunable_linears(&self) -> Vec<(String, &TunableLinear<P>)> {
        projections!(self, &)
    }

    pub fn tunable_linears_mut(&mut self) -> Vec<(String, &mut TunableLinear<P>)> {
        projections!(self, &mut)
    }

    /// Every weight under its `GPT2LMHeadModel` key (`transformer.h.0.attn.c_attn.weight`, [in, out] as `Conv1D`
    /// stores it); the head is the token embedding.
    pub fn named_tensors(&self) -> Vec<NamedTensor> {
        let mut out = vec![
            NamedTensor::new(format!("{TRANSFORMER}{TOKEN_EMBEDDING}"), self.wte.val()),
            NamedTensor::new(format!("{TRANSFORMER}{POSITION_EMBEDDING}"), self.wpe.val()),
        ];
        for b in &self.h {
            out.extend(b.ln_1.named_tensors(TRANSFORMER));
            out.extend(b.ln_2.named_tensors(TRANSFORMER));
            for linear in [&b.c_attn, &b.attn_c_proj, &b.c_fc, &b.mlp_c_proj] {
                out.extend(linear.named_tensors(TRANSFORMER));
            }
        }
        out.extend(self.ln_f.named_tensors(TRANSFORMER));
        out
    }

    /// Every bias (projections', LayerNorms') under its `GPT2LMHeadModel` key.
    pub fn biases_mut(&mut self) -> Vec<(String, &mut Param<Tensor<1>>)> {
        let (mut linears, mut norms) = (Vec::new(), vec![&mut self.ln_f]);
        for b in &mut self.h {
            let Gpt2Block { ln_1, c_attn, attn_c_proj, ln_2, c_fc, mlp_c_proj, .. } = b;
            linears.extend([c_attn, attn_c_proj, c_fc, mlp_c_proj]);
            norms.extend([ln_1, ln_2]);
        }
        named_biases(linears, norms).into_iter().map(|(key, bias)| (format!("{TRANSFORMER}{key}"), bias)).collect()
    }
}
