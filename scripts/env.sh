# Sourced by the scripts that run the CLI: installs the model and data, builds peft-lab, and sets
#   model   the embedded default model's directory
#   bin     the built peft-lab binary (dev profile, which optimises burn: see Cargo.toml)
#   python  the interpreter for the Python reference (PYTHON, default python3)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/peft-lab/target}"
model=public/models/all-MiniLM-L6-v2
python="${PYTHON:-python3}"
cargo build --quiet --bin peft-lab
bin="$CARGO_TARGET_DIR/debug/peft-lab"
