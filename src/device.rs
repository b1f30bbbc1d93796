//! The devices the engine trains on natively. The browser builds its own (WebGPU initialised asynchronously).

use burn::tensor::Device;

/// burn's ndarray CPU backend with autodiff. burn 0.22 marks ndarray deprecated in favour of `flex`; ndarray is the
/// CPU backend this project is specified and measured on, and also the one proven in wasm builds.
#[allow(deprecated)]
pub fn cpu() -> Device {
    Device::ndarray().autodiff()
}

/// burn's wgpu backend with autodiff (Vulkan/Metal/DX12; Mesa's lavapipe on machines without a GPU).
pub fn wgpu() -> Device {
    Device::wgpu(Default::default()).autodiff()
}
