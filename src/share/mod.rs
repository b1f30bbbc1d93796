//! Saving what a run trained: share links (`link/`), the Hugging Face PEFT format (`peft.rs`), LoRA/DoRA
//! merged into a plain checkpoint (`merged.rs`), a script that continues the run in Python
//! (`python.rs`), and the zip that bundles files for one download (`zip.rs`).

pub mod link;
pub mod merged;
pub mod peft;
pub mod python;
pub mod zip;
