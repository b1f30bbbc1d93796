//! The projections every architecture shares, with the slot methods attach to, and small tensor helpers.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor};

use super::load::{Checkpoint, LoadError, Weights};
use super::norm::LayerNorm;
use super::site::{BlockClose, PrefixShape, SidePath};
use super::tensors::NamedTensor;

/// A pretrained projection (weight kept as [in, out]) and the projection site: the side path a method put there
/// (LoRA beside it, IA3 around it).
#[derive(Module, Debug)]
pub struct TunableLinear<P: SidePath> {
    pub base: Linear,
    pub side: Option<P>,
    /// Its module path in the checkpoint (`encoder.layer.0.attention.self.query`), as peft names modules.
    #[module(skip)]
    pub path: String,
    /// How the checkpoint stores it (GPT-2's `Conv1D` keeps [in, out]).
    #[module(skip)]
    pub stored: Stored,
}

/// How a checkpoint stores a projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// torch's `nn.Linear`: weight [out, in], and a bias.
    Linear,
    /// `nn.Linear(bias=False)`, as Llama's projections.
    LinearWithoutBias,
    /// GPT-2's `Conv1D`: weight [in, out] (burn's own layout), and a bias.
    Conv1D,
}

impl<P: SidePath> TunableLinear<P> {
    /// Loads `{prefix}.weight` ([out, in] in the checkpoint) and `{prefix}.bias`.
    pub fn load(
        weights: &impl Weights,
        prefix: &str,
        d_in: usize,
        d_out: usize,
        device: &Device,
    ) -> Result<Self, LoadError> {
        Self::load_stored(weights, prefix, [d_in, d_out], Stored::Linear, device)
    }

    /// Loads `{prefix}.weight` and, unless `stored` has none, `{prefix}.bias`, for a projection [d_in, d_out].
    pub fn load_stored(
        weights: &impl Weights,
        prefix: &str,
        [d_in, d_out]: [usize; 2],
        stored: Stored,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let key = format!("{prefix}.weight");
        let weight = match stored {
            Stored::Linear | Stored::LinearWithoutBias => weights.linear_weight(&key, d_in, d_out, device)?,
            Stored::Conv1D => weights.tensor(&key, [d_in, d_out], device)?,
        };
        let bias = match stored {
            Stored::LinearWithoutBias => None,
            Stored::Linear | Stored::Conv1D => {
                Some(Param::from_tensor(weights.tensor(&format!("{prefix}.bias"), [d_out], device)?))
            }
        };
        let base = Linear { weight: Param::from_tensor(weight), bias };
        Ok(Self { base, side: None, path: prefix.to_string(), stored })
    }

    /// Its weight and bias under `{prefix}{path}.weight` / `.bias`, in the checkpoint's layout.
    pub fn named_tensors(&self, prefix: &str) -> Vec<NamedTensor> {
        let key = format!("{prefix}{}", self.path);
        let (name, weight) = (format!("{key}.weight"), self.base.weight.val());
        let mut out = vec![match self.stored {
            Stored::Conv1D => NamedTensor::new(name, weight),
            Stored::Linear | Stored::LinearWithoutBias => NamedTensor::from_linear(name, weight),
        }];
        if let Some(bias) = &self.base.bias {
            out.push(NamedTensor::new(format!("{key}.bias"), bias.val()));
        }
        out
    }

    pub fn dims(&self) -> [usize; 2] {
        self.base.weight.dims()
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        on_rows(x, |x| self.forward_rows(x))
    }

    fn forward_rows(&self, x: Tensor<2>) -> Tensor<2> {
        match &self.side {
            Some(side) => side.projection(&self.base, x),
            None => self.base.forward(x),
        }
    }
}

/// A model whose projections methods can take over, as peft's `BaseTuner` walks a model's named modules.
pub trait Projections<P: SidePath> {
    /// Every projection under its module path as peft names it (`bert.encoder.layer.0.attention.self.query`,
    /// `model.layers.0.self_attn.q_proj`).
    fn projections(&self) -> Vec<(String, &TunableLinear<P>)>;
    fn projections_mut(&mut self) -> Vec<(String, &mut TunableLinear<P>)>;

    /// The names a method's target list can use: each projection's path after its layer's number
    /// (`attention.self.query`, `self_attn.q_proj`), or outside the layers its path below the base model's module
    /// (`pooler.dense` of `bert.pooler.dense`); a target names one of them or a suffix of it (`query`, `q_proj`).
    fn target_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .projections()
            .into_iter()
            .map(|(path, _)| {
                let parts: Vec<&str> = path.split('.').collect();
                match parts.iter().position(|part| part.parse::<usize>().is_ok()) {
                    Some(layer) => parts[layer + 1..].join("."),
                    None => parts[1.min(parts.len() - 1)..].join("."),
                }
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// A pretrained model as every method sees it, whatever its architecture and task (a classifier on an encoder, a
/// causal language model): its projections, the site before the text, the sub-blocks' closes, its biases, its
/// weights under the checkpoint's keys and the task head it has of its own, if any.
pub trait TunableModel<P: SidePath>: Projections<P> + Module + Sized {
    /// The site before the text: virtual input tokens (prompt tuning, P-tuning) or every layer's attention prefix
    /// (prefix tuning, P-tuning v2).
    fn sequence(&self) -> &Option<P>;
    fn sequence_mut(&mut self) -> &mut Option<P>;
    /// Freezes the pretrained weights; a head of the model's own (a classifier) stays trainable.
    fn freeze_base(self) -> Self;
    /// What each layer's attention prefix holds.
    fn prefix_shape(&self) -> PrefixShape;
    /// The query heads of the attention (a prefix is sized by the key/value heads: [`Self::prefix_shape`]).
    fn attention_heads(&self) -> usize;
    /// The width of a token's embedding.
    fn hidden_size(&self) -> usize;
    /// Positions for the virtual tokens and the text together.
    fn max_positions(&self) -> usize;
    /// The rows of the word-embedding table for `ids`: [ids, hidden].
    fn token_embeddings(&self, ids: Tensor<1, Int>) -> Tensor<2>;
    fn device(&self) -> Device;
    /// Where each sub-block closes (bottleneck adapters' sites); none where the architecture has no such site.
    fn block_closes(&self) -> Vec<BlockClose<&Option<P>>>;
    fn block_closes_mut(&mut self) -> Vec<BlockClose<&mut Option<P>>>;
    /// Every bias of the pretrained model (projections, norms) with its checkpoint key (`<path>.bias`).
    fn biases_mut(&mut self) -> Vec<(String, &mut Param<Tensor<1>>)>;
    /// Every pretrained weight under its checkpoint key, torch layout: what a whole saved model holds.
    fn base_tensors(&self) -> Vec<NamedTensor>;
    /// The pretrained weights replaced by those of a whole saved model (`base_tensors`' keys).
    fn load_base(self, ckpt: &Checkpoint) -> Result<Self, LoadError>;
    /// The module name of the head the model has beside the pretrained weights (`classifier`), if any: a causal
    /// language model's head is pretrained.
    fn head(&self) -> Option<&'static str>;
    /// The head's weight and bias below `prefix` (`{prefix}.classifier.weight`; an empty prefix gives
    /// `classifier.weight`); none without a head.
    fn head_tensors(&self, prefix: &str) -> Vec<NamedTensor>;
    /// Replaces the head with the one a saved adapter holds below `prefix`; nothing without a head.
    fn load_head(self, adapter: &Checkpoint, prefix: &str) -> Result<Self, LoadError>;
    /// peft's `task_type` for adapters of this model (`SEQ_CLS`, `CAUSAL_LM`).
    const TASK_TYPE: &'static str;
    /// The architecture as config.json's `model_type` names it (`bert`, `llama`, `gpt2`).
    fn model_type(&self) -> &'static str;

    /// (trainable, total) parameter counts. Trainable means tracked by autodiff, so the model must live on an
    /// autodiff device for the first number to be meaningful. The total is the base model plus everything the
    /// method and the head add, as peft's `get_nb_trainable_parameters` counts.
    fn parameter_counts(&self) -> (usize, usize) {
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

/// The biases of `linears` and `norms` under their checkpoint keys (`<path>.bias`; a projection without one is
/// skipped): what each architecture's `biases_mut` lists, from its fields borrowed apart.
pub fn named_biases<'a, P: SidePath>(
    linears: Vec<&'a mut TunableLinear<P>>,
    norms: Vec<&'a mut LayerNorm>,
) -> Vec<(String, &'a mut Param<Tensor<1>>)> {
    let mut out: Vec<(String, &'a mut Param<Tensor<1>>)> = Vec::new();
    for linear in linears {
        if let Some(bias) = linear.base.bias.as_mut() {
            out.push((format!("{}.bias", linear.path), bias));
        }
    }
    out.extend(norms.into_iter().map(|n| (format!("{}.bias", n.path), &mut n.bias)));
    out
}

/// `f` applied to `x` [.., d] with its leading dimensions folded into rows ([rows, d]), unfolded again. burn keeps a
/// [batch, seq, d] x [d, out] product batched when seq is a multiple of 32 (a GPU tiling rule); on the CPU that packs
/// the weight once per sequence; one [batch * seq, d] product makes a MiniLM LoRA step 9 % faster on one thread.
pub fn on_rows<const D: usize>(x: Tensor<D>, f: impl FnOnce(Tensor<2>) -> Tensor<2>) -> Tensor<D> {
    let dims = x.dims();
    let rows = dims[..D - 1].iter().product::<usize>();
    let out = f(x.reshape([rows, dims[D - 1]]));
    let mut out_dims = dims;
    out_dims[D - 1] = out.dims()[1];
    out.reshape(out_dims)
}

/// A [n] vector shaped [1, .., 1, n] so that it broadcasts along the last dimension of a rank-D tensor.
pub fn along_last<const D: usize>(v: Tensor<1>) -> Tensor<D> {
    let mut shape = [1usize; D];
    shape[D - 1] = v.dims()[0];
    v.reshape(shape)
}

/// The non-linearities of feed-forward blocks and adapters, by their transformers / AdapterHub names (config.json's
/// `hidden_act` reads and writes as its name).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Activation {
    Gelu,
    GeluTanh,
    Relu,
    /// x·sigmoid(x) (AdapterHub's "swish", torch's SiLU).
    Swish,
}

impl Activation {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Self::Gelu),
            "gelu_new" => Some(Self::GeluTanh),
            "relu" => Some(Self::Relu),
            "swish" | "silu" => Some(Self::Swish),
            _ => None,
        }
    }

    /// transformers' name (torch's for SiLU).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Gelu => "gelu",
            Self::GeluTanh => "gelu_new",
            Self::Relu => "relu",
            Self::Swish => "silu",
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            // x/2 (1 + erf(x/√2)) written out: burn's fused `gelu` differentiates the tanh approximation,
            // which puts gradients 1e-3 (relative) away from transformers'; composed, autodiff is exact.
            Self::Gelu => x.clone().mul(x.div_scalar(std::f64::consts::SQRT_2).erf().add_scalar(1.0)).div_scalar(2.0),
            Self::GeluTanh => burn::tensor::activation::gelu_approximate(x),
            Self::Relu => burn::tensor::activation::relu(x),
            Self::Swish => burn::tensor::activation::silu(x),
        }
    }
}

impl TryFrom<String> for Activation {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        Self::from_name(&name)
            .ok_or_else(|| format!("unknown activation \"{name}\"; known: gelu, gelu_new, relu, silu"))
    }
}

impl From<Activation> for String {
    fn from(activation: Activation) -> String {
        activation.name().into()
    }
}
