//! Datasets: parse a file (`parse.rs`), choose the text and label columns, map labels to ids, summarise, split
//! (`dataset.rs`), with the errors of both in `error.rs`. No tensors here but in `batch.rs`, which turns tokenised
//! examples into padded batches. `parse.rs`, `dataset.rs` and `error.rs` use nothing else of the crate but `rng.rs`:
//! the fuzz target compiles them alone.

pub mod batch;
mod dataset;
mod error;
pub mod parse;

pub use dataset::*;
pub use error::{DataError, Remedy};
pub use parse::{Format, Table, decode_utf8, parse};
