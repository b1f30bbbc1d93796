//! What the model-file fuzz targets run, shared with their short run in CI (`tests/fuzz_short.rs`): each takes
//! arbitrary bytes, hands them to an entry point as a person's files would reach it, and checks what comes back.
//! Any panic, hang or runaway allocation is a finding. Each says whether the input got through (the short run checks
//! that mutations reach past the parsers).
#![allow(dead_code)] // each fuzz target runs one of these

use peft_lab::model::Pretrained;

/// tiny-bert's files, the base that hostile config.json, tokenizer.json and adapter files are put beside.
pub const TINY_CONFIG: &[u8] = include_bytes!("../tests/fixtures/tiny-bert/config.json");
pub const TINY_WEIGHTS: &[u8] = include_bytes!("../tests/fixtures/tiny-bert/model.safetensors");
pub const TINY_TOKENIZER: &[u8] = include_bytes!("../tests/fixtures/tiny-bert/tokenizer.json");
/// llama.cpp's writer's file with one tensor of each type the GGUF reader supports.
pub const TINY_GGUF: &[u8] = include_bytes!("../tests/fixtures/gguf/tiny.gguf");

/// Splits `input` into `count` parts: each but the last prefixed by its length (u32, little-endian; cut short where
/// the input ends), the last the rest.
pub fn parts(input: &[u8], count: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = input;
    while out.len() + 1 < count {
        let Some((length, tail)) = rest.split_first_chunk::<4>() else { break };
        let (part, tail) = tail.split_at((u32::from_le_bytes(*length) as usize).min(tail.len()));
        out.push(part);
        rest = tail;
    }
    out.push(rest);
    out
}

/// The input `parts` splits back into `pieces`.
pub fn join(pieces: &[&[u8]]) -> Vec<u8> {
    let (last, first) = pieces.split_last().expect("at least one piece");
    let mut out = Vec::new();
    for piece in first {
        out.extend((piece.len() as u32).to_le_bytes());
        out.extend(*piece);
    }
    out.extend(*last);
    out
}

/// burn's CPU backend without autodiff: loading and importing need no gradients, and a model tracked by autodiff
/// and dropped without a backward pass is never freed (about its size per input, 2 GiB within minutes of fuzzing).
fn device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}

fn tiny() -> Pretrained {
    Pretrained::from_bytes("tiny-bert", TINY_CONFIG, TINY_WEIGHTS.to_vec(), TINY_TOKENIZER).expect("tiny-bert loads")
}

/// config.json, then model.safetensors (each part empty: tiny-bert's), loaded and built into a classifier.
pub fn model_loader(input: &[u8]) -> bool {
    let parts = parts(input, 2);
    let config = if parts[0].is_empty() { TINY_CONFIG } else { parts[0] };
    let weights = parts.get(1).filter(|w| !w.is_empty()).copied().unwrap_or(TINY_WEIGHTS);
    let loaded = Pretrained::from_bytes("fuzzed", config, weights.to_vec(), TINY_TOKENIZER)
        .and_then(|pretrained| pretrained.classifier::<peft_lab::method::SidePaths>(2, &device()));
    if let Ok(model) = &loaded {
        assert_eq!(model.num_labels(), 2);
    }
    loaded.is_ok()
}

/// tokenizer.json on its own, then texts encoded with it: ids within its largest id, truncated as asked.
pub fn tokenizer(input: &[u8]) -> bool {
    let Ok(tokenizer) = peft_lab::model::TextTokenizer::from_bytes(input) else { return false };
    let (max_id, _) = tokenizer.max_id();
    let texts = ["The café's 中文 [CLS] ##ing naïve\u{301}\u{1} text", "", "a b c d e f g h i j k l m n o p"];
    for encoded in tokenizer.encode_all(&texts, 8) {
        assert!(encoded.ids.len() <= 8.max(tokenizer.special_tokens()), "{:?}", encoded.ids);
        assert!(encoded.ids.iter().all(|&id| id <= max_id));
    }
    true
}

/// A GGUF file: parsed, then every tensor de-quantised to as many values as its shape has.
pub fn gguf_reader(input: &[u8]) -> bool {
    let Ok(gguf) = peft_lab::model::gguf::Gguf::parse(input) else { return false };
    for info in &gguf.tensors {
        let (shape, values) = gguf.tensor(&info.name).expect("a listed tensor reads");
        assert_eq!(values.len(), shape.iter().product::<usize>(), "{}", info.name);
    }
    true
}

/// adapter_config.json, adapter_model.safetensors and peft_lab.json (absent when empty), imported on tiny-bert.
pub fn peft_import(input: &[u8]) -> bool {
    let parts = parts(input, 3);
    let (Ok(config), Some(weights)) = (std::str::from_utf8(parts[0]), parts.get(1)) else { return false };
    let run_info = parts.get(2).filter(|r| !r.is_empty()).and_then(|r| std::str::from_utf8(r).ok());
    match peft_lab::share::peft::import(&tiny(), config, weights, run_info, &device()) {
        Ok((model, info)) => {
            assert_eq!(model.num_labels(), info.labels.len());
            true
        }
        Err(_) => false,
    }
}
