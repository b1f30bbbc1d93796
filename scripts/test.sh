#!/usr/bin/env bash
# Sets up and runs every test: format and lint checks, unit tests, reference-parity and bad-input tests on burn's flex CPU backend,
# a training test on native wgpu (Mesa lavapipe), then the playground: built for wasm32 (the profile it ships with) and
# driven in headless chromium with WebGPU on and off (tests/browser/run.mjs; screenshots in tests/browser/artifacts/).
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
cargo clippy --target wasm32-unknown-unknown --profile web --features web --bin peft-lab-web -j 2 -- -D warnings
cargo test --all-targets -j 2 -- --test-threads 1
bash scripts/build-web.sh dist-test
node tests/browser/run.mjs dist-test
