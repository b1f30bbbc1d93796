//! Tokenised examples to padded batches with attention masks, on a device.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::Example;
use crate::model::TextTokenizer;

/// An example's token ids (special tokens included, already truncated) and label id.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizedExample {
    pub ids: Vec<u32>,
    pub label: usize,
}

/// Tokenises `examples`; also returns each text's length before truncation (for the summary).
pub fn tokenize(
    tokenizer: &TextTokenizer,
    examples: &[Example],
    max_length: usize,
) -> (Vec<TokenizedExample>, Vec<usize>) {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let encoded = tokenizer.encode_all(&texts, max_length);
    let lengths = encoded.iter().map(|e| e.full_length).collect();
    let tokenized =
        encoded.into_iter().zip(examples).map(|(e, ex)| TokenizedExample { ids: e.ids, label: ex.label }).collect();
    (tokenized, lengths)
}

/// A padded batch: ids and mask [batch, longest], labels [batch].
#[derive(Debug, Clone)]
pub struct Batch {
    pub input_ids: Tensor<2, Int>,
    pub mask: Tensor<2>,
    pub labels: Tensor<1, Int>,
}

/// The most ids of any example, at least 1.
pub fn longest(examples: &[&TokenizedExample]) -> usize {
    examples.iter().map(|e| e.ids.len()).max().unwrap_or(1).max(1)
}

impl Batch {
    /// Pads to the longest example of the batch with `pad_id` (masked out).
    pub fn new(examples: &[&TokenizedExample], pad_id: u32, device: &Device) -> Self {
        Self::padded(examples, longest(examples), pad_id, device)
    }

    /// Pads every example to `longest` ids, at least the longest example's.
    pub fn padded(examples: &[&TokenizedExample], longest: usize, pad_id: u32, device: &Device) -> Self {
        assert!(examples.iter().all(|e| e.ids.len() <= longest), "an example is longer than the padded length");
        let batch = examples.len();
        let mut ids = vec![pad_id as i64; batch * longest];
        let mut mask = vec![0.0f32; batch * longest];
        for (row, example) in examples.iter().enumerate() {
            for (col, &id) in example.ids.iter().enumerate() {
                ids[row * longest + col] = id as i64;
                mask[row * longest + col] = 1.0;
            }
        }
        let labels: Vec<i64> = examples.iter().map(|e| e.label as i64).collect();
        Self {
            input_ids: Tensor::from_data(TensorData::new(ids, [batch, longest]), device),
            mask: Tensor::from_data(TensorData::new(mask, [batch, longest]), device),
            labels: Tensor::from_data(TensorData::new(labels, [batch]), device),
        }
    }
}
