//! `gguf_reader` of `fuzz/entry_points.rs` on arbitrary input (the engine built whole, with burn).
#![no_main]

#[path = "../entry_points.rs"]
mod entry_points;

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    entry_points::gguf_reader(input);
});
