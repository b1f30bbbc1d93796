//! The devices the engine trains on natively. The browser builds its own (WebGPU initialised asynchronously).

use burn::tensor::Device;

/// burn's flex CPU backend with autodiff: gemm matmuls, SIMD (wasm simd128 in the browser), rayon threads natively.
/// It replaced ndarray: a MiniLM LoRA step took 1.46 s against 1.57 natively (one thread), 1.25 against 1.82 in wasm.
pub fn cpu() -> Device {
    Device::flex().autodiff()
}

/// burn's wgpu backend with autodiff (Vulkan/Metal/DX12; Mesa's lavapipe on machines without a GPU).
pub fn wgpu() -> Device {
    Device::wgpu(Default::default()).autodiff()
}
