//! Saving what a run trained: the Hugging Face PEFT format (`peft.rs`).

pub mod peft;
