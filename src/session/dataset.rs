//! A dataset made ready for training: its validation examples chosen, every text tokenised once, its summary.

use super::Error;
use crate::data::{Dataset, Summary};
use crate::model::Pretrained;
use crate::train::PreparedData;

/// Where the validation examples come from.
pub enum Validation {
    /// A stratified fraction of the dataset, drawn with the run's seed.
    Split(f64),
    /// A file of their own; its labels must all occur in the dataset.
    File(Dataset),
}

/// The examples every method trains and validates on, tokenised to `max_length`, and the summary of their lengths
/// (training and validation examples alike).
pub fn prepare(
    pretrained: &Pretrained,
    dataset: &Dataset,
    validation: Validation,
    max_length: usize,
    seed: u64,
) -> Result<(PreparedData, Summary), Error> {
    let (train, val) = match validation {
        Validation::Split(fraction) => dataset.split(fraction, seed),
        Validation::File(file) => (dataset.examples.clone(), dataset.align_labels(file)?),
    };
    let (data, lengths) =
        PreparedData::tokenize(&pretrained.tokenizer, &train, &val, dataset.labels.clone(), max_length);
    Ok((data, Summary::new(dataset, &lengths, max_length)))
}

/// The dataset's summary at `max_length` without preparing it (the page shows it as soon as a file is dropped).
pub fn summarize(pretrained: &Pretrained, dataset: &Dataset, max_length: usize) -> Summary {
    let texts: Vec<&str> = dataset.examples.iter().map(|e| e.text.as_str()).collect();
    let encoded = pretrained.tokenizer.encode_all(&texts, max_length);
    let lengths: Vec<usize> = encoded.iter().map(|e| e.full_length).collect();
    Summary::new(dataset, &lengths, max_length)
}
