//! Prompt tuning (Lester et al., 2021) as peft's `tuners/prompt_tuning`: a few trainable vectors ("virtual
//! tokens") are prepended to the input word embeddings; the whole model stays frozen. They start random
//! (N(0, 1), torch's embedding init) or as the word embeddings of a text the user gives, repeated or cut to
//! the number of virtual tokens. [`SoftPrompt`] is also what P-tuning trains, through its prompt encoder.

use burn::module::{Module, Param};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::prompt_encoder::PromptEncoder;
use super::{
    AttachContext, Attached, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, PeftConfig,
    SidePaths, Site, Tuner, TunableModel, check_virtual_tokens, side, side_mut,
};
use super::inject::{PROMPT_LEARNING_PREFIX, modules_to_save};
use crate::model::{Checkpoint, LoadError, SidePath, Weights};

/// What the virtual-token methods' cards say stays frozen.
pub const PROMPT_FROZEN: &str = "The whole pretrained model: the virtual tokens are the only new input.";

/// peft's `PromptTuningInit` (its SAMPLE_VOCAB is not offered).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "UPPERCASE")]
pub enum PromptInit {
    Random,
    Text,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PromptTuningConfig {
    pub num_virtual_tokens: usize,
    pub prompt_tuning_init: PromptInit,
    /// The text whose word embeddings start the prompt (TEXT init), e.g. "Classify the sentiment of this review".
    pub prompt_tuning_init_text: Option<String>,
}

impl Default for PromptTuningConfig {
    fn default() -> Self {
        Self { num_virtual_tokens: 10, prompt_tuning_init: PromptInit::Random, prompt_tuning_init_text: None }
    }
}

/// Virtual tokens prepended to the input embeddings: a trained table, or a table fed through P-tuning's encoder.
#[derive(Module, Debug)]
pub struct SoftPrompt {
    /// [virtual tokens, hidden].
    pub embedding: Param<Tensor<2>>,
    pub encoder: Option<PromptEncoder>,
}

impl SidePath for SoftPrompt {
    fn input_tokens(&self) -> Option<Tensor<2>> {
        Some(self.tokens())
    }

    fn input_token_count(&self) -> usize {
        self.embedding.dims()[0]
    }
}

impl SoftPrompt {
    /// The virtual tokens' input embeddings [virtual tokens, hidden].
    pub fn tokens(&self) -> Tensor<2> {
        let table = self.embedding.val();
        match &self.encoder {
            Some(encoder) => encoder.forward(table),
            None => table,
        }
    }

    /// peft saves the computed tokens under this one key (with the head under `base_model.classifier`).
    pub fn adapter_tensors<M: TunableModel<SidePaths>>(model: &M) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        if let Some(prompt) = side::<SoftPrompt>(model.sequence()) {
            out.push(NamedTensor::new("prompt_embeddings".into(), prompt.tokens()));
        }
        out.extend(model.head_tensors(PROMPT_LEARNING_PREFIX));
        out
    }

    /// Loads the saved tokens as a plain table (the encoder is a training-time device), and the head.
    pub fn load<M: TunableModel<SidePaths>>(mut model: M, adapter: &Checkpoint) -> Result<M, LoadError> {
        if let Some(prompt) = side_mut::<SoftPrompt>(model.sequence_mut()) {
            let device = prompt.embedding.device();
            let dims = prompt.embedding.dims();
            *prompt = SoftPrompt {
                embedding: Param::from_tensor(adapter.tensor("prompt_embeddings", dims, &device)?),
                encoder: None,
            };
        }
        model.load_head(adapter, PROMPT_LEARNING_PREFIX)
    }
}

/// `specific` plus the keys every peft prompt-learning config (prompt tuning, P-tuning) shares.
pub(crate) fn prompt_learning_json(
    model: &impl TunableModel<SidePaths>,
    mut specific: serde_json::Value,
) -> serde_json::Value {
    let shared = serde_json::json!({
        "token_dim": model.hidden_size(),
        "num_transformer_submodules": 1,
        "num_attention_heads": model.attention_heads(),
        "num_layers": model.prefix_shape().layers,
        "modules_to_save": modules_to_save(model),
    });
    if let (Some(fields), serde_json::Value::Object(shared)) = (specific.as_object_mut(), shared) {
        fields.extend(shared);
    }
    specific
}

impl PromptTuningConfig {
    /// The ids whose embeddings start the prompt: the text tokenised with special tokens (as peft calls the
    /// tokenizer), repeated then cut to the number of virtual tokens.
    fn init_ids(&self, ctx: &AttachContext) -> Result<Vec<i64>, MethodError> {
        let text = self.prompt_tuning_init_text.as_deref().unwrap_or("").trim();
        if text.is_empty() {
            return Err(MethodError::Invalid(
                "TEXT init needs prompt_tuning_init_text (the words to start from)".into(),
            ));
        }
        let tokenizer =
            ctx.tokenizer.ok_or_else(|| MethodError::Invalid("TEXT init needs the model's tokenizer".into()))?;
        let ids = tokenizer.text_ids(text);
        if ids.is_empty() {
            return Err(MethodError::Invalid(format!(
                "prompt_tuning_init_text '{text}' has no tokens for this model's tokenizer; choose words it knows"
            )));
        }
        Ok(ids.iter().cycle().take(self.num_virtual_tokens).map(|&id| id as i64).collect())
    }
}

impl<M: TunableModel<SidePaths>> Tuner<M> for PromptTuningConfig {
    fn attach(&self, model: M, ctx: &AttachContext) -> Result<M, MethodError> {
        check_virtual_tokens("prompt tuning", self.num_virtual_tokens, ctx.max_length, model.max_positions())?;
        let (tokens, hidden) = (self.num_virtual_tokens, model.hidden_size());
        let table = match self.prompt_tuning_init {
            PromptInit::Random => Tensor::random([tokens, hidden], Distribution::Normal(0.0, 1.0), &ctx.device),
            PromptInit::Text => {
                let ids = Tensor::<1, Int>::from_data(TensorData::new(self.init_ids(ctx)?, [tokens]), &ctx.device);
                model.token_embeddings(ids).detach()
            }
        };
        let mut model = model.freeze_base();
        *model.sequence_mut() = Some(SoftPrompt { embedding: Param::from_tensor(table), encoder: None }.into_side());
        Ok(model)
    }

    fn adapter_tensors(&self, model: &M) -> Vec<NamedTensor> {
        SoftPrompt::adapter_tensors(model)
    }

    fn load(&self, model: M, adapter: &Checkpoint) -> Result<M, LoadError> {
        SoftPrompt::load(model, adapter)
    }

    fn peft_json(&self, model: &M) -> serde_json::Value {
        prompt_learning_json(
            model,
            serde_json::json!({
                "peft_type": "PROMPT_TUNING",
                "num_virtual_tokens": self.num_virtual_tokens,
                "prompt_tuning_init": self.prompt_tuning_init,
                "prompt_tuning_init_text": self.prompt_tuning_init_text,
            }),
        )
    }
}

impl Method for PromptTuningConfig {
    fn key(&self) -> &'static str {
        "prompt"
    }

    fn label(&self) -> String {
        format!("{} {}", self.key(), self.num_virtual_tokens)
    }

    fn virtual_tokens(&self) -> usize {
        self.num_virtual_tokens
    }

    fn default_learning_rate(&self) -> f64 {
        // As P-tuning's: the virtual tokens need large steps.
        1e-1
    }

    fn cards() -> Vec<CatalogEntry> {
        use Site::*;
        vec![CatalogEntry {
            key: "prompt",
            title: "Prompt tuning",
            description: "A few trainable input embeddings (a soft prompt) prepended to the text.",
            explanation: Explanation {
                principle: "The virtual tokens' embeddings are trained directly, starting random or from the \
                                embeddings of a text you give (set prompt_tuning_init to TEXT). The fewest \
                                parameters of the methods that add any.",
                frozen: PROMPT_FROZEN,
                inference: "The input is longer by the virtual tokens.",
                sites: &[InputTokens, Head],
            },
            config: MethodConfig::PromptTuning(PromptTuningConfig::default()),
        }]
    }

    fn peft_type() -> Option<&'static str> {
        Some("PROMPT_TUNING")
    }

    fn from_peft(config: &PeftConfig) -> Result<MethodConfig, String> {
        // The saved table replaces whatever init made, so peft's SAMPLE_VOCAB imports as RANDOM.
        let mut fields = config.pick(&["num_virtual_tokens", "prompt_tuning_init_text"]);
        fields["prompt_tuning_init"] =
            if config.field("prompt_tuning_init") == "TEXT" { "TEXT" } else { "RANDOM" }.into();
        PeftConfig::parse(fields).map(MethodConfig::PromptTuning)
    }
}
