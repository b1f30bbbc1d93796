//! Llama-family decoders (Llama 2 and 3, SmolLM2, TinyLlama): config.json + model.safetensors, or a GGUF file.
//!
//! Mirrors transformers' `models/llama/modeling_llama.py` (4.57): pre-norm blocks with RMSNorm, rotary position
//! embeddings (the rotate-half convention), grouped-query attention, a SwiGLU feed-forward, and a head that is the
//! embedding (tied, as SmolLM2's) or a matrix of its own. Struct fields follow the checkpoint's key paths
//! (`model.layers.N.self_attn.q_proj`), and a GGUF file is read through the same paths (see [`LlamaGguf`]).
//! Tuning sites ([`SidePath`]): every projection is a [`TunableLinear`]; each layer's attention takes keys and
//! values before the sequence (prefix tuning, P-tuning v2, the generation cache).

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::attention::{attend, causal_bias, split_heads, with_past};
use super::dropout::Dropout;
use super::gguf::Gguf;
use super::load::{LoadError, Weights, all_finite, check_config};
use super::norm::RmsNorm;
use super::site::{LayerPrefix, SidePath};
use super::tensors::NamedTensor;
use super::tunable::{Activation, Stored, TunableLinear, on_rows};

fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10_000.0
}
fn default_positions() -> usize {
    2048
}
fn default_act() -> Activation {
    Activation::Swish
}

/// The fields of a Llama config.json that the forward pass needs, with transformers' defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); as many as the query heads when absent.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Width of a head; hidden_size / num_attention_heads when absent.
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    /// Divisors of the rotary frequencies, one per pair of a head's dimensions, where they are scaled as Llama 3.1
    /// does: from config.json's `rope_scaling` (rope_type "llama3") or a GGUF file's `rope_factors` tensor.
    #[serde(skip)]
    pub rope_factors: Option<Vec<f32>>,
}

const SUPPORTED: &str = "supported: Llama-family decoders (model_type \"llama\") with SiLU feed-forwards, no \
projection biases, and plain rotary embeddings or Llama 3's scaling of them (rope_scaling with rope_type \"llama3\")";

/// The GGUF tensor llama.cpp's converter writes Llama 3's rotary scaling into (the divisors of the frequencies).
const GGUF_ROPE_FACTORS: &str = "rope_freqs.weight";

/// Llama 3.1's divisors of the rotary frequencies (transformers' `_compute_llama3_parameters`, llama.cpp's
/// `rope_freqs`): frequencies whose wavelength exceeds the original context over `low_freq_factor` are divided by
/// `factor`, those shorter than it over `high_freq_factor` kept, and those between blended smoothly.
fn llama3_rope_factors(scaling: &serde_json::Value, theta: f64, head_dim: usize) -> Result<Vec<f32>, LoadError> {
    let number = |key: &str| {
        scaling.get(key).and_then(|v| v.as_f64()).filter(|v| v.is_finite() && *v > 0.0).ok_or_else(|| {
            LoadError::Config(format!("rope_scaling needs '{key}', a positive number, for rope_type \"llama3\""))
        })
    };
    let (factor, low, high) = (number("factor")?, number("low_freq_factor")?, number("high_freq_factor")?);
    let context = number("original_max_position_embeddings")?;
    if high <= low {
        return Err(LoadError::Config(format!(
            "rope_scaling's high_freq_factor {high} must be above its low_freq_factor {low}"
        )));
    }
    let (low_wavelength, high_wavelength) = (context / low, context / high);
    Ok((0..head_dim / 2)
        .map(|i| {
            let frequency = 1.0 / theta.powf((2 * i) as f64 / head_dim as f64);
            let wavelength = 2.0 * std::f64::consts::PI / frequency;
            let divisor = if wavelength < high_wavelength {
                1.0
            } else if wavelength > low_wavelength {
                factor
            } else {
                let smooth = (context / wavelength - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            };
            divisor as f32
        })
        .collect())
}

impl LlamaConfig {
    /// Parses a config.json whose model_type is "llama" and checks that this engine can run it.
    pub fn parse(value: serde_json::Value) -> Result<Self, LoadError> {
        for flag in ["attention_bias", "mlp_bias"] {
            if value.get(flag).and_then(|v| v.as_bool()) == Some(true) {
                return Err(LoadError::Unsupported(format!("config.json sets {flag}; {SUPPORTED}")));
            }
        }
        // transformers reads rope_type "default" as no scaling.
        fn kind(s: &serde_json::Value) -> Option<&str> {
            s.get("rope_type").or_else(|| s.get("type")).and_then(|v| v.as_str())
        }
        let scaling = value.get("rope_scaling").filter(|v| !v.is_null() && kind(v) != Some("default")).cloned();
        if let Some(scaling) = &scaling
            && kind(scaling) != Some("llama3")
        {
            return Err(LoadError::Unsupported(format!("config.json has rope_scaling {scaling}; {SUPPORTED}")));
        }
        let act = value.get("hidden_act").and_then(|v| v.as_str()).unwrap_or("silu");
        if Activation::from_name(act) != Some(Activation::Swish) {
            return Err(LoadError::Unsupported(format!("hidden_act \"{act}\"; {SUPPORTED}")));
        }
        let mut config: Self = serde_json::from_value(value).map_err(|e| LoadError::Config(e.to_string()))?;
        if let Some(scaling) = &scaling {
            config.rope_factors = Some(llama3_rope_factors(scaling, config.rope_theta, config.head_dim())?);
        }
        config.checked()
    }

    /// The hyper-parameters a GGUF file of architecture "llama" gives in its metadata (`llama.block_count`...); the
    /// vocabulary size is the token embedding's, the head is tied when the file has no `output.weight`.
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, LoadError> {
        let optional = |key: &str| gguf.get_size(&format!("llama.{key}"));
        let required = |key: &str| gguf.required_size(&format!("llama.{key}"), "Llama");
        let heads = required("attention.head_count")?;
        let config = Self {
            vocab_size: gguf.tensor_rows(GGUF_EMBEDDING)?,
            hidden_size: required("embedding_length")?,
            intermediate_size: required("feed_forward_length")?,
            num_hidden_layers: required("block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: Some(optional("attention.head_count_kv")?.unwrap_or(heads)),
            head_dim: optional("attention.key_length")?,
            rms_norm_eps: gguf.get_f64("llama.attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5),
            rope_theta: gguf.get_f64("llama.rope.freq_base")?.unwrap_or_else(default_theta),
            max_position_embeddings: required("context_length")?,
            tie_word_embeddings: gguf.tensor_info(GGUF_HEAD).is_none(),
            hidden_act: Activation::Swish,
            rope_factors: match gguf.tensor_info(GGUF_ROPE_FACTORS) {
                Some(_) => Some(gguf.tensor(GGUF_ROPE_FACTORS)?.1),
                None => None,
            },
        };
        if gguf.get("llama.rope.scaling.type").is_some_and(|v| v.as_str() != Some("none")) {
            return Err(LoadError::Unsupported(format!("the GGUF file scales its rotary embeddings; {SUPPORTED}")));
        }
        config.checked()
    }

    /// The config with its implied sizes written out (key/value heads, head width), once checked.
    fn checked(mut self) -> Result<Self, LoadError> {
        self.num_key_value_heads = Some(self.kv_heads());
        self.head_dim = Some(self.head_dim());
        self.check()?;
        Ok(self)
    }

    /// Sizes and epsilon as every config's ([`check_config`]); query heads in whole groups per key/value head; an
    /// even head width; a rotary base above 1.
    fn check(&self) -> Result<(), LoadError> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.kv_heads()),
            ("head_dim", self.head_dim()),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        check_config(&sizes, &[], &[("rms_norm_eps", self.rms_norm_eps)])?;
        if !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return Err(LoadError::Config(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads,
                self.kv_heads()
            )));
        }
        if self.head_dim() % 2 == 1 {
            return Err(LoadError::Config(format!(
                "the head width is {}; rotary embeddings need an even one",
                self.head_dim()
            )));
        }
        if !(self.rope_theta > 1.0 && self.rope_theta.is_finite()) {
            return Err(LoadError::Config(format!("rope_theta is {}; it must be above 1", self.rope_theta)));
        }
        if let Some(factors) = &self.rope_factors {
            let pairs = self.head_dim() / 2;
            if factors.len() != pairs || !factors.iter().all(|f| f.is_finite() && *f > 0.0) {
                return Err(LoadError::Config(format!(
                    "the rotary scaling has {} factors; the head width {} needs {pairs}, each positive",
                    factors.len(),
                    self.head_dim()
                )));
            }
        }
        Ok(())
    }

    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }
}

const EMBEDDING: &str = "model.embed_tokens.weight";
const HEAD: &str = "lm_head.weight";
const GGUF_EMBEDDING: &str = "token_embd.weight";
const GGUF_HEAD: &str = "output.weight";

/// The cosines and sines of the rotary embedding for positions `start..start + count`, each [count, head_dim]
/// (the angles of the first half repeated for the second), computed in f32 as transformers does; each frequency
/// divided by its factor where the config scales them.
fn rotary_tables(config: &LlamaConfig, start: usize, count: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let (head_dim, theta) = (config.head_dim(), config.rope_theta as f32);
    let divisor = |i: usize| config.rope_factors.as_ref().map_or(1.0, |factors| factors[i]);
    let inverse: Vec<f32> =
        (0..head_dim / 2).map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32) / divisor(i)).collect();
    let (mut cos, mut sin) = (Vec::with_capacity(count * head_dim), Vec::with_capacity(count * head_dim));
    for position in start..start + count {
        for _ in 0..2 {
            for &f in &inverse {
                let angle = position as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
    }
    let table = |values| Tensor::from_data(TensorData::new(values, [count, head_dim]), device);
    (table(cos), table(sin))
}

/// x·cos + rotate_half(x)·sin, with rotate_half(x) = [-x₂, x₁] over the halves of the head: `x` [batch, heads,
/// seq, head_dim], the tables [seq, head_dim].
fn rotate(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>) -> Tensor<4> {
    let half = x.dims()[3] / 2;
    let rotated = Tensor::cat(vec![x.clone().narrow(3, half, half).neg(), x.clone().narrow(3, 0, half)], 3);
    x * cos.clone().unsqueeze::<4>() + rotated * sin.clone().unsqueeze::<4>()
}

#[derive(Module, Debug)]
pub struct LlamaAttention<P: SidePath> {
    pub q_proj: TunableLinear<P>,
    pub k_proj: TunableLinear<P>,
    pub v_proj: TunableLinear<P>,
    pub o_proj: TunableLinear<P>,
    pub dropout: Dropout,
    pub heads: usize,
    pub kv_heads: usize,
}

impl<P: SidePath> LlamaAttention<P> {
    fn forward(
        &self,
        x: Tensor<3>,
        rotary: &(Tensor<2>, Tensor<2>),
        bias: Tensor<4>,
        past: Option<&LayerPrefix>,
    ) -> (Tensor<3>, LayerPrefix) {
        let (cos, sin) = rotary;
        let q = rotate(split_heads(self.q_proj.forward(x.clone()), self.heads), cos, sin);
        let k = rotate(split_heads(self.k_proj.forward(x.clone()), self.kv_heads), cos, sin);
        let v = split_heads(self.v_proj.forward(x), self.kv_heads);
        let present = with_past(past, k, v);
        let attended = attend(q, present.key.clone(), present.value.clone(), bias, &self.dropout);
        (self.o_proj.forward(attended), present)
    }
}

#[derive(Module, Debug)]
pub struct LlamaLayer<P: SidePath> {
    pub input_layernorm: RmsNorm,
    pub self_attn: LlamaAttention<P>,
    pub post_attention_layernorm: RmsNorm,
    pub gate_proj: TunableLinear<P>,
    pub up_proj: TunableLinear<P>,
    pub down_proj: TunableLinear<P>,
}

impl<P: SidePath> LlamaLayer<P> {
    fn load(weights: &impl Weights, cfg: &LlamaConfig, index: usize, device: &Device) -> Result<Self, LoadError> {
        let p = format!("model.layers.{index}");
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.rms_norm_eps);
        let (q, kv) = (cfg.num_attention_heads * cfg.head_dim(), cfg.kv_heads() * cfg.head_dim());
        let projection =
            |path: String, shape| TunableLinear::load_stored(weights, &path, shape, Stored::LinearWithoutBias, device);
        Ok(Self {
            input_layernorm: RmsNorm::load(weights, &format!("{p}.input_layernorm"), h, eps, device)?,
            self_attn: LlamaAttention {
                q_proj: projection(format!("{p}.self_attn.q_proj"), [h, q])?,
                k_proj: projection(format!("{p}.self_attn.k_proj"), [h, kv])?,
                v_proj: projection(format!("{p}.self_attn.v_proj"), [h, kv])?,
                o_proj: projection(format!("{p}.self_attn.o_proj"), [q, h])?,
                dropout: Dropout::new(0.0),
                heads: cfg.num_attention_heads,
                kv_heads: cfg.kv_heads(),
            },
            post_attention_layernorm: RmsNorm::load(weights, &format!("{p}.post_attention_layernorm"), h, eps, device)?,
            gate_proj: projection(format!("{p}.mlp.gate_proj"), [h, i])?,
            up_proj: projection(format!("{p}.mlp.up_proj"), [h, i])?,
            down_proj: projection(format!("{p}.mlp.down_proj"), [i, h])?,
        })
    }

    fn forward(
        &self,
        x: Tensor<3>,
        rotary: &(Tensor<2>, Tensor<2>),
        bias: Tensor<4>,
        past: Option<&LayerPrefix>,
    ) -> (Tensor<3>, LayerPrefix) {
        let (attended, present) = self.self_attn.forward(self.input_layernorm.forward(x.clone()), rotary, bias, past);
        let x = x + attended;
        let normed = self.post_attention_layernorm.forward(x.clone());
        let gated = Activation::Swish.forward(self.gate_proj.forward(normed.clone())) * self.up_proj.forward(normed);
        (x + self.down_proj.forward(gated), present)
    }
}

/// Every projection with its path, borrowed as `&` or `&mut` (one list for both).
macro_rules! projections {
    ($llama:expr, $($borrow:tt)+) => {{
        let mut out = Vec::new();
        for l in ($($borrow)+ $llama.layers).into_iter() {
            let a = $($borrow)+ l.self_attn;
            out.extend([$($borrow)+ a.q_proj, $($borrow)+ a.k_proj, $($borrow)+ a.v_proj, $($borrow)+ a.o_proj]);
            out.extend([$($borrow)+ l.gate_proj, $($borrow)+ l.up_proj, $($borrow)+ l.down_proj]);
        }
        out.into_iter().map(|l| (l.path.clone(), l)).collect()
    }};
}

/// A Llama decoder with its language-model head (`LlamaForCausalLM`).
#[derive(Module, Debug)]
pub struct Llama<P: SidePath> {
    pub embed_tokens: Param<Tensor<2>>,
    pub layers: Vec<LlamaLayer<P>>,
    pub norm: RmsNorm,
    /// The head [vocab, hidden], as stored; `None` when it is the embedding (tied).
    pub lm_head: Option<Param<Tensor<2>>>,
    #[module(skip)]
    pub config: LlamaConfig,
}

impl<P: SidePath> Llama<P> {
    /// Loads a `LlamaForCausalLM` checkpoint (keys `model.*` and, unless tied, `lm_head.weight`).
    pub fn load(weights: &impl Weights, cfg: &LlamaConfig, device: &Device) -> Result<Self, LoadError> {
        let h = cfg.hidden_size;
        let layers =
            (0..cfg.num_hidden_layers).map(|i| LlamaLayer::load(weights, cfg, i, device)).collect::<Result<_, _>>()?;
        let lm_head = match cfg.tie_word_embeddings {
            true => None,
            false => Some(Param::from_tensor(weights.tensor(HEAD, [cfg.vocab_size, h], device)?)),
        };
        Ok(Self {
            embed_tokens: Param::from_tensor(weights.tensor(EMBEDDING, [cfg.vocab_size, h], device)?),
            layers,
            norm: RmsNorm::load(weights, "model.norm", h, cfg.rms_norm_eps, device)?,
            lm_head,
            config: cfg.clone(),
        })
    }

    /// The token embeddings of `ids` [batch, seq]: [batch, seq, hidden].
    pub fn words(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        burn::tensor::module::embedding(self.embed_tokens.val(), ids)
    }

    /// Runs the layers over `words` [batch, seq, hidden], after `past` (each layer's keys and values of earlier
    /// positions: a prefix or the generation cache), with `mask` [batch, past + seq] 1 for tokens to attend to.
    /// The words take the positions after the past's. Returns the normalised final hidden states and each layer's
    /// keys and values, past included.
    pub fn forward(
        &self,
        words: Tensor<3>,
        mask: Tensor<2>,
        past: Option<&[LayerPrefix]>,
    ) -> (Tensor<3>, Vec<LayerPrefix>) {
        let seq = words.dims()[1];
        let start = mask.dims()[1] - seq;
        let rotary = rotary_tables(&self.config, start, seq, &words.device());
        let bias = causal_bias(mask, seq);
        let mut x = words;
        let mut presents = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let (out, present) = layer.forward(x, &rotary, bias.clone(), past.map(|p| &p[i]));
            x = out;
            presents.push(present);
        }
        (self.norm.forward(x), presents)
    }

    /// The next-token logits [batch, seq, vocab] of final hidden states.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let head = self.lm_head.as_ref().unwrap_or(&self.embed_tokens).val();
        on_rows(hidden, |rows| rows.matmul(head.transpose()))
    }

    /// Every projection with its checkpoint path (`model.layers.0.self_attn.q_proj`), as peft names modules.
    pub fn tunable_linears(&self) -> Vec<(String, &TunableLinear<P>)> {
        projections!(self, &)
    }

    pub fn tunable_linears_mut(&mut self) -> Vec<(String, &mut TunableLinear<P>)> {
        projections!(self, &mut)
    }

    /// Every weight under its `LlamaForCausalLM` key, torch layout (the head only when untied).
    pub fn named_tensors(&self) -> Vec<NamedTensor> {
        let mut out = vec![NamedTensor::new(EMBEDDING.into(), self.embed_tokens.val())];
        for (_, linear) in self.tunable_linears() {
            out.extend(linear.named_tensors(""));
        }
        for l in &self.layers {
            out.extend([l.input_layernorm.named_tensor(), l.post_attention_layernorm.named_tensor()]);
        }
        out.push(self.norm.named_tensor());
        out.extend(self.lm_head.as_ref().map(|head| NamedTensor::new(HEAD.into(), head.val())));
        out
    }
}

/// A GGUF file of architecture "llama" seen through the Hugging Face checkpoint's keys: llama.cpp's names for the
/// tensors, and the rows of the query and key projections put back in transformers' order (llama.cpp's converter
/// interleaves the two halves of each head's rotary pairs; transformers' loader undoes it the same way).
pub struct LlamaGguf<'a> {
    pub gguf: &'a Gguf<'a>,
    pub config: &'a LlamaConfig,
}

impl LlamaGguf<'_> {
    /// llama.cpp's name for a checkpoint key, and the heads whose rows it permuted (query and key projections).
    fn gguf_name(&self, key: &str) -> Option<(String, Option<usize>)> {
        let simple = match key {
            EMBEDDING => Some(GGUF_EMBEDDING),
            HEAD => Some(GGUF_HEAD),
            "model.norm.weight" => Some("output_norm.weight"),
            _ => None,
        };
        if let Some(name) = simple {
            return Some((name.into(), None));
        }
        let rest = key.strip_prefix("model.layers.")?;
        let (layer, module) = rest.split_once('.')?;
        let (name, heads) = match module {
            "input_layernorm.weight" => ("attn_norm", None),
            "self_attn.q_proj.weight" => ("attn_q", Some(self.config.num_attention_heads)),
            "self_attn.k_proj.weight" => ("attn_k", Some(self.config.kv_heads())),
            "self_attn.v_proj.weight" => ("attn_v", None),
            "self_attn.o_proj.weight" => ("attn_output", None),
            "post_attention_layernorm.weight" => ("ffn_norm", None),
            "mlp.gate_proj.weight" => ("ffn_gate", None),
            "mlp.up_proj.weight" => ("ffn_up", None),
            "mlp.down_proj.weight" => ("ffn_down", None),
            _ => return None,
        };
        Some((format!("blk.{layer}.{name}.weight"), heads))
    }
}

impl Weights for LlamaGguf<'_> {
    fn values(&self, key: &str, expected: &[usize]) -> Result<Vec<f32>, LoadError> {
        let (name, permuted_heads) =
            self.gguf_name(key).ok_or_else(|| LoadError::Unsupported(format!("no GGUF tensor stands for '{key}'")))?;
        let (shape, values) = self.gguf.tensor(&name)?;
        if shape != expected {
            return Err(LoadError::WrongShape {
                config: "the GGUF file's metadata",
                key: name,
                found: shape,
                expected: expected.to_vec(),
            });
        }
        let values = match permuted_heads {
            Some(heads) => unpermute_rows(&values, heads, expected[0], expected[1]),
            None => values,
        };
        all_finite("the GGUF file", &name, values)
    }
}

/// Undoes convert_hf_to_gguf.py's `permute` of a [rows, cols] projection over `heads`: within each head, the GGUF row
/// `2i + j` is transformers' row `j · half + i` (i < half, j < 2).
fn unpermute_rows(values: &[f32], heads: usize, rows: usize, cols: usize) -> Vec<f32> {
    let head_rows = rows / heads;
    let half = head_rows / 2;
    let mut out = vec![0.0; values.len()];
    for head in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let from = (head * head_rows + 2 * i + j) * cols;
                let to = (head * head_rows + j * half + i) * cols;
                out[to..to + cols].copy_from_slice(&values[from..from + cols]);
            }
        }
    }
    out
}
