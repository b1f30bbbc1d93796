#!/usr/bin/env bash
# Sets up and runs every test: format and lint checks, unit tests, reference-parity and bad-input tests on burn's ndarray backend,
# a training test on native wgpu (Mesa lavapipe), and the engine's wasm32 build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test

# A build cache outside the clone keeps warm runs fast; a cold one rebuilds everything.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/peft-lab/target}"
export CARGO_TERM_COLOR=never
# Pin wgpu to lavapipe so the GPU kernels run on the CPU where there is no GPU.
export VK_ICD_FILENAMES="${VK_ICD_FILENAMES:-/usr/share/vulkan/icd.d/lvp_icd.x86_64.json}"

cargo fmt --all -- --check
cargo clippy --all-targets -j 2 -- -D warnings
cargo test --all-targets -j 2 -- --test-threads 1
cargo build --lib --target wasm32-unknown-unknown --profile wasm-check -j 2
echo "test: wasm32 engine build ok"
