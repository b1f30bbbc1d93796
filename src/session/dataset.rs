//! A dataset made ready for training: its validation and test examples chosen, every text tokenised once, its summary.

use super::Error;
use crate::data::{DataError, Dataset, Example, Summary};
use crate::model::Pretrained;
use crate::train::PreparedData;

/// Where held-out examples (validation or test) come from.
pub enum HeldOut {
    /// A stratified fraction of the dataset, drawn with the split's seed.
    Split(f64),
    /// A file of their own; its labels must all occur in the dataset.
    File(Dataset),
}

/// The fractions of a dataset drawn for validation and test (where they are drawn, not read from files), in that
/// order: each above 0, together below 1.
pub fn held_out_fractions(validation: Option<f64>, test: Option<f64>) -> Result<Vec<f64>, DataError> {
    let fractions: Vec<f64> = validation.into_iter().chain(test).collect();
    let fits = |f: &f64| *f > 0.0 && *f < 1.0;
    if fractions.iter().all(fits) && fractions.iter().sum::<f64>() < 1.0 {
        return Ok(fractions);
    }
    Err(DataError::HeldOutFractions { validation: validation.unwrap_or(0.0), test: test.unwrap_or(0.0) })
}

/// The examples every method trains, validates and is tested on, tokenised to `max_length`, and the summary of their
/// lengths (every part alike). Validation and test fractions are both of the whole dataset, drawn from one stratified
/// shuffle under `split_seed`, so the same seed gives the same three parts whatever the runs' seeds are; without a
/// test part the figures a comparison reports are validation figures.
pub fn prepare(
    pretrained: &Pretrained,
    dataset: &Dataset,
    validation: HeldOut,
    test: Option<HeldOut>,
    max_length: usize,
    split_seed: u64,
) -> Result<(PreparedData, Summary), Error> {
    let split_fraction = |part: Option<&HeldOut>| match part {
        Some(HeldOut::Split(f)) => Some(*f),
        _ => None,
    };
    pretrained.check_max_length(max_length, 0).map_err(Error::Settings)?;
    let fractions = held_out_fractions(split_fraction(Some(&validation)), split_fraction(test.as_ref()))?;
    let mut split = dataset.split(&fractions, split_seed);
    let mut drawn = split.held_out.drain(..);
    let mut take = |part: HeldOut, name: &'static str| -> Result<Vec<Example>, DataError> {
        match part {
            HeldOut::Split(_) => Ok(drawn.next().expect("one drawn part per fraction")),
            HeldOut::File(file) => dataset.align_labels(file, name),
        }
    };
    let val = take(validation, "validation")?;
    let test = test.map(|t| take(t, "test")).transpose()?.unwrap_or_default();
    let (data, lengths) =
        PreparedData::tokenize(&pretrained.tokenizer, &split.train, &val, &test, dataset.labels.clone(), max_length);
    Ok((data, Summary::new(dataset, &lengths, max_length)))
}

/// The dataset's summary at `max_length` without preparing it (the page shows it as soon as a file is dropped).
pub fn summarize(pretrained: &Pretrained, dataset: &Dataset, max_length: usize) -> Summary {
    let texts: Vec<&str> = dataset.examples.iter().map(|e| e.text.as_str()).collect();
    let encoded = pretrained.tokenizer.encode_all(&texts, max_length);
    let lengths: Vec<usize> = encoded.iter().map(|e| e.full_length).collect();
    Summary::new(dataset, &lengths, max_length)
}
