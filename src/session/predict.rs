//! Class probabilities of a trained model for texts the person types.

use super::Error;
use crate::data::batch::TokenizedExample;
use crate::method::SequenceClassifier;
use crate::model::TextTokenizer;
use crate::train::{logits, metrics};

/// Class probabilities of each text under `model`, truncated to `max_length` tokens like the training data.
pub async fn predict(
    model: &SequenceClassifier,
    tokenizer: &TextTokenizer,
    texts: &[&str],
    max_length: usize,
) -> Result<Vec<Vec<f64>>, Error> {
    let encoded = tokenizer.encode_all(texts, max_length);
    let examples: Vec<TokenizedExample> =
        encoded.into_iter().map(|e| TokenizedExample { ids: e.ids, label: 0 }).collect();
    let logits = logits(model, &examples, tokenizer.pad_id(), 16).await?;
    Ok(logits.chunks(model.num_labels()).map(metrics::softmax).collect())
}
