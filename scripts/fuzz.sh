#!/usr/bin/env bash
# Fuzzes the share-link decoder, the dataset parser, the model loader (config.json + model.safetensors), tokenizer.json,
# the PEFT folder import and the GGUF reader with cargo-fuzz (libFuzzer, nightly Rust), each for ${RUNS:-1000000}
# executions (TARGETS picks some), starting from seeds made here: a real link of the tiny test model (as text, as
# payload bytes and as decompressed body), small CSV/TSV/JSONL/JSON files, tiny-bert's files, the peft-saved folders
# of the fixtures and the GGUF fixture.
# Not part of the test command (it needs nightly and takes minutes to hours; tests/fuzz_short.rs runs the model-file
# targets in miniature there); crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/peft-lab/target}"
runs="${RUNS:-1000000}"
seeds=fuzz/seeds
mkdir -p "$seeds/link_decoder" "$seeds/dataset_parser" "$seeds/model_loader" "$seeds/tokenizer" "$seeds/peft_import" "$seeds/gguf_reader"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'text,label\n"the food was good",pos\n"awful, never again",neg\n' > "$work/a.csv"
cargo run --quiet --bin peft-lab -- train --model tests/fixtures/tiny-bert --data "$work/a.csv" --method lora \
  --max-steps 1 --batch-size 2 --max-length 16 --val-split 0.5 --share-link "$work/link.txt" 2>/dev/null
python3 - "$work/link.txt" "$seeds" <<'PY'
import base64, sys, zlib
link, seeds = open(sys.argv[1]).read().strip(), sys.argv[2]
payload = base64.urlsafe_b64decode(link.split("#share=")[1] + "==")
for mode, body in [(0, link.encode()), (1, payload), (2, zlib.decompress(payload[7:]))]:
    open(f"{seeds}/link_decoder/real-{mode}", "wb").write(bytes([mode]) + body)
files = {
    0: b'text,label\n"good, really",pos\nbad,neg\n\n',
    1: b"text\tlabel\ngood\tpos\nbad\tneg\n",
    2: b'{"text": "good", "label": 1}\n{"text": "bad", "label": 0}\n',
    3: b'[{"sentence": "good", "class": "a"}, {"sentence": "bad", "class": "b"}]',
    0x84: b"\xef\xbb\xbfreview,sentiment,id\nnice,1,7\n,0,8\nworse,0\n",
}
for choice, body in files.items():
    open(f"{seeds}/dataset_parser/seed-{choice}", "wb").write(bytes([choice]) + body)
# The model-file targets' input: each part but the last prefixed by its length, u32 little-endian (fuzz/entry_points.rs).
import struct
read = lambda path: open(path, "rb").read()
join = lambda *parts: b"".join(struct.pack("<I", len(p)) + p for p in parts[:-1]) + parts[-1]
tiny, saved = "tests/fixtures/tiny-bert/", "tests/fixtures/peft_saved/"
open(f"{seeds}/model_loader/tiny", "wb").write(join(read(tiny + "config.json"), read(tiny + "model.safetensors")))
open(f"{seeds}/model_loader/config", "wb").write(join(read(tiny + "config.json"), b""))
open(f"{seeds}/tokenizer/tiny", "wb").write(read(tiny + "tokenizer.json"))
open(f"{seeds}/gguf_reader/tiny", "wb").write(read("tests/fixtures/gguf/tiny.gguf"))
for name in ["tiny_lora", "tiny_prefix", "tiny_ia3", "tiny_ptuning_lstm", "tiny_prompt", "tiny_dora"]:
    folder = saved + name + "/"
    body = join(read(folder + "adapter_config.json"), read(folder + "adapter_model.safetensors"), b"")
    open(f"{seeds}/peft_import/{name}", "wb").write(body)
PY

for target in ${TARGETS:-link_decoder dataset_parser model_loader tokenizer peft_import gguf_reader}; do
  mkdir -p "fuzz/corpus/$target"
  # Model and adapter files hold tensors: room for tiny-bert's 100 KB.
  case "$target" in model_loader | peft_import) max_len=262144 ;; *) max_len=16384 ;; esac
  echo "fuzz: $target, $runs executions"
  (cd fuzz && cargo +nightly fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
    -runs="$runs" -max_len="$max_len" -print_final_stats=1 2>&1 | tail -n 25)
done
