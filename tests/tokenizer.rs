//! Token ids equal Hugging Face tokenizers' for tricky strings (accents, CJK, emoji, control characters,
//! very long texts with and without truncation), on MiniLM's tokenizer.json and the tiny one: against Python's
//! (fixtures) and against the Rust crate itself on the sample data and on seeded random strings.

mod common;

use common::*;
use peft_lab::model::{Pretrained, TextTokenizer};

fn check(tokenizer: &TextTokenizer, cases: &serde_json::Value, which: &str) -> usize {
    let mut checked = 0;
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        let max_length = match &case["truncation"] {
            serde_json::Value::Null => usize::MAX,
            serde_json::Value::Number(n) => n.as_u64().unwrap() as usize,
            // "as_loaded": the file's own padding/truncation, which the engine deliberately replaces.
            _ => continue,
        };
        let expected: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let encoded = tokenizer.encode_all(&[text], max_length).remove(0);
        assert_eq!(encoded.ids, expected, "{which} case '{name}'");
        if max_length == usize::MAX {
            assert_eq!(encoded.full_length, expected.len(), "{which} case '{name}'");
        } else {
            assert!(encoded.full_length >= expected.len(), "{which} case '{name}'");
        }
        checked += 1;
    }
    checked
}

#[test]
fn ids_equal_hugging_face_tokenizers() {
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("tokenizer_ids.json")).unwrap()).unwrap();
    let tiny = tiny_model();
    assert!(check(&tiny.tokenizer, &cases["tiny"], "tiny") >= 20);
    let minilm = Pretrained::from_dir(&minilm_dir()).expect("setup installs MiniLM into public/models");
    assert!(check(&minilm.tokenizer, &cases["minilm"], "MiniLM") >= 20);
}

/// A pool of troublesome characters: accents precomposed and combining, CJK, Hangul, emoji and joiners, control
/// and format characters, Unicode punctuation and spaces, case pairs that expand when lowercased, and added tokens
/// written into the text, with and without the spaces that lstrip/rstrip would take.
const POOL: &[&str] = &[
    "a",
    "e",
    "the",
    "un",
    "##",
    "ing",
    "café",
    "cafe\u{301}",
    "naïve",
    "İ",
    "ß",
    "Σ",
    "ΌΣ",
    "ǅ",
    "ﬁ",
    "Å",
    "中",
    "文",
    "𠀀",
    "한국",
    "カタ",
    "😀",
    "👩\u{200d}💻",
    "🇫🇷",
    "\u{0}",
    "\u{fffd}",
    "\u{7}",
    "\u{200b}",
    "\u{ad}",
    "\u{e000}",
    "\u{378}",
    "\t",
    "\n",
    "\r",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
    " ",
    "  ",
    ".",
    ",",
    "!",
    "?",
    "'",
    "\"",
    "-",
    "—",
    "«",
    "»",
    "¿",
    "…",
    "$",
    "+",
    "^",
    "`",
    "~",
    "|",
    "123",
    "4.5",
    "[SEP]",
    "[CLS]",
    "[MASK]",
    "[PAD]",
    "[sep]",
    "[UNK]x",
    "x[SEP]",
    "supercalifragilisticexpialidocious",
    "well-known",
    "don't",
    "http://a.b/c?d=e",
];

fn compare_with_the_crate(ours: &TextTokenizer, tokenizer_json: &std::path::Path, texts: &[String], which: &str) {
    let mut plain = tokenizers::Tokenizer::from_file(tokenizer_json).unwrap();
    plain.with_padding(None);
    plain.with_truncation(None).unwrap();
    let mut truncating = plain.clone();
    let max_length = 12;
    truncating.with_truncation(Some(tokenizers::TruncationParams { max_length, ..Default::default() })).unwrap();
    let full = ours.encode_all(texts, usize::MAX);
    let truncated = ours.encode_all(texts, max_length);
    for ((text, full), truncated) in texts.iter().zip(full).zip(truncated) {
        let expected = plain.encode(text.as_str(), true).unwrap().get_ids().to_vec();
        assert_eq!(full.ids, expected, "{which}: {text:?}");
        assert_eq!(truncated.full_length, expected.len(), "{which}: {text:?}");
        let expected = truncating.encode(text.as_str(), true).unwrap().get_ids().to_vec();
        assert_eq!(truncated.ids, expected, "{which}, truncated to {max_length}: {text:?}");
    }
}

#[test]
fn ids_equal_the_tokenizers_crate_on_sample_data_and_random_strings() {
    let texts: Vec<String> = sample_texts().into_iter().chain(random_texts(POOL, 3000)).collect();
    assert!(texts.len() >= 6000);
    compare_with_the_crate(&tiny_model().tokenizer, &fixtures().join("tiny-bert/tokenizer.json"), &texts, "tiny");
    let minilm = Pretrained::from_dir(&minilm_dir()).expect("setup installs MiniLM into public/models");
    compare_with_the_crate(&minilm.tokenizer, &minilm_dir().join("tokenizer.json"), &texts, "MiniLM");
}

/// The lstrip/rstrip and normalized flags of added tokens, which BERT's own files leave off, on an edited MiniLM file.
#[test]
fn added_token_flags_match_the_tokenizers_crate() {
    let original = std::fs::read_to_string(minilm_dir().join("tokenizer.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&original).unwrap();
    json["added_tokens"][4]["lstrip"] = true.into(); // [MASK]
    json["added_tokens"][3]["rstrip"] = true.into(); // [SEP]
    let added = serde_json::json!({"id": 30522, "content": "Hello World", "single_word": false, "lstrip": false,
        "rstrip": false, "normalized": true, "special": false});
    json["added_tokens"].as_array_mut().unwrap().push(added);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, json.to_string()).unwrap();
    let ours = TextTokenizer::from_bytes(json.to_string().as_bytes()).unwrap();
    let mut texts: Vec<String> =
        ["a  [MASK] b", "[SEP]   x", "x [SEP] [MASK]", "say HELLO world!", "hello worldly", "  [MASK]"]
            .map(String::from)
            .into();
    texts.extend(random_texts(POOL, 500));
    compare_with_the_crate(&ours, &path, &texts, "MiniLM with flags");
}
