//! Token ids equal Hugging Face tokenizers' for tricky strings (accents, CJK, emoji, control characters,
//! very long texts with and without truncation), on MiniLM's tokenizer.json and the tiny one.

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
        let encoded = tokenizer.encode_all(&[text], max_length).unwrap().remove(0);
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
