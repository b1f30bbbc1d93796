//! Byte-level BPE against Hugging Face `tokenizers` (the crate, the reference), id for id, on the embedded decoder's
//! vocabulary and merges (SmolLM2-135M-Instruct's GGUF): with SmolLM's pre-tokenizer as the model uses it, and with
//! GPT-2's and Llama-3's over the same vocabulary, on the sample data and on texts made of troublesome pieces.

mod common;

use common::{random_texts, sample_texts};
use peft_lab::model::bpe::{BpeTokenizer, PreTokenizer};
use peft_lab::model::gguf::{Gguf, Value};
use serde_json::json;

/// Pieces that stress the patterns: contractions in both cases, digit runs, whitespace runs before words and at
/// the end, newlines and carriage returns, tabs, Unicode spaces and letters, emoji, CJK, the chat template's
/// special tokens (alone and inside words), bytes with no token of their own.
const POOL: &[&str] = &[
    "a",
    "the",
    " the",
    "The",
    "café",
    "cafe\u{301}",
    "naïve",
    "ß",
    "Σ",
    "中文",
    "한국",
    "😀",
    "👩\u{200d}💻",
    "🇫🇷",
    "'s",
    "'S",
    "'ll",
    "'LL",
    "'re",
    "'ve",
    "'m",
    "'d",
    "'t",
    "'x",
    "don't",
    "I'M",
    "'",
    "''",
    "1",
    "12",
    "123",
    "1234567",
    "3.14",
    "٣",
    "½",
    "²",
    " ",
    "  ",
    "   ",
    "\t",
    "\n",
    "\n\n",
    "\r\n",
    " \n",
    "\n ",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
    ".",
    ",",
    "!",
    "?",
    "...",
    "—",
    "«»",
    "$",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<",
    ">",
    "|",
    "#",
    "@",
    "~",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "x<|im_end|>y",
    "<|im_start",
    "im_end|>",
    "\u{0}",
    "\u{1}",
    "\u{7f}",
    "\u{ad}",
    "\u{fffd}",
    "\u{e000}",
    "http://a.b/c?d=e",
    "supercalifragilisticexpialidocious",
    "well-known",
    "snake_case",
    "CamelCase",
];

fn smollm2() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("public/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    std::fs::read(path).expect("the embedded decoder (scripts/setup.sh installs it)")
}

/// A tokenizer.json of the GGUF's vocabulary, merges and control tokens with the given pre-tokenizer, as Hugging
/// Face writes one (SmolLM2's own has SmolLM's pre-tokenizer).
fn tokenizer_json(gguf: &Gguf, pre_tokenizer: serde_json::Value) -> String {
    let strings = |key: &str| match gguf.get(key) {
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().unwrap().to_string()).collect::<Vec<_>>(),
        other => panic!("{key}: {other:?}"),
    };
    let tokens = strings("tokenizer.ggml.tokens");
    let types = match gguf.get("tokenizer.ggml.token_type") {
        Some(Value::Array(items)) => items.iter().map(|v| v.as_u64().unwrap()).collect::<Vec<_>>(),
        other => panic!("token types: {other:?}"),
    };
    let vocab: serde_json::Map<String, serde_json::Value> =
        tokens.iter().enumerate().map(|(id, t)| (t.clone(), json!(id))).collect();
    let added: Vec<_> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == 3)
        .map(|(id, _)| {
            json!({"id": id, "content": tokens[id], "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": true})
        })
        .collect();
    json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added, "normalizer": null,
        "pre_tokenizer": pre_tokenizer, "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": strings("tokenizer.ggml.merges")},
    })
    .to_string()
}

fn byte_level(use_regex: bool) -> serde_json::Value {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex})
}

fn texts() -> Vec<String> {
    let mut texts = sample_texts();
    texts.extend(random_texts(POOL, 3000));
    texts
}

/// Our ids, from a tokenizer.json, equal the crate's on every text; returns how many texts were compared.
fn compare(json: &str, expected_pre: PreTokenizer, texts: &[String]) -> usize {
    let reference = tokenizers::Tokenizer::from_bytes(json.as_bytes()).unwrap();
    let ours = BpeTokenizer::from_tokenizer_json(json.as_bytes()).unwrap();
    assert_eq!(ours.pre_tokenizer(), expected_pre);
    for text in texts {
        let want = reference.encode(text.as_str(), false).unwrap().get_ids().to_vec();
        assert_eq!(ours.encode(text), want, "{expected_pre:?} on {text:?}");
    }
    texts.len()
}

#[test]
fn smollm_ids_equal_the_tokenizers_crate_from_the_gguf_and_from_tokenizer_json() {
    let bytes = smollm2();
    let gguf = Gguf::parse(&bytes).unwrap();
    let texts = texts();
    let smollm = json!({"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": true}, byte_level(true)]});
    let json = tokenizer_json(&gguf, smollm);
    let compared = compare(&json, PreTokenizer::SmolLm, &texts);
    // The GGUF's own tokenizer gives the same ids.
    let from_gguf = BpeTokenizer::from_gguf(&gguf).unwrap();
    let from_json = BpeTokenizer::from_tokenizer_json(json.as_bytes()).unwrap();
    assert_eq!(from_gguf.pre_tokenizer(), PreTokenizer::SmolLm);
    assert_eq!((from_gguf.bos, from_gguf.eos, from_gguf.vocab_size()), (Some(1), Some(2), 49152));
    for text in &texts {
        assert_eq!(from_gguf.encode(text), from_json.encode(text), "{text:?}");
    }
    assert!(compared > 4000, "{compared}");
}

#[test]
fn gpt2_and_llama3_pre_tokenizers_equal_the_tokenizers_crate() {
    let bytes = smollm2();
    let gguf = Gguf::parse(&bytes).unwrap();
    let texts = texts();
    let gpt2 = tokenizer_json(&gguf, byte_level(true));
    compare(&gpt2, PreTokenizer::Gpt2, &texts);
    let llama3 = tokenizer_json(
        &gguf,
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"},
             "behavior": "Isolated", "invert": false},
            byte_level(false)]}),
    );
    compare(&llama3, PreTokenizer::Llama3, &texts);
}

/// A template that puts a start token before each text, as Llama's tokenizer.json has.
fn start_template(token: &str) -> serde_json::Value {
    json!({"type": "TemplateProcessing",
           "single": [{"SpecialToken": {"id": token, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
           "pair": [{"SpecialToken": {"id": token, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                    {"SpecialToken": {"id": token, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
           "special_tokens": {token: {"id": token, "ids": [1], "tokens": [token]}}})
}

#[test]
fn a_start_token_goes_before_texts_where_the_post_processor_puts_one() {
    let bytes = smollm2();
    let gguf = Gguf::parse(&bytes).unwrap();
    assert_eq!(BpeTokenizer::from_gguf(&gguf).unwrap().start(), None, "SmolLM2 adds no start token");
    let texts = random_texts(POOL, 300);
    let mut with_start: serde_json::Value = serde_json::from_str(&tokenizer_json(&gguf, byte_level(true))).unwrap();
    // Llama 2's form (a template alone) and Llama 3's (a template after ByteLevel, in a Sequence).
    let llama3 = json!({"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
        start_template("<|im_start|>")]});
    for processor in [start_template("<|im_start|>"), llama3] {
        with_start["post_processor"] = processor;
        let json = with_start.to_string();
        let reference = tokenizers::Tokenizer::from_bytes(json.as_bytes()).unwrap();
        let ours = BpeTokenizer::from_tokenizer_json(json.as_bytes()).unwrap();
        assert_eq!(ours.start(), Some(1));
        for text in &texts {
            let want = reference.encode(text.as_str(), true).unwrap().get_ids().to_vec();
            assert_eq!(ours.encode_alone(text), want, "{text:?}");
        }
    }
    // A template that also ends texts with a token is refused rather than run otherwise.
    let mut ends = start_template("<|im_start|>");
    ends["single"].as_array_mut().unwrap().push(json!({"SpecialToken": {"id": "<|im_start|>", "type_id": 0}}));
    with_start["post_processor"] = ends;
    let refused = BpeTokenizer::from_tokenizer_json(with_start.to_string().as_bytes()).err().unwrap().to_string();
    assert!(refused.contains("is not one this tokenizer runs (a start token, then the text)"), "{refused}");
}

#[test]
fn decoding_gives_the_text_back() {
    let bytes = smollm2();
    let tokenizer = BpeTokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
    for text in ["Hello, world! It's 2026.", "<|im_start|>user\nWhat is 12+7?<|im_end|>\n", "naïve café 中文 😀"]
    {
        assert_eq!(tokenizer.decode(&tokenizer.encode(text)), text);
    }
    let ids = tokenizer.encode("<|im_start|>user");
    assert_eq!(ids[0], tokenizer.token_id("<|im_start|>").unwrap());
}

/// tokenizer.json files this tokenizer cannot run, each refused with its message.
#[test]
fn unsupported_or_broken_tokenizer_files_are_refused() {
    let base = |model: serde_json::Value, pre: serde_json::Value| {
        json!({"model": model, "pre_tokenizer": pre, "added_tokens": []}).to_string()
    };
    let bpe = |merges: serde_json::Value| json!({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": merges});
    let cases = [
        (
            "WordPiece",
            base(json!({"type": "WordPiece", "vocab": {}}), byte_level(true)),
            "tokenizer.json: the model is \"WordPiece\"; supported: byte-level BPE with the GPT-2, Llama-3 or SmolLM pre-tokenizer",
        ),
        (
            "Metaspace",
            base(bpe(json!(["a b"])), json!({"type": "Metaspace"})),
            "tokenizer.json: the pre_tokenizer is {\"type\":\"Metaspace\"}; supported: …",
        ),
        (
            "a prefix space",
            base(bpe(json!(["a b"])), json!({"type": "ByteLevel", "add_prefix_space": true})),
            "tokenizer.json: the pre_tokenizer is {\"type\":\"ByteLevel\",\"add_prefix_space\":true}; supported: …",
        ),
        (
            "a merge of three",
            base(bpe(json!(["a b c"])), byte_level(true)),
            "merge 'a b c' is not two tokens separated by a space",
        ),
        (
            "a merge of no token",
            base(bpe(json!(["a z"])), byte_level(true)),
            "merge 0 ('a z') uses 'z', which is not a token",
        ),
        (
            "a merged token missing",
            base(bpe(json!(["b a"])), byte_level(true)),
            "merge 0 ('b a') uses 'ba', which is not a token",
        ),
        (
            "an id beyond the vocabulary",
            base(json!({"type": "BPE", "vocab": {"a": 0, "b": 7}, "merges": []}), byte_level(true)),
            "tokenizer.json: 'b' has id 7; ids must run from 0 to 1",
        ),
        ("not JSON", "{ nope".to_string(), "tokenizer.json: key must be a string at line 1 column 3"),
    ];
    for (case, json, expected) in cases {
        let message = match BpeTokenizer::from_tokenizer_json(json.as_bytes()) {
            Ok(_) => panic!("{case}: accepted"),
            Err(e) => e.to_string(),
        };
        let fits = match expected.strip_suffix('…') {
            Some(start) => message.contains(start),
            None => message.ends_with(expected),
        };
        assert!(fits, "{case}:\n  got      {message}\n  expected {expected}");
    }
}

/// GGUF files whose tokenizer this one is not, refused with their messages.
#[test]
fn gguf_tokenizers_of_other_kinds_are_refused() {
    let smollm = smollm2();
    // A string metadata value replaced by another of the same length.
    let replaced = |key: &str, old: &str, new: &str| {
        let mut bytes = smollm.clone();
        let mut pattern = (key.len() as u64).to_le_bytes().to_vec();
        pattern.extend(key.as_bytes());
        pattern.extend(8u32.to_le_bytes());
        pattern.extend((old.len() as u64).to_le_bytes());
        pattern.extend(old.as_bytes());
        let at =
            bytes.windows(pattern.len()).position(|w| w == pattern).expect("the key and its value") + pattern.len();
        bytes[at - old.len()..at].copy_from_slice(new.as_bytes());
        bytes
    };
    let tiny =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf/tiny.gguf")).unwrap();
    let cases = [
        ("no tokenizer", tiny, "the GGUF file's tokenizer: there is none (no tokenizer.ggml.model)"),
        (
            "SentencePiece",
            replaced("tokenizer.ggml.model", "gpt2", "t5xx"),
            "the GGUF file's tokenizer: it is 't5xx'; supported: byte-level BPE with the GPT-2, Llama-3 or SmolLM pre-tokenizer",
        ),
        (
            "another pre-tokenizer",
            replaced("tokenizer.ggml.pre", "smollm", "falcon"),
            "the GGUF file's tokenizer: the pre-tokenizer is 'falcon'; supported: byte-level BPE with the GPT-2, Llama-3 or SmolLM pre-tokenizer",
        ),
    ];
    for (case, bytes, expected) in cases {
        let gguf = Gguf::parse(&bytes).unwrap();
        let message = BpeTokenizer::from_gguf(&gguf).err().map(|e| e.to_string());
        assert_eq!(message.as_deref(), Some(expected), "{case}");
    }
}
