//! Parameter-efficient methods, one file each, behind the [`Method`] trait.
//!
//! A method decides what stays frozen, adds its own trainable tensors to the model, and names the tensors it
//! saves (its reference implementation's key names and torch layouts). Adding a method = a file here (its
//! settings, its [`Method`] impl with its catalog cards) + one line in [`methods!`]'s list below, which declares its
//! module and puts it in [`MethodConfig`], on the page, in the CLI and in the PEFT import; a method with a new kind of
//! side-path module also lists that module in `side_paths!`.
//!
//! Beside the methods: `catalog.rs` (the cards), `settings.rs` (settings from text and from peft's
//! adapter_config.json), `checks.rs` (the range checks they share), `inject.rs` (target matching and peft's key
//! names) and `prompt_encoder.rs` (P-tuning's encoder).

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

pub use crate::model::tensors::{NamedTensor, linear_tensors, load_linear};
use crate::model::{Checkpoint, LoadError, SidePath, TextIds};
pub use crate::model::{Projections, TunableModel};

/// The classifier with whichever method's side paths are attached at its tuning sites.
pub type SequenceClassifier = crate::model::SequenceClassifier<SidePaths>;

/// The causal language model with whichever method's side paths are attached at its tuning sites.
pub type CausalLm = crate::model::decoder::CausalLm<SidePaths>;

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
                norm: &crate::model::norm::LayerNorm,
            ) -> Tensor<3> {
                match self { $(Self::$variant(m) => m.close_block(h, x, norm),)+ }
            }
            fn input_tokens(&self) -> Option<Tensor<2>> {
                match self { $(Self::$variant(m) => m.input_tokens(),)+ }
            }
            fn attention_prefixes(&self, batch: usize) -> Option<Vec<crate::model::bert::LayerPrefix>> {
                match self { $(Self::$variant(m) => m.attention_prefixes(batch),)+ }
            }
            fn input_token_count(&self) -> usize {
                match self { $(Self::$variant(m) => m.input_token_count(),)+ }
            }
            fn prefix_length(&self) -> usize {
                match self { $(Self::$variant(m) => m.prefix_length(),)+ }
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
    pub tokenizer: Option<&'a dyn TextIds>,
}

/// One parameter-efficient method as the catalog, the CLI and the PEFT import know it: its name, size and defaults.
/// How it works on a model is its [`Tuner`] impl.
pub trait Method {
    /// The catalog key of these settings (one settings type can make several cards: LoRA and DoRA).
    fn key(&self) -> &'static str;
    /// The key and the setting that sizes the method, e.g. "lora r8", "prefix 10", "houlsby rf16".
    fn label(&self) -> String {
        self.key().into()
    }
    /// Virtual tokens the method puts before the text (they take positions the text cannot use).
    fn virtual_tokens(&self) -> usize {
        0
    }
    /// A learning rate that works for the method on small BERTs; the CLI's --lr and the page's per-method field
    /// override it.
    fn default_learning_rate(&self) -> f64;
    /// The method's cards in the catalog, each with its default settings (the reference's defaults).
    fn cards() -> Vec<CatalogEntry>
    where
        Self: Sized;
    /// The `peft_type` of the adapter_config.json files this method reads back, if peft has the method.
    fn peft_type() -> Option<&'static str>
    where
        Self: Sized,
    {
        None
    }
    /// The settings an adapter_config.json of [`Self::peft_type`] describes, or why they cannot run here.
    fn from_peft(_config: &PeftConfig) -> Result<MethodConfig, String>
    where
        Self: Sized,
    {
        Err("this method has no peft form".into())
    }
}

/// A method at work on a model of any architecture and task ([`TunableModel`]): how it attaches, and how its
/// result is saved.
pub trait Tuner<M: TunableModel<SidePaths>>: Method {
    /// Freezes what the method keeps fixed and adds its trainable tensors (a classifier's head always trains).
    fn attach(&self, model: M, ctx: &AttachContext) -> Result<M, MethodError>;
    /// The tensors its adapter file holds, under the reference implementation's names.
    fn adapter_tensors(&self, model: &M) -> Vec<NamedTensor>;
    /// Puts the tensors of a saved adapter (named as `adapter_tensors` names them) into a model this method
    /// has just been attached to. Where the reference saves only a computed table (a prompt encoder's or a
    /// prefix MLP's output), that table is loaded as a plain one, as peft does in inference mode.
    fn load(&self, model: M, adapter: &Checkpoint) -> Result<M, LoadError>;
    /// The method-specific part of adapter_config.json (peft's keys).
    fn peft_json(&self, model: &M) -> serde_json::Value;
}

/// Lists every method once, in catalog order: the settings enum [`MethodConfig`] (what the CLI parses, the worker
/// receives and links carry), its dispatch to the settings' [`Method`] impl, the [`catalog`] and the PEFT import.
macro_rules! methods {
    ($($(#[$attr:meta])* $variant:ident($file:ident::$settings:ident),)+) => {
        $(pub mod $file;)+

        /// Every method the engine knows, with its settings.
        #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
        #[serde(tag = "method", rename_all = "snake_case")]
        pub enum MethodConfig {
            $($(#[$attr])* $variant($file::$settings),)+
        }

        impl MethodConfig {
            pub fn method(&self) -> &dyn Method {
                match self { $(Self::$variant(settings) => settings,)+ }
            }

            /// The method at work on models of type `M`.
            pub fn tuner<M: TunableModel<SidePaths>>(&self) -> &dyn Tuner<M> {
                match self { $(Self::$variant(settings) => settings,)+ }
            }
        }

        /// Every card of every method, in the order the page and the CLI list them.
        pub fn catalog() -> Vec<CatalogEntry> {
            [$(<$file::$settings as Method>::cards(),)+].into_iter().flatten().collect()
        }

        /// The `peft_type`s the import reads, in catalog order.
        pub fn peft_types() -> Vec<&'static str> {
            [$(<$file::$settings as Method>::peft_type(),)+].into_iter().flatten().collect()
        }

        /// The settings a peft adapter_config.json of `peft_type` describes: `None` when no method has that type.
        pub fn from_peft(peft_type: &str, config: &PeftConfig) -> Option<Result<MethodConfig, String>> {
            $(
                if <$file::$settings as Method>::peft_type() == Some(peft_type) {
                    return Some(<$file::$settings as Method>::from_peft(config));
                }
            )+
            None
        }
    };
}

methods! {
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
    BitFit(bitfit::BitFit),
    /// Only the classification head trains (a linear probe).
    Head(head::Head),
    /// Every weight trains.
    Full(full::Full),
}

pub mod catalog;
pub mod checks;
/// Target matching and peft's key names, for every method and architecture.
pub mod inject;
pub mod settings;

pub use catalog::{CatalogEntry, Explanation, Site};
pub use checks::*;
pub use settings::{PeftConfig, apply_setting};
/// P-tuning's prompt encoder (MLP or LSTM), which [`prompt::SoftPrompt`] runs.
pub mod prompt_encoder;

impl MethodConfig {
    /// The catalog key of the method this configures.
    pub fn key(&self) -> &'static str {
        self.method().key()
    }

    /// Virtual tokens the method puts before the text (they take positions the text cannot use).
    pub fn virtual_tokens(&self) -> usize {
        self.method().virtual_tokens()
    }

    /// The key and the setting that sizes the method, e.g. "lora r8", "prefix 10", "houlsby rf16".
    pub fn label(&self) -> String {
        self.method().label()
    }

    /// The method's learning rate unless the CLI's --lr or the page's per-method field says otherwise.
    pub fn default_learning_rate(&self) -> f64 {
        self.method().default_learning_rate()
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

    /// Links, worker messages and stored runs carry methods as `{"method": key, ...settings}`; the settingless
    /// methods must stay a bare tag, as they were before each method had its own settings type.
    #[test]
    fn settingless_methods_are_a_bare_tag_in_json() {
        use super::{MethodConfig, bitfit::BitFit, full::Full, head::Head};
        for (config, json) in [
            (MethodConfig::Head(Head), r#"{"method":"head"}"#),
            (MethodConfig::Full(Full), r#"{"method":"full"}"#),
            (MethodConfig::BitFit(BitFit), r#"{"method":"bitfit"}"#),
        ] {
            assert_eq!(serde_json::to_string(&config).unwrap(), json);
            assert_eq!(serde_json::from_str::<MethodConfig>(json).unwrap(), config);
        }
        for entry in super::catalog() {
            let json = serde_json::to_string(&entry.config).unwrap();
            assert_eq!(serde_json::from_str::<MethodConfig>(&json).unwrap(), entry.config, "{json}");
        }
    }
}
