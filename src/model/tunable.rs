//! The projections every architecture shares, with the slot methods attach to, and small tensor helpers.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use super::load::{LoadError, Weights};
use super::site::SidePath;

/// A pretrained projection (weight kept as [in, out]) and the projection site: the side path a method put there
/// (LoRA beside it, IA3 around it).
#[derive(Module, Debug)]
pub struct TunableLinear<P: SidePath> {
    pub base: Linear,
    pub side: Option<P>,
    /// Its module path in the checkpoint (`encoder.layer.0.attention.self.query`), as peft names modules.
    #[module(skip)]
    pub path: String,
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
        Ok(Self { base, side: None, path: prefix.to_string() })
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
