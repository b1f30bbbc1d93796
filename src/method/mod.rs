//! Parameter-efficient methods, one file each, behind the [`Method`] trait.
//!
//! A method decides what stays frozen, adds its own trainable tensors to the model, and names the tensors it
//! saves (peft's key names and torch layouts). Adding a method = a file here + a variant of [`MethodConfig`].

pub mod full;
pub mod head;
pub mod lora;
pub mod prefix;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::model::{BertConfig, SequenceClassifier};

#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error("invalid method configuration: {0}")]
    Invalid(String),
    #[error("unknown method '{0}'; available: {1}")]
    Unknown(String, String),
}

/// What a method needs to know while attaching itself.
pub struct AttachContext {
    pub device: Device,
    /// Longest tokenised input the run will feed (prefix methods check the position budget with it).
    pub max_length: usize,
}

/// A tensor as saved in an adapter file: its key, its torch shape, and its values (flattened, row-major).
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Tensor<1>,
}

impl NamedTensor {
    pub fn new<const D: usize>(name: String, tensor: Tensor<D>) -> Self {
        let shape = tensor.dims().to_vec();
        let numel: usize = shape.iter().product();
        Self { name, shape, values: tensor.reshape([numel]) }
    }

    /// A burn [in, out] weight saved as torch's [out, in].
    pub fn from_linear(name: String, weight: Tensor<2>) -> Self {
        Self::new(name, weight.transpose())
    }
}

/// One parameter-efficient method: how it attaches, and how its result is saved.
pub trait Method {
    /// Freezes what the method keeps fixed and adds its trainable tensors (the classifier head always trains).
    fn attach(&self, model: SequenceClassifier, ctx: &AttachContext) -> Result<SequenceClassifier, MethodError>;
    /// The tensors its adapter file holds, under the reference implementation's names.
    fn adapter_tensors(&self, model: &SequenceClassifier) -> Vec<NamedTensor>;
    /// The method-specific part of adapter_config.json (peft's keys).
    fn peft_json(&self, cfg: &BertConfig) -> serde_json::Value;
}

/// Every method the engine knows, with its settings: what the CLI parses, the worker receives and links carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum MethodConfig {
    /// Only the classification head trains (a linear probe).
    Head,
    /// Every weight trains.
    Full,
    Lora(lora::LoraConfig),
    /// Prefix tuning; without projection this is P-tuning v2.
    Prefix(prefix::PrefixConfig),
}

/// A method as the page's cards and the CLI's `--method` list it: a short key, a title, what it does, and its
/// default settings (peft's defaults). Adding a method to the catalog puts it on the page and in the CLI.
pub struct CatalogEntry {
    pub key: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub config: MethodConfig,
}

pub fn catalog() -> Vec<CatalogEntry> {
    vec![
        CatalogEntry {
            key: "lora",
            title: "LoRA",
            description: "Low-rank updates B·A added to the attention's query and value projections; the base stays frozen.",
            config: MethodConfig::Lora(lora::LoraConfig::default()),
        },
        CatalogEntry {
            key: "prefix",
            title: "Prefix tuning",
            description: "Trainable keys and values prepended in every layer, produced by a reparameterisation MLP.",
            config: MethodConfig::Prefix(prefix::PrefixConfig { prefix_projection: true, ..Default::default() }),
        },
        CatalogEntry {
            key: "ptuning-v2",
            title: "P-tuning v2",
            description: "Deep prompts: trainable keys and values in every layer, learned directly (no MLP).",
            config: MethodConfig::Prefix(prefix::PrefixConfig::default()),
        },
        CatalogEntry {
            key: "head",
            title: "Head only",
            description: "Baseline: only the classification head trains on top of the frozen encoder.",
            config: MethodConfig::Head,
        },
        CatalogEntry {
            key: "full",
            title: "Full fine-tuning",
            description: "Baseline: every weight of the model trains.",
            config: MethodConfig::Full,
        },
    ]
}

impl MethodConfig {
    /// A catalog method by key with its default settings: `prefix` uses the reparameterisation MLP,
    /// `ptuning-v2` does not.
    pub fn from_name(name: &str) -> Result<Self, MethodError> {
        let entries = catalog();
        let keys = entries.iter().map(|e| e.key).collect::<Vec<_>>().join(", ");
        entries.into_iter().find(|e| e.key == name).map(|e| e.config).ok_or(MethodError::Unknown(name.into(), keys))
    }

    /// A short label for tables and curves.
    pub fn label(&self) -> String {
        match self {
            Self::Head => "head".into(),
            Self::Full => "full".into(),
            Self::Lora(c) => format!("lora r{}", c.r),
            Self::Prefix(c) if c.prefix_projection => format!("prefix {}", c.num_virtual_tokens),
            Self::Prefix(c) => format!("ptuning-v2 {}", c.num_virtual_tokens),
        }
    }

    pub fn method(&self) -> &dyn Method {
        match self {
            Self::Head => &head::Head,
            Self::Full => &full::Full,
            Self::Lora(c) => c,
            Self::Prefix(c) => c,
        }
    }
}

impl MethodConfig {
    /// A learning rate that works for the method on small BERTs (tuned on the sample sentiment data); the
    /// CLI's --lr and the page's per-method field override it.
    pub fn default_learning_rate(&self) -> f64 {
        match self {
            Self::Head => 5e-3,
            Self::Full => 5e-5,
            Self::Lora(_) => 1e-3,
            Self::Prefix(c) if c.prefix_projection => 1e-3,
            Self::Prefix(_) => 1e-2,
        }
    }
}
