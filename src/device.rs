//! The devices the engine trains on natively. The browser builds its own (WebGPU initialised asynchronously).

use burn::tensor::Device;

/// burn's flex CPU backend with autodiff: gemm matmuls, SIMD (wasm simd128 in the browser), rayon threads natively.
/// It replaced ndarray: a MiniLM LoRA step took 1.46 s against 1.57 natively (one thread), 1.25 against 1.82 in wasm.
pub fn cpu() -> Device {
    keep_freed_memory();
    Device::flex().autodiff()
}

/// glibc hands every freed buffer above its mmap threshold back to the kernel, so each step page-faulted its
/// activations in again: a MiniLM LoRA step spent about a quarter of its time in the kernel (0.60 s a step, 0.46
/// with this). Buffers up to 1 GiB now come from the heap and freed memory stays for the next step; the peak is the
/// same, as the same buffers are live at once.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator parameters; any value is valid, an unsupported one is refused.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
                libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
            }
        });
    }
}

/// burn's wgpu backend with autodiff (Vulkan/Metal/DX12; Mesa's lavapipe on machines without a GPU).
pub fn wgpu() -> Device {
    Device::wgpu(Default::default()).autodiff()
}
