//! Datasets: for decoders, text and prompt→completion examples (`generation.rs`); for classifiers, parse a file
//! (`parse.rs`), choose the text and label columns (`columns.rs`), map labels to ids,
//! summarise, split (`dataset.rs`), with the errors of all three in `error.rs`. No tensors here but in `batch.rs`,
//! which turns tokenised examples into padded batches. `parse.rs`, `columns.rs`, `dataset.rs` and `error.rs` use
//! nothing else of the crate but `rng.rs`: the fuzz target compiles them alone.

pub mod batch;
mod columns;
mod dataset;
mod error;
pub mod generation;
pub mod lm;
pub mod parse;

pub use columns::{ColumnChoice, Columns, MAX_CLASSES};
pub use dataset::*;
pub use error::{DataError, Remedy};
pub use parse::{Format, QuotedLines, Table, decode_utf8, parse};
