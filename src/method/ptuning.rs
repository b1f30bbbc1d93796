//! P-tuning (Liu et al., 2021, "GPT Understands, Too") as peft's `tuners/p_tuning`: virtual tokens prepended
//! to the input embeddings, like prompt tuning, but produced by a prompt encoder from a trained table at every
//! step, either an MLP (Linear-ReLU-Linear-ReLU-Linear) or a bidirectional LSTM followed by
//! Linear-ReLU-Linear. The encoder only helps training: peft saves (and inference uses) its output table.

use burn::module::Param;
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::prompt::{PROMPT_FROZEN, SoftPrompt, prompt_learning_json};
use super::prompt_encoder::{LstmDirection, PromptEncoder, PromptLstm, lstm_parameters};
use super::{
    AttachContext, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, PeftConfig, Site,
    check_encoder_parameters, check_encoder_width, check_probability, check_virtual_tokens, torch_linear,
};
use super::{Attached, SidePaths, Tuner, TunableModel};
use crate::model::dropout::Dropout;
use crate::model::{Checkpoint, LoadError};

/// Deeper prompt-encoder LSTMs are refused (peft's default is 2).
pub const MAX_LSTM_LAYERS: usize = 8;

/// peft's `PromptEncoderReparameterizationType`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "UPPERCASE")]
pub enum EncoderType {
    Mlp,
    Lstm,
}

/// peft's `PromptEncoderConfig` fields, with its defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PromptEncoderConfig {
    pub num_virtual_tokens: usize,
    pub encoder_reparameterization_type: EncoderType,
    /// Width of the encoder; `None` means the model's hidden size, as in peft.
    pub encoder_hidden_size: Option<usize>,
    /// LSTM layers (peft's MLP is always two hidden layers).
    pub encoder_num_layers: usize,
    pub encoder_dropout: f64,
}

impl PromptEncoderConfig {
    pub fn new(encoder: EncoderType) -> Self {
        Self {
            num_virtual_tokens: 10,
            encoder_reparameterization_type: encoder,
            encoder_hidden_size: None,
            encoder_num_layers: 2,
            encoder_dropout: 0.0,
        }
    }
}

impl<M: TunableModel<SidePaths>> Tuner<M> for PromptEncoderConfig {
    fn attach(&self, model: M, ctx: &AttachContext) -> Result<M, MethodError> {
        check_virtual_tokens("P-tuning", self.num_virtual_tokens, ctx.max_length, model.max_positions())?;
        check_probability("P-tuning encoder_dropout", self.encoder_dropout)?;
        let d = model.hidden_size();
        let h = self.encoder_hidden_size.unwrap_or(d);
        check_encoder_width("P-tuning encoder_hidden_size", h, d)?;
        let device = &ctx.device;
        let encoder = match self.encoder_reparameterization_type {
            EncoderType::Mlp => PromptEncoder::Mlp(vec![
                torch_linear(d, h, device),
                torch_linear(h, h, device),
                torch_linear(h, d, device),
            ]),
            EncoderType::Lstm => {
                if !(1..=MAX_LSTM_LAYERS).contains(&self.encoder_num_layers) {
                    return Err(MethodError::Invalid(format!(
                        "P-tuning's LSTM encoder_num_layers is {}; choose 1..={MAX_LSTM_LAYERS}",
                        self.encoder_num_layers
                    )));
                }
                check_encoder_parameters("P-tuning's LSTM encoder", lstm_parameters(d, h, self.encoder_num_layers))?;
                let layers = (0..self.encoder_num_layers)
                    .map(|i| {
                        let d_in = if i == 0 { d } else { 2 * h };
                        [LstmDirection::new(d_in, h, device), LstmDirection::new(d_in, h, device)]
                    })
                    .collect();
                PromptEncoder::Lstm(PromptLstm {
                    layers,
                    head: vec![torch_linear(2 * h, 2 * h, device), torch_linear(2 * h, d, device)],
                    dropout: Dropout::new(self.encoder_dropout),
                })
            }
        };
        let table = Tensor::random([self.num_virtual_tokens, d], Distribution::Normal(0.0, 1.0), device);
        let mut model = model.freeze_base();
        *model.sequence_mut() = Some(SoftPrompt { embedding: Param::from_tensor(table), encoder: Some(encoder) }.into_side());
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
                "peft_type": "P_TUNING",
                "num_virtual_tokens": self.num_virtual_tokens,
                "encoder_reparameterization_type": self.encoder_reparameterization_type,
                "encoder_hidden_size": self.encoder_hidden_size.unwrap_or(model.hidden_size()),
                "encoder_num_layers": self.encoder_num_layers,
                "encoder_dropout": self.encoder_dropout,
            }),
        )
    }
}

impl Method for PromptEncoderConfig {
    fn key(&self) -> &'static str {
        match self.encoder_reparameterization_type {
            EncoderType::Mlp => "ptuning-mlp",
            EncoderType::Lstm => "ptuning-lstm",
        }
    }

    fn label(&self) -> String {
        format!("{} {}", self.key(), self.num_virtual_tokens)
    }

    fn virtual_tokens(&self) -> usize {
        self.num_virtual_tokens
    }

    fn default_learning_rate(&self) -> f64 {
        // Input-level virtual tokens need large steps (Lester et al. use 0.3 with Adafactor); at 1e-3 both
        // peft-lab and peft stay near chance on the sample data.
        match self.encoder_reparameterization_type {
            EncoderType::Mlp => 3e-2,
            EncoderType::Lstm => 1e-2,
        }
    }

    fn cards() -> Vec<CatalogEntry> {
        use Site::*;
        vec![
            CatalogEntry {
                key: "ptuning-mlp",
                title: "P-tuning (MLP)",
                description: "Virtual input tokens produced by a prompt encoder MLP, prepended to the text.",
                explanation: Explanation {
                    principle: "A table of virtual tokens passes through an MLP (Linear-ReLU-Linear-ReLU-Linear, \
                                shared by all tokens) and the result is prepended to the word embeddings. The \
                                reparameterisation steadies training; afterwards only its output is kept.",
                    frozen: PROMPT_FROZEN,
                    inference: "The input is longer by the virtual tokens.",
                    sites: &[InputTokens, Head],
                },
                config: MethodConfig::PTuning(PromptEncoderConfig::new(EncoderType::Mlp)),
            },
            CatalogEntry {
                key: "ptuning-lstm",
                title: "P-tuning (LSTM)",
                description: "Virtual input tokens produced by a bidirectional LSTM prompt encoder.",
                explanation: Explanation {
                    principle: "As P-tuning with an MLP, but the encoder is a two-layer bidirectional LSTM followed \
                                by a small MLP, so each virtual token depends on its neighbours. Many parameters \
                                train; only the encoder's output is kept.",
                    frozen: PROMPT_FROZEN,
                    inference: "The input is longer by the virtual tokens.",
                    sites: &[InputTokens, Head],
                },
                config: MethodConfig::PTuning(PromptEncoderConfig::new(EncoderType::Lstm)),
            },
        ]
    }

    fn peft_type() -> Option<&'static str> {
        Some("P_TUNING")
    }

    fn from_peft(config: &PeftConfig) -> Result<MethodConfig, String> {
        let fields = config.pick(&[
            "num_virtual_tokens",
            "encoder_reparameterization_type",
            "encoder_hidden_size",
            "encoder_num_layers",
            "encoder_dropout",
        ]);
        PeftConfig::parse(fields).map(MethodConfig::PTuning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Pretrained;

    #[test]
    fn the_lstm_encoder_is_counted_before_it_is_built_and_refused_when_huge() {
        let device = crate::device::cpu();
        let tiny = Pretrained::from_dir(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-bert")))
            .unwrap();
        let config = PromptEncoderConfig { encoder_num_layers: 3, ..PromptEncoderConfig::new(EncoderType::Lstm) };
        let ctx = AttachContext { device: device.clone(), max_length: 16, tokenizer: None };
        let model = config.attach(tiny.classifier(2, &device).unwrap(), &ctx).unwrap();
        let (trainable, _) = model.parameter_counts();
        // The trainable rest: the prompt table (10 × 32) and the head (32 × 2 + 2).
        assert_eq!(trainable as u64, lstm_parameters(32, 32, 3) + 10 * 32 + 66);
        // MiniLM's width with 4 × 384 units and 8 layers: 0.45 billion parameters, refused.
        let huge = lstm_parameters(384, 4 * 384, 8);
        assert!(huge > 400_000_000, "{huge}");
        let message = check_encoder_parameters("P-tuning's LSTM encoder", huge).unwrap_err().to_string();
        assert!(message.contains(&format!("would have {huge} parameters, more than 67108864")), "{message}");
    }
}
