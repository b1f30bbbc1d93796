//! Saving what a run trained: share links (`link/`), the Hugging Face PEFT format (`peft.rs`), LoRA/DoRA
//! merged into a plain checkpoint (`merged.rs`), a script that continues the run in Python
//! (`python.rs`), and the zip that bundles files for one download (`zip.rs`).

/// What links and hand-over files record as their author: "peft-lab <version>".
pub fn made_by() -> String {
    format!("peft-lab {}", env!("CARGO_PKG_VERSION"))
}

/// A tensor read back to the host, as links and adapter files carry it: its peft key name, the torch shape and
/// row-major f32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

pub mod link;
pub mod merged;
pub mod peft;
pub mod python;
pub mod zip;
