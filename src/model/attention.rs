//! Scaled dot-product attention as the decoders run it: causal, over padded batches, with keys and values that come
//! before the sequence (a prefix, or the cache of generation), and key/value heads shared by groups of query heads.

use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};

use super::dropout::Dropout;
use super::site::LayerPrefix;

/// What masked scores get added: large enough that the softmax gives them exactly 0, finite on every backend
/// (transformers adds the float's minimum; the probabilities are the same).
const MASKED: f32 = -1.0e9;

/// The bias added to attention scores [batch, 1, queries, keys] when the `queries` last positions of `mask`
/// [batch, keys] (1 for a token, 0 for padding) attend: a query sees the keys that are not padding, up to its
/// own position. Keys before the queries (a prefix, the cache) are visible to all of them.
pub fn causal_bias(mask: Tensor<2>, queries: usize) -> Tensor<4> {
    let [batch, keys] = mask.dims();
    let past = keys - queries;
    let mut causal = vec![0.0f32; queries * keys];
    for (i, row) in causal.chunks_exact_mut(keys).enumerate() {
        row[past + i + 1..].fill(MASKED);
    }
    let causal = Tensor::<2>::from_data(TensorData::new(causal, [queries, keys]), &mask.device());
    let padding = mask.neg().add_scalar(1.0).mul_scalar(MASKED).reshape([batch, 1, 1, keys]);
    padding + causal.reshape([1, 1, queries, keys])
}

/// `x` [batch, seq, heads · head_dim] as [batch, heads, seq, head_dim].
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [batch, seq, width] = x.dims();
    x.reshape([batch, seq, heads, width / heads]).swap_dims(1, 2)
}

/// softmax(q kᵀ / √head_dim + bias) v, heads joined again: `q` [batch, heads, queries, head_dim], `k` and `v`
/// [batch, kv_heads, keys, head_dim] where each key/value head serves heads / kv_heads consecutive query heads
/// (grouped-query attention; transformers' `repeat_kv`). Returns [batch, queries, heads · head_dim].
pub fn attend(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, bias: Tensor<4>, dropout: &Dropout) -> Tensor<3> {
    let [batch, heads, queries, head_dim] = q.dims();
    let (k, v) = (repeat_kv(k, heads), repeat_kv(v, heads));
    let scale = 1.0 / (head_dim as f64).sqrt();
    let probs = dropout.forward(softmax(q.matmul(k.swap_dims(2, 3)).mul_scalar(scale) + bias, 3));
    probs.matmul(v).swap_dims(1, 2).reshape([batch, queries, heads * head_dim])
}

/// Key or value heads [batch, kv_heads, keys, head_dim] repeated to `heads`, each kept next to its copies.
fn repeat_kv(x: Tensor<4>, heads: usize) -> Tensor<4> {
    let [batch, kv_heads, keys, head_dim] = x.dims();
    if kv_heads == heads {
        return x;
    }
    let group = heads / kv_heads;
    x.unsqueeze_dim::<5>(2).expand([batch, kv_heads, group, keys, head_dim]).reshape([batch, heads, keys, head_dim])
}

/// `past`'s keys and values (if any) followed by the sequence's own: what the sequence attends to, and what a
/// cache keeps for the next step.
pub fn with_past(past: Option<&LayerPrefix>, key: Tensor<4>, value: Tensor<4>) -> LayerPrefix {
    match past {
        Some(past) => LayerPrefix {
            key: Tensor::cat(vec![past.key.clone(), key], 2),
            value: Tensor::cat(vec![past.value.clone(), value], 2),
        },
        None => LayerPrefix { key, value },
    }
}
