//! P-tuning (Liu et al., 2021, "GPT Understands, Too") as peft's `tuners/p_tuning`: virtual tokens prepended
//! to the input embeddings, like prompt tuning, but produced by a prompt encoder from a trained table at every
//! step, either an MLP (Linear-ReLU-Linear-ReLU-Linear) or a bidirectional LSTM followed by
//! Linear-ReLU-Linear. The encoder only helps training: peft saves (and inference uses) its output table.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::prompt::{PROMPT_FROZEN, SoftPrompt, prompt_learning_json};
use super::{
    AttachContext, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, PeftConfig, Site,
    check_encoder_parameters, check_encoder_width, check_probability, check_virtual_tokens, torch_linear,
};
use super::{Attached, SequenceClassifier};
use crate::model::dropout::Dropout;
use crate::model::{BertConfig, Checkpoint, LoadError};

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

/// Maps the trained table [tokens, hidden] to the virtual tokens' embeddings [tokens, hidden].
#[derive(Module, Debug)]
pub enum PromptEncoder {
    /// peft's `mlp_head`: Linear(d, h) ReLU Linear(h, h) ReLU Linear(h, d).
    Mlp(Vec<Linear>),
    Lstm(PromptLstm),
}

impl PromptEncoder {
    pub fn forward(&self, table: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Mlp(layers) => mlp(layers, table),
            Self::Lstm(lstm) => lstm.forward(table),
        }
    }
}

/// Linear layers with ReLU between them (not after the last).
fn mlp(layers: &[Linear], x: Tensor<2>) -> Tensor<2> {
    let mut x = x;
    for (i, layer) in layers.iter().enumerate() {
        x = layer.forward(x);
        if i + 1 < layers.len() {
            x = relu(x);
        }
    }
    x
}

/// peft's LSTM encoder: a stacked bidirectional `nn.LSTM` over the virtual tokens, then Linear(2h, 2h) ReLU
/// Linear(2h, d) on every position.
#[derive(Module, Debug)]
pub struct PromptLstm {
    /// Per layer, the forward and the backward direction.
    pub layers: Vec<[LstmDirection; 2]>,
    pub head: Vec<Linear>,
    pub dropout: Dropout,
}

impl PromptLstm {
    fn forward(&self, table: Tensor<2>) -> Tensor<2> {
        let mut x = table;
        for (i, [forward, backward]) in self.layers.iter().enumerate() {
            if i > 0 {
                x = self.dropout.forward_unbatched(x);
            }
            x = Tensor::cat(vec![forward.run(x.clone(), false), backward.run(x, true)], 1);
        }
        mlp(&self.head, x)
    }
}

/// One direction of one LSTM layer, torch's gate order (input, forget, cell, output); weights [in, 4h].
#[derive(Module, Debug)]
pub struct LstmDirection {
    pub weight_ih: Param<Tensor<2>>,
    pub weight_hh: Param<Tensor<2>>,
    pub bias_ih: Param<Tensor<1>>,
    pub bias_hh: Param<Tensor<1>>,
}

impl LstmDirection {
    /// torch's init: every weight and bias U(-1/sqrt(h), 1/sqrt(h)).
    fn new(d_in: usize, hidden: usize, device: &Device) -> Self {
        let bound = 1.0 / (hidden as f64).sqrt();
        let uniform = Distribution::Uniform(-bound, bound);
        Self {
            weight_ih: Param::from_tensor(Tensor::random([d_in, 4 * hidden], uniform, device)),
            weight_hh: Param::from_tensor(Tensor::random([hidden, 4 * hidden], uniform, device)),
            bias_ih: Param::from_tensor(Tensor::random([4 * hidden], uniform, device)),
            bias_hh: Param::from_tensor(Tensor::random([4 * hidden], uniform, device)),
        }
    }

    /// Runs over the rows of `x` [steps, in] (last to first when `reverse`), returning [steps, h] in row order.
    fn run(&self, x: Tensor<2>, reverse: bool) -> Tensor<2> {
        let [steps, _] = x.dims();
        let hidden = self.weight_hh.dims()[0];
        let bias = (self.bias_ih.val() + self.bias_hh.val()).reshape([1, 4 * hidden]);
        let inputs = x.matmul(self.weight_ih.val()) + bias;
        let device = inputs.device();
        let (mut h, mut c) = (Tensor::zeros([1, hidden], &device), Tensor::zeros([1, hidden], &device));
        let mut outputs = vec![None; steps];
        let order: Vec<usize> = if reverse { (0..steps).rev().collect() } else { (0..steps).collect() };
        for t in order {
            let gates = inputs.clone().narrow(0, t, 1) + h.matmul(self.weight_hh.val());
            let gate = |k: usize| gates.clone().narrow(1, k * hidden, hidden);
            let (input, forget, cell, output) = (sigmoid(gate(0)), sigmoid(gate(1)), gate(2).tanh(), sigmoid(gate(3)));
            c = forget * c + input * cell;
            h = output * c.clone().tanh();
            outputs[t] = Some(h.clone());
        }
        Tensor::cat(outputs.into_iter().flatten().collect(), 0)
    }
}

/// The parameters of the LSTM encoder on width `d` with `h` units per direction and `layers` layers, then its MLP
/// head, in u64 so that no product overflows: per direction and layer 4h × (in + h) weights and two 4h biases, the
/// first layer reading d, the others 2h; the head Linear(2h, 2h), Linear(2h, d).
fn lstm_parameters(d: usize, h: usize, layers: usize) -> u64 {
    let (d, h, layers) = (d as u64, h as u64, layers as u64);
    let direction = |d_in: u64| 4 * h * (d_in + h) + 8 * h;
    let lstm = 2 * direction(d) + 2 * layers.saturating_sub(1) * direction(2 * h);
    lstm + 2 * h * (2 * h + 1) + (2 * h + 1) * d
}

impl Method for PromptEncoderConfig {
    fn attach(&self, model: SequenceClassifier, ctx: &AttachContext) -> Result<SequenceClassifier, MethodError> {
        check_virtual_tokens("P-tuning", self.num_virtual_tokens, ctx.max_length, &model.config)?;
        check_probability("P-tuning encoder_dropout", self.encoder_dropout)?;
        let d = model.config.hidden_size;
        let h = self.encoder_hidden_size.unwrap_or(d);
        check_encoder_width("P-tuning encoder_hidden_size", h, &model.config)?;
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
        model.sequence = Some(SoftPrompt { embedding: Param::from_tensor(table), encoder: Some(encoder) }.into_side());
        Ok(model)
    }

    fn adapter_tensors(&self, model: &SequenceClassifier) -> Vec<NamedTensor> {
        SoftPrompt::adapter_tensors(model)
    }

    fn load(&self, model: SequenceClassifier, adapter: &Checkpoint) -> Result<SequenceClassifier, LoadError> {
        SoftPrompt::load(model, adapter)
    }

    fn peft_json(&self, cfg: &BertConfig) -> serde_json::Value {
        prompt_learning_json(
            cfg,
            serde_json::json!({
                "peft_type": "P_TUNING",
                "num_virtual_tokens": self.num_virtual_tokens,
                "encoder_reparameterization_type": self.encoder_reparameterization_type,
                "encoder_hidden_size": self.encoder_hidden_size.unwrap_or(cfg.hidden_size),
                "encoder_num_layers": self.encoder_num_layers,
                "encoder_dropout": self.encoder_dropout,
            }),
        )
    }

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
