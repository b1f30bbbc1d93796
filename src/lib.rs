//! peft-lab's engine: load a Hugging Face checkpoint, attach a parameter-efficient method, train and compare,
//! save adapters in peft's format. Backend-agnostic (the burn `Device` picks flex (CPU), wgpu or WebGPU) and free
//! of any browser dependency; the CLI (`src/bin`) and the page are thin layers over it.

pub mod data;
pub mod device;
pub mod method;
pub mod model;
pub mod rng;
pub mod session;
pub mod share;
pub mod stats;
pub mod train;

/// The playground's page and training worker (browser only).
#[cfg(feature = "web")]
pub mod web;
