//! A decoder's held-out figures: the next-token loss over the tokens the loss reads (each token counts once, as
//! transformers' loss over one batch does), and its exponential, the perplexity.

use burn::module::Module;

use super::TrainError;
use crate::data::lm::{LmBatch, LmExample};
use crate::method::SidePaths;
use crate::model::decoder::{CausalLm, causal_lm_loss};

/// Loss and perplexity over a set of examples.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmMetrics {
    pub loss: f64,
    pub perplexity: f64,
    /// The tokens the loss read.
    pub tokens: usize,
}

/// `model`'s mean next-token loss over `examples` in batches of `batch_size` (padded to each batch's longest), run
/// without autodiff and read back asynchronously.
pub async fn evaluate_lm(
    model: &CausalLm<SidePaths>,
    examples: &[LmExample],
    pad_id: u32,
    batch_size: usize,
) -> Result<LmMetrics, TrainError> {
    let model = model.valid();
    let device = model.decoder.device();
    let (mut total, mut tokens) = (0.0f64, 0usize);
    for chunk in examples.chunks(batch_size.max(1)) {
        let refs: Vec<&LmExample> = chunk.iter().collect();
        let learned: usize = chunk.iter().map(LmExample::learned_tokens).sum();
        if learned == 0 {
            continue;
        }
        let batch = LmBatch::new(&refs, pad_id, &device);
        let loss = causal_lm_loss(model.forward(batch.input_ids, batch.mask), batch.labels);
        let mean = loss
            .into_scalar_async::<f32>()
            .await
            .map_err(|e| TrainError::Device("loss read-back", format!("{e:?}")))?;
        total += f64::from(mean) * learned as f64;
        tokens += learned;
    }
    if tokens == 0 {
        return Err(TrainError::NoData);
    }
    let loss = total / tokens as f64;
    Ok(LmMetrics { loss, perplexity: loss.exp(), tokens })
}
