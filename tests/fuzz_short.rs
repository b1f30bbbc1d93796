//! The fuzz targets of `fuzz/` in miniature, in CI: the model loader (config.json + model.safetensors), tokenizer.json
//! and the PEFT folder import, each on mutations of real files (bit flips, cuts, inserted bytes, numbers swapped for
//! hostile ones). Any panic fails the test. `scripts/fuzz.sh` runs the same entry points under libFuzzer for millions
//! of inputs.

#[path = "../fuzz/entry_points.rs"]
mod entry_points;

use entry_points::{TINY_CONFIG, TINY_TOKENIZER, TINY_WEIGHTS};
use peft_lab::rng::SplitMix64;

/// Numbers that break arithmetic: zero, negatives, overflows of u32/u64/f32, non-numbers.
const HOSTILE: &[&str] = &["0", "-1", "4294967296", "18446744073709551616", "1e39", "NaN", "1.5", "\"x\"", "[]"];

/// `seed` changed 1 to 4 times: a bit flipped, a cut, a byte inserted, or a JSON number swapped for a hostile one.
fn mutate(seed: &[u8], rng: &mut SplitMix64) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.next_u64() % 4 {
        if bytes.is_empty() {
            break;
        }
        let at = (rng.next_u64() as usize) % bytes.len();
        match rng.next_u64() % 4 {
            0 => bytes[at] ^= 1 << (rng.next_u64() % 8),
            1 => bytes.truncate(at),
            2 => bytes.insert(at, rng.next_u64() as u8),
            _ => {
                // The number starting at or after `at`, if any, replaced.
                let Some(start) = bytes[at..].iter().position(u8::is_ascii_digit).map(|p| at + p) else { continue };
                let end = bytes[start..].iter().position(|b| !b.is_ascii_digit()).map_or(bytes.len(), |p| start + p);
                let hostile = HOSTILE[(rng.next_u64() as usize) % HOSTILE.len()].as_bytes();
                bytes.splice(start..end, hostile.iter().copied());
            }
        }
    }
    bytes
}

/// Runs `target` on every seed (each must get through) and on `runs` mutations, of which at least one in fifty must
/// get through too: mutations that every parser refuses would test nothing behind it.
fn run(seeds: &[Vec<u8>], runs: usize, target: fn(&[u8]) -> bool) {
    let mut rng = SplitMix64::new(11);
    for (i, seed) in seeds.iter().enumerate() {
        assert!(target(seed), "seed {i} was refused");
    }
    let through = (0..runs).filter(|i| target(&mutate(&seeds[i % seeds.len()], &mut rng))).count();
    assert!(through * 50 >= runs, "only {through} of {runs} mutations got through");
    eprintln!("{through} of {runs} mutations got through");
}

#[test]
fn the_model_loader_survives_mutated_configs_and_weights() {
    // config.json alone (the weights tiny-bert's), and both files.
    let seeds = vec![entry_points::join(&[TINY_CONFIG, b""]), entry_points::join(&[TINY_CONFIG, TINY_WEIGHTS])];
    run(&seeds, 5000, entry_points::model_loader);
}

#[test]
fn the_tokenizer_survives_mutated_files() {
    run(&[TINY_TOKENIZER.to_vec()], 20000, entry_points::tokenizer);
}

#[test]
fn the_gguf_reader_survives_mutated_files() {
    run(&[entry_points::TINY_GGUF.to_vec()], 20000, entry_points::gguf_reader);
}

#[test]
fn the_peft_import_survives_mutated_folders() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/peft_saved/");
    let read = |path: &str| std::fs::read(format!("{dir}{path}")).unwrap();
    let folder =
        |name: &str| [read(&format!("{name}/adapter_config.json")), read(&format!("{name}/adapter_model.safetensors"))];
    let mut seeds: Vec<Vec<u8>> = ["tiny_lora", "tiny_prefix", "tiny_ia3", "tiny_ptuning_lstm", "tiny_prompt"]
        .iter()
        .map(|name| {
            let [config, weights] = folder(name);
            entry_points::join(&[&config, &weights, b""])
        })
        .collect();
    // With peft_lab.json: our labels and method settings.
    let [config, weights] = folder("tiny_lora");
    let method =
        peft_lab::share::peft::method_from_peft_config(std::str::from_utf8(&config).unwrap(), "SEQ_CLS").unwrap();
    let method = serde_json::to_value(method).unwrap();
    let run_info = serde_json::json!({"base_model": "tiny", "labels": ["a", "b", "c"], "method": method}).to_string();
    seeds.push(entry_points::join(&[&config, &weights, run_info.as_bytes()]));
    run(&seeds, 5000, entry_points::peft_import);
}
