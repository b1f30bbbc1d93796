//! Parameter-efficient methods, one file each, behind the [`Method`] trait.
//!
//! A method decides what stays frozen, adds its own trainable tensors to the model, and names the tensors it
//! saves (its reference implementation's key names and torch layouts). Adding a method = a file here + a
//! variant of [`MethodConfig`] + a [`catalog`] entry (which puts it on the page and in the CLI).

pub mod bitfit;
pub mod bottleneck;
pub mod full;
pub mod head;
pub mod ia3;
pub mod lora;
pub mod prefix;
pub mod prompt;
pub mod ptuning;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

pub use crate::model::tensors::{NamedTensor, linear_tensors, load_linear};
use crate::model::{BertConfig, Checkpoint, LoadError, SidePath, TextTokenizer};

/// The model with whichever method's side paths are attached at its tuning sites.
pub type SequenceClassifier = crate::model::SequenceClassifier<SidePaths>;

/// Lists every side-path module a method can put at a tuning site: one enum (what the model holds), the
/// [`SidePath`] hooks passed on to the module, and typed access for the method that owns it.
macro_rules! side_paths {
    ($($(#[$doc:meta])* $variant:ident($module:ty),)+) => {
        #[derive(burn::module::Module, Debug)]
        pub enum SidePaths {
            $($(#[$doc])* $variant($module),)+
        }

        impl SidePath for SidePaths {
            fn projection(&self, base: &Linear, x: Tensor<2>) -> Tensor<2> {
                match self { $(Self::$variant(m) => m.projection(base, x),)+ }
            }
            fn close_block(
                &self,
                h: Tensor<3>,
                x: Tensor<3>,
                norm: &crate::model::tunable::LayerNorm,
            ) -> Tensor<3> {
                match self { $(Self::$variant(m) => m.close_block(h, x, norm),)+ }
            }
            fn input_tokens(&self) -> Option<Tensor<2>> {
                match self { $(Self::$variant(m) => m.input_tokens(),)+ }
            }
            fn attention_prefixes(&self, batch: usize) -> Option<Vec<crate::model::bert::LayerPrefix>> {
                match self { $(Self::$variant(m) => m.attention_prefixes(batch),)+ }
            }
        }

        $(
            impl Attached for $module {
                fn of(side: &SidePaths) -> Option<&Self> {
                    #[allow(irrefutable_let_patterns)]
                    if let SidePaths::$variant(m) = side { Some(m) } else { None }
                }
                fn of_mut(side: &mut SidePaths) -> Option<&mut Self> {
                    #[allow(irrefutable_let_patterns)]
                    if let SidePaths::$variant(m) = side { Some(m) } else { None }
                }
                fn into_side(self) -> SidePaths {
                    SidePaths::$variant(self)
                }
            }
        )+
    };
}

side_paths! {
    /// LoRA / DoRA beside a projection.
    Lora(lora::LoraLayer),
    /// IA3's vector on a projection's input or output.
    Ia3(ia3::Ia3Scale),
    /// A bottleneck adapter where a sub-block closes.
    Bottleneck(bottleneck::Bottleneck),
    /// Virtual input tokens (prompt tuning, P-tuning).
    SoftPrompt(prompt::SoftPrompt),
    /// Per-layer keys and values (prefix tuning, P-tuning v2).
    Prefix(prefix::PrefixEncoder),
}

/// A side-path module as one of [`SidePaths`]: how its method finds it at a site and puts it there.
pub trait Attached: Sized {
    fn of(side: &SidePaths) -> Option<&Self>;
    fn of_mut(side: &mut SidePaths) -> Option<&mut Self>;
    fn into_side(self) -> SidePaths;
}

/// The `T` at a site, if that is what the site holds.
pub fn side<T: Attached>(site: &Option<SidePaths>) -> Option<&T> {
    site.as_ref().and_then(T::of)
}

pub fn side_mut<T: Attached>(site: &mut Option<SidePaths>) -> Option<&mut T> {
    site.as_mut().and_then(T::of_mut)
}

#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error("invalid method configuration: {0}")]
    Invalid(String),
    #[error("unknown method '{0}'; available: {1}")]
    Unknown(String, String),
}

/// What a method needs to know while attaching itself.
pub struct AttachContext<'a> {
    pub device: Device,
    /// Longest tokenised input the run will feed (virtual-token methods check the position budget with it).
    pub max_length: usize,
    /// The model's tokenizer (prompt tuning's TEXT init tokenises its text).
    pub tokenizer: Option<&'a TextTokenizer>,
}

/// One parameter-efficient method: how it attaches, and how its result is saved.
pub trait Method {
    /// Freezes what the method keeps fixed and adds its trainable tensors (the classifier head always trains).
    fn attach(&self, model: SequenceClassifier, ctx: &AttachContext) -> Result<SequenceClassifier, MethodError>;
    /// The tensors its adapter file holds, under the reference implementation's names.
    fn adapter_tensors(&self, model: &SequenceClassifier) -> Vec<NamedTensor>;
    /// Puts the tensors of a saved adapter (named as `adapter_tensors` names them) into a model this method
    /// has just been attached to. Where the reference saves only a computed table (a prompt encoder's or a
    /// prefix MLP's output), that table is loaded as a plain one, as peft does in inference mode.
    fn load(&self, model: SequenceClassifier, adapter: &Checkpoint) -> Result<SequenceClassifier, LoadError>;
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
    /// LoRA, and DoRA with `use_dora`.
    Lora(lora::LoraConfig),
    /// Prefix tuning; without projection this is P-tuning v2.
    Prefix(prefix::PrefixConfig),
    /// P-tuning v1: a prompt encoder (MLP or LSTM) makes the input's virtual tokens.
    PTuning(ptuning::PromptEncoderConfig),
    PromptTuning(prompt::PromptTuningConfig),
    /// Houlsby and Pfeiffer adapters.
    Bottleneck(bottleneck::BottleneckConfig),
    Ia3(ia3::Ia3Config),
    #[serde(rename = "bitfit")]
    BitFit,
}

/// A place in the transformer where a method keeps trainable parameters (the cards' diagrams mark them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// Virtual tokens before the input embeddings.
    InputTokens,
    /// Keys and values prepended inside every layer's attention.
    AttentionPrefix,
    /// Low-rank updates beside the query and value projections.
    QueryValueUpdate,
    /// Rescaling vectors on keys, values and the inputs of the attention output and feed-forward down projections.
    Rescaling,
    /// A bottleneck adapter after the attention block.
    AttentionAdapter,
    /// A bottleneck adapter after the feed-forward block.
    FeedForwardAdapter,
    /// The bias terms of every layer.
    Biases,
    /// Every pretrained weight.
    AllWeights,
    /// The classification head (every method trains it).
    Head,
}

/// What a method's card explains: where its parameters sit, what stays frozen, what it costs at inference.
#[derive(Debug, Clone, Copy)]
pub struct Explanation {
    pub principle: &'static str,
    pub frozen: &'static str,
    pub inference: &'static str,
    pub sites: &'static [Site],
}

/// A method as the page's cards and the CLI's `--method` list it: a short key, a title, what it does, and its
/// default settings (the reference's defaults). Adding a method to the catalog puts it on the page and in the CLI.
pub struct CatalogEntry {
    pub key: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub explanation: Explanation,
    pub config: MethodConfig,
}

pub fn catalog() -> Vec<CatalogEntry> {
    use Site::*;
    let prompt_frozen = "The whole pretrained model: the virtual tokens are the only new input.";
    vec![
        CatalogEntry {
            key: "lora",
            title: "LoRA",
            description: "Low-rank updates B·A beside the attention's query and value projections.",
            explanation: Explanation {
                principle: "Each targeted weight W gets a trainable update (alpha/r)·B·A of rank r: A maps the input \
                            down to r numbers, B maps them back. B starts at zero, so training starts from the \
                            pretrained model.",
                frozen: "Every pretrained weight.",
                inference: "None once merged: B·A is added into W and the model is the base model's size and speed.",
                sites: &[QueryValueUpdate, Head],
            },
            config: MethodConfig::Lora(lora::LoraConfig::default()),
        },
        CatalogEntry {
            key: "dora",
            title: "DoRA",
            description: "LoRA with a learned magnitude per output: direction and length of W train separately.",
            explanation: Explanation {
                principle: "The adapted weight W + (alpha/r)·B·A is normalised to unit length per output feature \
                            and rescaled by a trained magnitude m, which starts at the pretrained norm.",
                frozen: "Every pretrained weight.",
                inference: "None once merged; unmerged, each targeted projection also needs a weight norm.",
                sites: &[QueryValueUpdate, Head],
            },
            config: MethodConfig::Lora(lora::LoraConfig { use_dora: true, ..Default::default() }),
        },
        CatalogEntry {
            key: "prefix",
            title: "Prefix tuning",
            description: "Trainable keys and values prepended in every layer, produced by a reparameterisation MLP.",
            explanation: Explanation {
                principle: "Every layer's attention sees extra keys and values for a few virtual positions, as if \
                            a learned prefix preceded the text. They come from an MLP over a small table, which \
                            steadies training; only the MLP's output is kept.",
                frozen: "The whole pretrained model.",
                inference: "Each layer attends to the prefix too: a little more attention work per token.",
                sites: &[AttentionPrefix, Head],
            },
            config: MethodConfig::Prefix(prefix::PrefixConfig { prefix_projection: true, ..Default::default() }),
        },
        CatalogEntry {
            key: "ptuning-v2",
            title: "P-tuning v2",
            description: "Deep prompts: trainable keys and values in every layer, learned directly (no MLP).",
            explanation: Explanation {
                principle: "Prefix tuning without the MLP: the per-layer keys and values for the virtual \
                            positions are themselves the trained parameters.",
                frozen: "The whole pretrained model.",
                inference: "Each layer attends to the prefix too: a little more attention work per token.",
                sites: &[AttentionPrefix, Head],
            },
            config: MethodConfig::Prefix(prefix::PrefixConfig::default()),
        },
        CatalogEntry {
            key: "ptuning-mlp",
            title: "P-tuning (MLP)",
            description: "Virtual input tokens produced by a prompt encoder MLP, prepended to the text.",
            explanation: Explanation {
                principle: "A table of virtual tokens passes through an MLP (Linear-ReLU-Linear-ReLU-Linear, \
                            shared by all tokens) and the result is prepended to the word embeddings. The \
                            reparameterisation steadies training; afterwards only its output is kept.",
                frozen: prompt_frozen,
                inference: "The input is longer by the virtual tokens.",
                sites: &[InputTokens, Head],
            },
            config: MethodConfig::PTuning(ptuning::PromptEncoderConfig::new(ptuning::EncoderType::Mlp)),
        },
        CatalogEntry {
            key: "ptuning-lstm",
            title: "P-tuning (LSTM)",
            description: "Virtual input tokens produced by a bidirectional LSTM prompt encoder.",
            explanation: Explanation {
                principle: "As P-tuning with an MLP, but the encoder is a two-layer bidirectional LSTM followed \
                            by a small MLP, so each virtual token depends on its neighbours. Many parameters \
                            train; only the encoder's output is kept.",
                frozen: prompt_frozen,
                inference: "The input is longer by the virtual tokens.",
                sites: &[InputTokens, Head],
            },
            config: MethodConfig::PTuning(ptuning::PromptEncoderConfig::new(ptuning::EncoderType::Lstm)),
        },
        CatalogEntry {
            key: "prompt",
            title: "Prompt tuning",
            description: "A few trainable input embeddings (a soft prompt) prepended to the text.",
            explanation: Explanation {
                principle: "The virtual tokens' embeddings are trained directly, starting random or from the \
                            embeddings of a text you give (set prompt_tuning_init to TEXT). The fewest \
                            parameters of the methods that add any.",
                frozen: prompt_frozen,
                inference: "The input is longer by the virtual tokens.",
                sites: &[InputTokens, Head],
            },
            config: MethodConfig::PromptTuning(prompt::PromptTuningConfig::default()),
        },
        CatalogEntry {
            key: "houlsby",
            title: "Houlsby adapter",
            description: "Bottleneck adapters after the attention and after the feed-forward block of each layer.",
            explanation: Explanation {
                principle: "Small down-projection, swish, up-projection modules with a residual connection, \
                            inserted where each sub-block closes (before its LayerNorm). Width = hidden size / \
                            reduction factor.",
                frozen: "Every pretrained weight.",
                inference: "Two extra small layers per transformer layer, on every token.",
                sites: &[AttentionAdapter, FeedForwardAdapter, Head],
            },
            config: MethodConfig::Bottleneck(bottleneck::BottleneckConfig::houlsby()),
        },
        CatalogEntry {
            key: "pfeiffer",
            title: "Pfeiffer adapter",
            description: "One bottleneck adapter per layer, after the feed-forward block.",
            explanation: Explanation {
                principle: "A down-projection, ReLU, up-projection adapter only after the feed-forward block, fed \
                            from the block's LayerNorm: half of Houlsby's parameters, usually as accurate.",
                frozen: "Every pretrained weight.",
                inference: "One extra small layer per transformer layer, on every token.",
                sites: &[FeedForwardAdapter, Head],
            },
            config: MethodConfig::Bottleneck(bottleneck::BottleneckConfig::pfeiffer()),
        },
        CatalogEntry {
            key: "ia3",
            title: "IA3",
            description: "Learned vectors rescale keys, values, and the inputs of the two output projections.",
            explanation: Explanation {
                principle: "Four elementwise scalings per layer, each starting at one: the attention's keys and \
                            values, the input of the attention's output projection and the input of the \
                            feed-forward down projection (the intermediate activations) are multiplied by \
                            trained vectors (peft's defaults for BERT).",
                frozen: "Every pretrained weight.",
                inference: "A few elementwise products; the vectors can be folded into the weights, which \
                            makes it free.",
                sites: &[Rescaling, Head],
            },
            config: MethodConfig::Ia3(ia3::Ia3Config::default()),
        },
        CatalogEntry {
            key: "bitfit",
            title: "BitFit",
            description: "Only the bias terms of the encoder train.",
            explanation: Explanation {
                principle: "Every weight matrix stays as pretrained; the bias vectors of all projections, \
                            LayerNorms and the pooler train. Nothing is added.",
                frozen: "Every weight matrix and the embeddings.",
                inference: "None: the model keeps its shape.",
                sites: &[Biases, Head],
            },
            config: MethodConfig::BitFit,
        },
        CatalogEntry {
            key: "head",
            title: "Head only",
            description: "Baseline: only the classification head trains on top of the frozen encoder.",
            explanation: Explanation {
                principle: "A linear probe: the pretrained features are used as they are.",
                frozen: "The whole encoder.",
                inference: "None.",
                sites: &[Head],
            },
            config: MethodConfig::Head,
        },
        CatalogEntry {
            key: "full",
            title: "Full fine-tuning",
            description: "Baseline: every weight of the model trains.",
            explanation: Explanation {
                principle: "Every weight is updated; the reference point for accuracy, and the most memory \
                            (gradients and optimizer state for every weight).",
                frozen: "Nothing.",
                inference: "None, but each task needs its own full copy of the model.",
                sites: &[AllWeights, Head],
            },
            config: MethodConfig::Full,
        },
    ]
}

impl MethodConfig {
    /// A catalog method by key with its default settings; `all` is not a method (the CLI expands it).
    pub fn from_name(name: &str) -> Result<Self, MethodError> {
        let entries = catalog();
        let keys = entries.iter().map(|e| e.key).collect::<Vec<_>>().join(", ");
        entries.into_iter().find(|e| e.key == name).map(|e| e.config).ok_or(MethodError::Unknown(name.into(), keys))
    }

    /// Sets one of the method's settings (a field of its JSON form, e.g. `r`, `num_virtual_tokens`,
    /// `target_modules`) from text, as [`apply_setting`] reads it. Returns false when the method has no such
    /// setting.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, MethodError> {
        let mut json = serde_json::to_value(&*self).expect("plain data serialises");
        if key == "method" || json.get(key).is_none() {
            return Ok(false);
        }
        *self = apply_setting(&mut json, key, value)
            .map_err(|e| MethodError::Invalid(format!("{key}={value} does not fit {}: {e}", self.label())))?;
        Ok(true)
    }

    /// The names of the settings [`Self::set`] accepts.
    pub fn setting_names(&self) -> Vec<String> {
        match serde_json::to_value(self).expect("plain data serialises") {
            serde_json::Value::Object(fields) => fields.keys().filter(|k| *k != "method").cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The catalog key of the method this configures (a bottleneck that is neither Houlsby's nor Pfeiffer's
    /// placement counts as Houlsby's card, whose fields it fills).
    pub fn key(&self) -> &'static str {
        match self {
            Self::Head => "head",
            Self::Full => "full",
            Self::Lora(c) if c.use_dora => "dora",
            Self::Lora(_) => "lora",
            Self::Prefix(c) if c.prefix_projection => "prefix",
            Self::Prefix(_) => "ptuning-v2",
            Self::PTuning(c) => match c.encoder_reparameterization_type {
                ptuning::EncoderType::Mlp => "ptuning-mlp",
                ptuning::EncoderType::Lstm => "ptuning-lstm",
            },
            Self::PromptTuning(_) => "prompt",
            Self::Bottleneck(c) if !c.mh_adapter && c.output_adapter && c.original_ln_before => "pfeiffer",
            Self::Bottleneck(_) => "houlsby",
            Self::Ia3(_) => "ia3",
            Self::BitFit => "bitfit",
        }
    }

    /// Virtual tokens the method puts before the text (they take positions the text cannot use).
    pub fn virtual_tokens(&self) -> usize {
        match self {
            Self::Prefix(c) => c.num_virtual_tokens,
            Self::PTuning(c) => c.num_virtual_tokens,
            Self::PromptTuning(c) => c.num_virtual_tokens,
            _ => 0,
        }
    }

    /// The key and the setting that sizes the method, e.g. "lora r8", "prefix 10", "houlsby rf16".
    pub fn label(&self) -> String {
        let key = self.key();
        match self {
            Self::Lora(c) => format!("{key} r{}", c.r),
            Self::Prefix(c) => format!("{key} {}", c.num_virtual_tokens),
            Self::PTuning(c) => format!("{key} {}", c.num_virtual_tokens),
            Self::PromptTuning(c) => format!("{key} {}", c.num_virtual_tokens),
            Self::Bottleneck(c)
                if matches!(
                    (c.mh_adapter, c.output_adapter, c.original_ln_before),
                    (true, true, false) | (false, true, true)
                ) =>
            {
                format!("{key} rf{}", c.reduction_factor)
            }
            Self::Bottleneck(c) => format!("adapter rf{}", c.reduction_factor),
            Self::Head | Self::Full | Self::Ia3(_) | Self::BitFit => key.into(),
        }
    }

    pub fn method(&self) -> &dyn Method {
        match self {
            Self::Head => &head::Head,
            Self::Full => &full::Full,
            Self::Lora(c) => c,
            Self::Prefix(c) => c,
            Self::PTuning(c) => c,
            Self::PromptTuning(c) => c,
            Self::Bottleneck(c) => c,
            Self::Ia3(c) => c,
            Self::BitFit => &bitfit::BitFit,
        }
    }

    /// A learning rate that works for the method on small BERTs (tuned on the sample sentiment data); the
    /// CLI's --lr and the page's per-method field override it.
    pub fn default_learning_rate(&self) -> f64 {
        match self {
            Self::Head => 5e-3,
            Self::Full => 5e-5,
            Self::Lora(_) | Self::Bottleneck(_) | Self::BitFit => 1e-3,
            Self::Prefix(c) if c.prefix_projection => 1e-3,
            Self::Prefix(_) => 1e-2,
            // Input-level virtual tokens need large steps (Lester et al. use 0.3 with Adafactor); at 1e-3 both
            // peft-lab and peft stay near chance on the sample data.
            Self::PTuning(c) if c.encoder_reparameterization_type == ptuning::EncoderType::Lstm => 1e-2,
            Self::PTuning(_) => 3e-2,
            Self::PromptTuning(_) => 1e-1,
            Self::Ia3(_) => 5e-3,
        }
    }
}

/// Sets `key` in a method's JSON settings from text, read as the JSON kind of its current value: text for
/// text, a comma-separated list for a list, nothing for an empty optional field, else a JSON number or
/// boolean — and, when that does not fit, as text (a prompt text "2024"). Returns the configuration the
/// settings now describe, or why they describe none (the typed value stays, for the page to show).
pub fn apply_setting(settings: &mut serde_json::Value, key: &str, typed: &str) -> Result<MethodConfig, String> {
    use serde_json::Value;
    let typed = typed.trim();
    let parsed = match settings.get(key) {
        Some(Value::String(_)) => typed.into(),
        Some(Value::Array(_)) if !typed.starts_with('[') => {
            typed.split(',').map(str::trim).filter(|v| !v.is_empty()).map(Value::from).collect()
        }
        _ if typed.is_empty() => Value::Null,
        _ => serde_json::from_str(typed).unwrap_or_else(|_| typed.into()),
    };
    let retry_as_text = !(parsed.is_string() || parsed.is_null() || parsed.is_array());
    settings[key] = parsed;
    let error = match serde_json::from_value(settings.clone()) {
        Ok(config) => return Ok(config),
        Err(e) => e.to_string(),
    };
    if retry_as_text {
        let previous = std::mem::replace(&mut settings[key], typed.into());
        if let Ok(config) = serde_json::from_value(settings.clone()) {
            return Ok(config);
        }
        settings[key] = previous;
    }
    Err(error)
}

/// Whether a module path (`encoder.layer.0.attention.self.query`) is one of `targets`, which name modules
/// as peft does: the full path or a suffix of it after a dot (`query`, `output.dense`).
pub fn module_matches(targets: &[String], path: &str) -> bool {
    targets.iter().any(|t| path == t || path.ends_with(&format!(".{t}")))
}

/// The error for target modules that match no projection, listing the names that would.
pub(crate) fn unmatched_targets(method: &str, targets: &[String], model: &SequenceClassifier) -> MethodError {
    MethodError::Invalid(format!(
        "{method} target modules {targets:?} match no layer of this model; names available: {}",
        model.bert.tunable_names().join(", ")
    ))
}

/// Virtual tokens and the longest input must fit the model's position embeddings together.
/// Encoders wider than this many times the model's hidden size are refused: beyond it they only cost memory, and a
/// huge value (from `--set` or a hostile link) would exhaust it before any tensor is checked.
pub const MAX_ENCODER_WIDTH_FACTOR: usize = 4;

/// An encoder width in 1..=MAX_ENCODER_WIDTH_FACTOR × hidden.
pub fn check_encoder_width(setting: &str, width: usize, cfg: &BertConfig) -> Result<(), MethodError> {
    let max = MAX_ENCODER_WIDTH_FACTOR * cfg.hidden_size;
    if !(1..=max).contains(&width) {
        return Err(MethodError::Invalid(format!(
            "{setting} is {width}; choose 1..={max} ({MAX_ENCODER_WIDTH_FACTOR} × the model's hidden size)"
        )));
    }
    Ok(())
}

pub fn check_virtual_tokens(
    method: &str,
    tokens: usize,
    max_length: usize,
    cfg: &BertConfig,
) -> Result<(), MethodError> {
    let positions = cfg.max_position_embeddings;
    if tokens == 0 {
        return Err(MethodError::Invalid(format!("{method} needs at least 1 virtual token")));
    }
    if tokens + max_length > positions {
        return Err(MethodError::Invalid(format!(
            "{tokens} virtual tokens + max length {max_length} exceed the model's {positions} positions; \
             use at most {} virtual tokens (or a shorter max length)",
            positions.saturating_sub(max_length)
        )));
    }
    Ok(())
}

/// A dropout probability must lie in [0, 1) (burn's dropout refuses anything else).
pub fn check_probability(name: &str, p: f64) -> Result<(), MethodError> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(MethodError::Invalid(format!("{name} = {p} is out of range: choose a probability in [0, 1)")))
    }
}

/// torch's default `nn.Linear` init: weight and bias U(-1/sqrt(in), 1/sqrt(in)); weight kept [in, out].
pub(crate) fn torch_linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    let bound = 1.0 / (d_in as f64).sqrt();
    Linear {
        weight: Param::from_tensor(Tensor::random([d_in, d_out], Distribution::Uniform(-bound, bound), device)),
        bias: Some(Param::from_tensor(Tensor::random([d_out], Distribution::Uniform(-bound, bound), device))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_catalog_config_names_its_own_card() {
        for entry in super::catalog() {
            assert_eq!(entry.config.key(), entry.key);
            assert!(entry.config.label().starts_with(entry.key), "{}", entry.config.label());
        }
    }
}
