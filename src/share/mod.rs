//! Saving what a run trained: the Hugging Face PEFT format (`peft.rs`) and LoRA/DoRA merged into a plain
//! checkpoint (`merged.rs`).

pub mod merged;
pub mod peft;
