//! Prefix tuning (Li & Liang, 2021) and P-tuning v2 (Liu et al., 2022), as peft's `tuners/prefix_tuning`:
//! trained keys and values for `num_virtual_tokens` positions are prepended in every layer's attention.
//! With `prefix_projection` they come from an MLP over a small embedding (Embedding -> Linear -> tanh -> Linear),
//! the reparameterisation of the paper; without it the table is trained directly, which is P-tuning v2.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::{
    AttachContext, Attached, CatalogEntry, Explanation, Method, MethodConfig, MethodError, NamedTensor, PeftConfig,
    SidePaths, Site, Tuner, TunableModel, check_encoder_parameters, check_encoder_width, check_virtual_tokens, side,
    side_mut, torch_linear,
};
use super::inject::PROMPT_LEARNING_PREFIX;
use crate::model::bert::LayerPrefix;
use crate::model::{Checkpoint, LoadError, PrefixShape, SidePath, Weights};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrefixConfig {
    pub num_virtual_tokens: usize,
    /// Train through the reparameterisation MLP; without it the key/value table trains directly (P-tuning v2).
    pub prefix_projection: bool,
    /// Hidden width of the MLP; `None` means the model's hidden size, as in peft.
    pub encoder_hidden_size: Option<usize>,
}

impl Default for PrefixConfig {
    fn default() -> Self {
        Self { num_virtual_tokens: 10, prefix_projection: false, encoder_hidden_size: None }
    }
}

impl PrefixConfig {
    /// The MLP's hidden width for a model of hidden size `hidden`, or `None` without projection.
    pub fn projection_hidden(&self, hidden: usize) -> Option<usize> {
        self.prefix_projection.then(|| self.encoder_hidden_size.unwrap_or(hidden))
    }
}

/// The MLP of prefix projection: [tokens, hidden] -> tanh(Linear) -> Linear -> [tokens, layers*2*hidden].
#[derive(Module, Debug)]
pub struct PrefixProjection {
    pub first: Linear,
    pub second: Linear,
}

#[derive(Module, Debug)]
pub struct PrefixEncoder {
    /// [tokens, layers*2*hidden] without projection, [tokens, hidden] with it.
    pub embedding: Param<Tensor<2>>,
    pub projection: Option<PrefixProjection>,
    pub num_layers: usize,
    pub heads: usize,
}

impl PrefixEncoder {
    pub fn num_virtual_tokens(&self) -> usize {
        self.embedding.dims()[0]
    }

    /// The key/value table [tokens, layers*2*hidden]: columns run over layers x {key, value} x heads x head_dim.
    pub fn table(&self) -> Tensor<2> {
        let embedding = self.embedding.val();
        match &self.projection {
            Some(mlp) => mlp.second.forward(mlp.first.forward(embedding).tanh()),
            None => embedding,
        }
    }

    /// Per-layer keys and values, each [batch, heads, tokens, head_dim], as peft's `get_prompt` splits them.
    pub fn layer_prefixes(&self, batch: usize) -> Vec<LayerPrefix> {
        let table = self.table();
        let [tokens, width] = table.dims();
        let head_dim = width / (self.num_layers * 2 * self.heads);
        let per_slot = table.reshape([tokens, self.num_layers * 2, self.heads, head_dim]).permute([1, 2, 0, 3]);
        let slot = |i: usize| per_slot.clone().narrow(0, i, 1).expand([batch, self.heads, tokens, head_dim]);
        (0..self.num_layers).map(|l| LayerPrefix { key: slot(2 * l), value: slot(2 * l + 1) }).collect()
    }
}

impl SidePath for PrefixEncoder {
    fn attention_prefixes(&self, batch: usize) -> Option<Vec<LayerPrefix>> {
        Some(self.layer_prefixes(batch))
    }

    fn prefix_length(&self) -> usize {
        self.num_virtual_tokens()
    }
}

impl PrefixConfig {
    /// Checks the settings against a model whose attention prefixes have `shape`, with `positions` positions for
    /// inputs of up to `max_length` tokens, and builds the encoder as peft initialises it, for any architecture.
    pub fn encoder(
        &self,
        shape: PrefixShape,
        positions: usize,
        max_length: usize,
        device: &Device,
    ) -> Result<PrefixEncoder, MethodError> {
        // transformers shifts the real tokens' positions by the prefix length, so both must fit.
        check_virtual_tokens("prefix tuning", self.num_virtual_tokens, max_length, positions)?;
        let token_dim = shape.token_dim();
        let width = shape.layers * 2 * token_dim;
        let projection_hidden = self.projection_hidden(token_dim);
        if let Some(hidden) = projection_hidden {
            check_encoder_width("prefix tuning encoder_hidden_size", hidden, token_dim)?;
            // Linear(token_dim, hidden) then Linear(hidden, layers × 2 × token_dim), with biases.
            let (h, t, out) = (hidden as u64, token_dim as u64, width as u64);
            check_encoder_parameters("prefix tuning's projection", (t + 1) * h + (h + 1) * out)?;
        }
        let tokens = self.num_virtual_tokens;
        // nn.Embedding's default init is N(0, 1).
        let normal = Distribution::Normal(0.0, 1.0);
        let (embedding, projection) = match projection_hidden {
            Some(h) => (
                Tensor::random([tokens, token_dim], normal, device),
                Some(PrefixProjection {
                    first: torch_linear(token_dim, h, device),
                    second: torch_linear(h, width, device),
                }),
            ),
            None => (Tensor::random([tokens, width], normal, device), None),
        };
        Ok(PrefixEncoder { embedding: Param::from_tensor(embedding), projection, num_layers: shape.layers, heads: shape.heads })
    }
}

impl<M: TunableModel<SidePaths>> Tuner<M> for PrefixConfig {
    fn attach(&self, model: M, ctx: &AttachContext) -> Result<M, MethodError> {
        let encoder = self.encoder(model.prefix_shape(), model.max_positions(), ctx.max_length, &ctx.device)?;
        let mut model = model.freeze_base();
        *model.sequence_mut() = Some(encoder.into_side());
        Ok(model)
    }

    fn adapter_tensors(&self, model: &M) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        if let Some(prefix) = side::<PrefixEncoder>(model.sequence()) {
            out.push(NamedTensor::new("prompt_embeddings".into(), prefix.table()));
        }
        out.extend(model.head_tensors(PROMPT_LEARNING_PREFIX));
        out
    }

    /// peft saves the table (the MLP's output with projection): it loads as a plain table.
    fn load(&self, mut model: M, adapter: &Checkpoint) -> Result<M, LoadError> {
        let shape = model.prefix_shape();
        if let Some(prefix) = side_mut::<PrefixEncoder>(model.sequence_mut()) {
            let device = prefix.embedding.device();
            let width = prefix.num_layers * 2 * shape.token_dim();
            let table = adapter.tensor("prompt_embeddings", [prefix.num_virtual_tokens(), width], &device)?;
            prefix.embedding = Param::from_tensor(table);
            prefix.projection = None;
        }
        model.load_head(adapter, PROMPT_LEARNING_PREFIX)
    }

    /// peft sizes a prefix by the key/value heads under grouped-query attention (token_dim and num_attention_heads
    /// as [`PrefixShape`] has them).
    fn peft_json(&self, model: &M) -> serde_json::Value {
        let shape = model.prefix_shape();
        serde_json::json!({
            "peft_type": "PREFIX_TUNING",
            "num_virtual_tokens": self.num_virtual_tokens,
            "prefix_projection": self.prefix_projection,
            // peft fills encoder_hidden_size with token_dim when it is not given.
            "encoder_hidden_size": self.encoder_hidden_size.unwrap_or(shape.token_dim()),
            "token_dim": shape.token_dim(),
            "num_attention_heads": shape.heads,
            "num_layers": shape.layers,
            "num_transformer_submodules": 1,
        })
    }
}

impl Method for PrefixConfig {
    fn key(&self) -> &'static str {
        if self.prefix_projection { "prefix" } else { "ptuning-v2" }
    }

    fn label(&self) -> String {
        format!("{} {}", self.key(), self.num_virtual_tokens)
    }

    fn virtual_tokens(&self) -> usize {
        self.num_virtual_tokens
    }

    fn default_learning_rate(&self) -> f64 {
        // The MLP steadies training; a table trained directly needs larger steps.
        if self.prefix_projection { 1e-3 } else { 1e-2 }
    }

    fn cards() -> Vec<CatalogEntry> {
        use Site::*;
        vec![
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
                config: MethodConfig::Prefix(PrefixConfig { prefix_projection: true, ..Default::default() }),
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
                config: MethodConfig::Prefix(PrefixConfig::default()),
            },
        ]
    }

    fn peft_type() -> Option<&'static str> {
        Some("PREFIX_TUNING")
    }

    fn from_peft(config: &PeftConfig) -> Result<MethodConfig, String> {
        let mut fields = config.pick(&["num_virtual_tokens", "prefix_projection", "encoder_hidden_size"]);
        fields["prefix_projection"] = config.field("prefix_projection").as_bool().unwrap_or(false).into();
        PeftConfig::parse(fields).map(MethodConfig::Prefix)
    }
}
