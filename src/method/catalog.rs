//! The catalog: every method as the page's cards and the CLI's `--method` list show it, with where it keeps its
//! parameters and its default settings.

use super::{MethodConfig, MethodError, catalog};

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

impl MethodConfig {
    /// A catalog method by key with its default settings; `all` is not a method (the CLI expands it).
    pub fn from_name(name: &str) -> Result<Self, MethodError> {
        let entries = catalog();
        let keys = entries.iter().map(|e| e.key).collect::<Vec<_>>().join(", ");
        entries.into_iter().find(|e| e.key == name).map(|e| e.config).ok_or(MethodError::Unknown(name.into(), keys))
    }
}
