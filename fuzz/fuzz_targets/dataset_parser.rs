//! The dataset parser on arbitrary files, as the page and the CLI read them: bytes to UTF-8 text, format
//! detection, the table, the text and label columns, label ids, the split. The first byte picks the file name's
//! extension and whether bad rows are skipped.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/rng.rs"]
mod rng;

// The engine's `data::{columns, dataset, parse}` modules at this crate's root: they refer to each other through `super::`.
#[path = "../../src/data/columns.rs"]
mod columns;
#[path = "../../src/data/dataset.rs"]
mod dataset;
#[path = "../../src/data/parse.rs"]
mod parse;
#[path = "../../src/data/error.rs"]
mod error;

const NAMES: [&str; 6] = ["data.csv", "data.tsv", "data.jsonl", "data.json", "data.txt", "data"];

fuzz_target!(|input: &[u8]| {
    let Some((&choice, bytes)) = input.split_first() else { return };
    let name = NAMES[choice as usize % NAMES.len()];
    let skip_bad_rows = choice & 0x80 != 0;
    if let Ok(dataset) = dataset::Dataset::from_bytes(name, bytes, None, None, skip_bad_rows) {
        let split = dataset.split(&[0.2, 0.1], 42);
        let held_out: usize = split.held_out.iter().map(Vec::len).sum();
        assert_eq!(split.train.len() + held_out, dataset.examples.len());
        assert!(dataset.labels.len() >= 2);
    }
});
