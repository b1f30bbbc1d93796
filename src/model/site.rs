//! The tuning sites of an architecture and the one interface methods plug into them.
//!
//! An architecture holds an `Option<P>` at each site, where `P` is whatever the method layer attaches; it calls
//! the site's hook and knows nothing else of the method (as peft's `BaseTuner.inject_adapter` finds the targets
//! and each tuner only builds its layer). A side path acts at the sites it overrides and leaves the others as
//! the base model computes them.

use burn::module::{Module, ModuleDisplay};
use burn::nn::Linear;
use burn::tensor::Tensor;

use super::norm::LayerNorm;

/// Keys and values one layer attends to before the sequence: each [batch, heads, virtual tokens, head_dim].
#[derive(Clone, Debug)]
pub struct LayerPrefix {
    pub key: Tensor<4>,
    pub value: Tensor<4>,
}

/// The keys and values each layer's attention takes before the sequence: `layers` of [batch, heads, tokens,
/// head_dim] (for grouped-query attention the key/value heads, as peft sizes a decoder's prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixShape {
    pub layers: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl PrefixShape {
    /// One layer's key (or value) width per token: peft's `token_dim`.
    pub fn token_dim(&self) -> usize {
        self.heads * self.head_dim
    }
}

/// The sub-block a block-close site closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    Attention,
    FeedForward,
}

/// A block-close site as a method sees it: which sub-block, the checkpoint path of the module that closes it
/// (`bert.encoder.layer.0.attention.output`, the one holding its LayerNorm) and what sits there (`&` or `&mut`).
pub struct BlockClose<S> {
    pub block: Block,
    pub path: String,
    pub side: S,
}

/// A trainable module placed at a tuning site. Every hook's default is the base model's own computation.
pub trait SidePath: Module + ModuleDisplay {
    /// Projection site: `x` [rows, in] through the pretrained `base` (LoRA adds beside it, IA3 rescales).
    fn projection(&self, base: &Linear, x: Tensor<2>) -> Tensor<2> {
        base.forward(x)
    }

    /// Block-close site: a sub-block's output `h`, its input `x` and its LayerNorm give LN(h + x); a
    /// bottleneck adapter inserts itself here.
    fn close_block(&self, h: Tensor<3>, x: Tensor<3>, norm: &LayerNorm) -> Tensor<3> {
        norm.forward(h + x)
    }

    /// Input site: virtual tokens [count, hidden] put before the word embeddings (prompt tuning, P-tuning).
    fn input_tokens(&self) -> Option<Tensor<2>> {
        None
    }

    /// Attention site: keys and values every layer attends to before the sequence (prefix tuning, P-tuning v2),
    /// one per layer.
    fn attention_prefixes(&self, _batch: usize) -> Option<Vec<LayerPrefix>> {
        None
    }

    /// How many virtual tokens the input site puts before the text, known without running the site (a training step
    /// asks per example).
    fn input_token_count(&self) -> usize {
        0
    }

    /// How many positions the attention site's keys and values take, known without running the site.
    fn prefix_length(&self) -> usize {
        0
    }
}

/// The text's word embeddings with what a sequence site puts before them, as every architecture runs it.
pub struct BeforeText {
    /// [batch, virtual tokens + seq, hidden]: the site's virtual tokens, then the words.
    pub words: Tensor<3>,
    /// [batch, prefix + virtual tokens + seq]: ones for the prefix and the virtual tokens (every token sees them),
    /// then the text's own mask.
    pub mask: Tensor<2>,
    /// Each layer's prefix keys and values.
    pub prefixes: Option<Vec<LayerPrefix>>,
}

impl BeforeText {
    /// Puts the virtual tokens of `side` (if any) before `words` [batch, seq, hidden] and its prefix (if any) before
    /// the keys, widening `mask` [batch, seq] for both.
    pub fn new<P: SidePath>(side: Option<&P>, words: Tensor<3>, mask: Tensor<2>) -> Self {
        let [batch, _, hidden] = words.dims();
        let visible =
            |mask: Tensor<2>, tokens: usize| Tensor::cat(vec![Tensor::ones([batch, tokens], &mask.device()), mask], 1);
        let (mut words, mut mask) = (words, mask);
        if let Some(tokens) = side.and_then(SidePath::input_tokens) {
            let count = tokens.dims()[0];
            words = Tensor::cat(vec![tokens.reshape([1, count, hidden]).expand([batch, count, hidden]), words], 1);
            mask = visible(mask, count);
        }
        let mut before = Self { words, mask, prefixes: side.and_then(|side| side.attention_prefixes(batch)) };
        let prefix_length = before.prefix_length();
        if prefix_length > 0 {
            before.mask = visible(before.mask, prefix_length);
        }
        before
    }

    /// How many positions the prefix takes before the words.
    pub fn prefix_length(&self) -> usize {
        self.prefixes.as_ref().and_then(|p| p.first()).map_or(0, |p| p.key.dims()[2])
    }
}
