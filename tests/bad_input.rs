//! Every broken model file and bad method setting gives a clear error naming what is wrong, never a panic.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::*;
use peft_lab::method::bottleneck::BottleneckConfig;
use peft_lab::method::ia3::Ia3Config;
use peft_lab::method::lora::LoraConfig;
use peft_lab::method::prefix::PrefixConfig;
use peft_lab::method::prompt::{PromptInit, PromptTuningConfig};
use peft_lab::method::ptuning::{EncoderType, PromptEncoderConfig};
use peft_lab::method::{AttachContext, Method, MethodConfig, MethodError};
use peft_lab::model::Pretrained;
use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

/// A copy of tiny-bert in a fresh directory, for breaking.
fn tiny_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixtures().join("tiny-bert").join(f), dir.path().join(f)).unwrap();
    }
    dir
}

fn load_err(dir: &Path) -> String {
    match Pretrained::from_dir(dir)
        .and_then(|p| p.classifier::<peft_lab::method::SidePaths>(2, &peft_lab::device::cpu().inner()).map(|_| ()))
    {
        Ok(()) => panic!("broken model in {} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(path, config.to_string()).unwrap();
}

/// Rewrites model.safetensors keeping only the tensors `keep` accepts.
fn rewrite_weights(dir: &Path, keep: impl Fn(&str) -> bool) {
    let path: PathBuf = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let kept: HashMap<String, TensorView> = st.tensors().into_iter().filter(|(name, _)| keep(name)).collect();
    std::fs::write(&path, safetensors::tensor::serialize(kept, None).unwrap()).unwrap();
}

#[test]
fn missing_files_name_the_path() {
    let dir = tiny_copy();
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let err = load_err(dir.path());
    assert!(err.starts_with("cannot read") && err.contains("config.json"), "{err}");
}

#[test]
fn unsupported_and_malformed_configs_say_what_is_supported() {
    let dir = tiny_copy();
    edit_config(dir.path(), |c| c["model_type"] = "gpt2".into());
    let err = load_err(dir.path());
    assert!(err.contains("model_type \"gpt2\"") && err.contains("supported: model_type \"bert\""), "{err}");

    edit_config(dir.path(), |c| {
        c["model_type"] = "bert".into();
        c["hidden_act"] = "swish".into();
    });
    assert!(load_err(dir.path()).contains("hidden_act \"swish\""));

    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    assert!(load_err(dir.path()).starts_with("config.json does not parse"));

    edit_config_raw(dir.path(), r#"{"model_type": "bert", "hidden_size": 32}"#);
    assert!(load_err(dir.path()).contains("missing field"), "{}", load_err(dir.path()));
}

fn edit_config_raw(dir: &Path, text: &str) {
    std::fs::write(dir.join("config.json"), text).unwrap();
}

#[test]
fn truncated_or_foreign_weights_are_refused() {
    let dir = tiny_copy();
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(dir.path());
    assert!(err.contains("not a valid safetensors file") && err.contains("truncated"), "{err}");
    std::fs::write(&path, b"PK\x03\x04 a zip, not safetensors").unwrap();
    assert!(load_err(dir.path()).contains("not a valid safetensors file"));
}

#[test]
fn a_missing_tensor_is_named() {
    let dir = tiny_copy();
    rewrite_weights(dir.path(), |name| name != "encoder.layer.1.output.dense.weight");
    let err = load_err(dir.path());
    assert!(err.contains("no tensor 'encoder.layer.1.output.dense.weight'"), "{err}");
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named_with_both_shapes() {
    let dir = tiny_copy();
    edit_config(dir.path(), |c| c["intermediate_size"] = 48.into());
    let err = load_err(dir.path());
    assert_eq!(
        err,
        "tensor 'encoder.layer.0.intermediate.dense.weight' has shape [64, 32], expected [48, 32] from config.json"
    );
}

#[test]
fn a_broken_tokenizer_is_refused() {
    let dir = tiny_copy();
    let original = std::fs::read_to_string(dir.path().join("tokenizer.json")).unwrap();
    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut json: serde_json::Value = serde_json::from_str(&original).unwrap();
        edit(&mut json);
        json.to_string()
    };
    let supported = "peft-lab reads BERT WordPiece tokenizers (BertNormalizer, BertPreTokenizer, WordPiece, \
                     TemplateProcessing or BertProcessing)";
    let cases = [
        (r#"{"version": "1.0", "model": {"type": "Nope"}}"#.to_string(), format!("model.type is 'Nope'; {supported}")),
        (
            "{\"version\": \"1.0\", \"mod".to_string(),
            "does not parse: EOF while parsing a string at line 1 column 23".into(),
        ),
        (edited(&|j| j["model"]["type"] = "BPE".into()), format!("model.type is 'BPE'; {supported}")),
        (
            edited(&|j| j["normalizer"] = serde_json::json!({"type": "NFKC"})),
            format!("normalizer.type is 'NFKC'; {supported}"),
        ),
        (edited(&|j| j["pre_tokenizer"] = serde_json::Value::Null), format!("pre_tokenizer is null; {supported}")),
        (
            edited(&|j| j["model"]["unk_token"] = "<unk>".into()),
            "the unknown token '<unk>' is not in model.vocab".into(),
        ),
        (
            edited(&|j| j["model"]["vocab"] = serde_json::json!(["a", "b"])),
            "model does not parse: invalid type: sequence, expected a map".into(),
        ),
        (
            edited(&|j| j["post_processor"]["special_tokens"] = serde_json::json!({})),
            "post_processor.single names '[CLS]', which special_tokens lacks".into(),
        ),
        (
            edited(&|j| j["added_tokens"][1]["single_word"] = true.into()),
            "added token '[UNK]' is single_word, which peft-lab does not support".into(),
        ),
    ];
    for (file, message) in cases {
        std::fs::write(dir.path().join("tokenizer.json"), &file).unwrap();
        assert_eq!(load_err(dir.path()), format!("tokenizer.json: {message}"));
    }
}

fn attach_err(method: &dyn Method, max_length: usize) -> String {
    let device = peft_lab::device::cpu();
    let model = tiny_model().classifier(2, &device).unwrap();
    match method.attach(model, &AttachContext { device, max_length, tokenizer: None }) {
        Err(e @ MethodError::Invalid(_)) => e.to_string(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("bad configuration accepted"),
    }
}

#[test]
fn bad_method_settings_name_the_valid_range() {
    let lora = |r: usize, targets: &[&str]| LoraConfig {
        r,
        target_modules: targets.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    };
    assert!(attach_err(&lora(0, &["query"]), 16).contains("rank r must be at least 1"));
    assert!(attach_err(&lora(33, &["query"]), 16).contains("choose 1..=32"));
    let err = attach_err(&lora(4, &["q_proj"]), 16);
    assert!(err.contains("match no layer") && err.contains("query") && err.contains("dense"), "{err}");
    let prefix = |n: usize| PrefixConfig { num_virtual_tokens: n, ..Default::default() };
    assert!(attach_err(&prefix(0), 16).contains("at least 1 virtual token"));
    // tiny-bert has 64 positions: 60 virtual tokens + 16 real ones do not fit.
    assert!(attach_err(&prefix(60), 16).contains("use at most 48 virtual tokens"));

    // The input-level methods have the same budget (their tokens are part of the sequence).
    let prompt = |n: usize| PromptTuningConfig { num_virtual_tokens: n, ..Default::default() };
    assert!(attach_err(&prompt(0), 16).contains("prompt tuning needs at least 1 virtual token"));
    assert!(attach_err(&prompt(49), 16).contains("use at most 48 virtual tokens"));
    let text = PromptTuningConfig { prompt_tuning_init: PromptInit::Text, ..Default::default() };
    assert!(attach_err(&text, 16).contains("needs prompt_tuning_init_text"));
    let ptuning = |n: usize, hidden: Option<usize>| PromptEncoderConfig {
        num_virtual_tokens: n,
        encoder_hidden_size: hidden,
        ..PromptEncoderConfig::new(EncoderType::Lstm)
    };
    assert!(attach_err(&ptuning(0, None), 16).contains("P-tuning needs at least 1 virtual token"));
    assert!(attach_err(&ptuning(100, None), 16).contains("use at most 48 virtual tokens"));
    assert!(attach_err(&ptuning(4, Some(0)), 16).contains("encoder_hidden_size is 0; choose 1..=128"));
    // A huge width (from --set or a link) is refused before anything is allocated.
    assert!(attach_err(&ptuning(4, Some(usize::MAX / 4)), 16).contains("choose 1..=128 (4 × the model's hidden size)"));
    let deep = PromptEncoderConfig { encoder_num_layers: 1000, ..ptuning(4, None) };
    assert!(attach_err(&deep, 16).contains("encoder_num_layers is 1000; choose 1..=8"));
    let prefix = PrefixConfig { prefix_projection: true, encoder_hidden_size: Some(1 << 40), ..Default::default() };
    assert!(attach_err(&prefix, 16).contains("prefix tuning encoder_hidden_size is 1099511627776; choose 1..=128"));

    let adapter = |rf: usize, act: &str| BottleneckConfig {
        reduction_factor: rf,
        non_linearity: act.into(),
        ..BottleneckConfig::houlsby()
    };
    assert!(attach_err(&adapter(0, "swish"), 16).contains("choose 1..=32"));
    assert!(attach_err(&adapter(64, "swish"), 16).contains("choose 1..=32"));
    assert!(attach_err(&adapter(16, "tanh"), 16).contains("choose relu, swish or gelu"));

    let ia3 = |targets: &[&str], ff: &[&str]| Ia3Config {
        target_modules: targets.iter().map(|t| t.to_string()).collect(),
        feedforward_modules: ff.iter().map(|t| t.to_string()).collect(),
    };
    let err = attach_err(&ia3(&["k_proj"], &[]), 16);
    assert!(err.contains("match no layer") && err.contains("attention.self.key"), "{err}");
    assert!(attach_err(&ia3(&["key"], &["output.dense"]), 16).contains("not among the target modules"));
    let dora = LoraConfig { r: 0, use_dora: true, ..Default::default() };
    assert!(attach_err(&dora, 16).contains("rank r must be at least 1"));
    let dropout = LoraConfig { dropout: 1.0, ..Default::default() };
    assert!(attach_err(&dropout, 16).contains("lora_dropout = 1 is out of range: choose a probability in [0, 1)"));
    let lstm_dropout = PromptEncoderConfig { encoder_dropout: -0.1, ..PromptEncoderConfig::new(EncoderType::Lstm) };
    assert!(attach_err(&lstm_dropout, 16).contains("encoder_dropout = -0.1 is out of range"));
}

#[test]
fn method_settings_from_text_are_checked() {
    let mut lora = MethodConfig::from_name("lora").unwrap();
    assert!(lora.set("r", "16").unwrap());
    assert!(lora.set("target_modules", "query, key,value").unwrap());
    assert!(lora.set("lora_alpha", "32").unwrap());
    assert!(!lora.set("num_virtual_tokens", "4").unwrap(), "LoRA has no virtual tokens");
    let MethodConfig::Lora(c) = &lora else { panic!() };
    assert_eq!((c.r, c.alpha, c.target_modules.len()), (16, 32.0, 3));
    let err = lora.set("r", "-1").unwrap_err().to_string();
    assert!(err.contains("r=-1 does not fit lora r16"), "{err}");
    let mut prompt = MethodConfig::from_name("prompt").unwrap();
    assert!(prompt.set("prompt_tuning_init", "TEXT").unwrap());
    assert!(prompt.set("prompt_tuning_init_text", "is this review positive?").unwrap());
    assert!(prompt.set("prompt_tuning_init", "SOMETIMES").unwrap_err().to_string().contains("unknown variant"));
    // Text that reads as a number is still text where the setting is text.
    assert!(prompt.set("prompt_tuning_init_text", "2024").unwrap());
    let MethodConfig::PromptTuning(c) = &prompt else { panic!() };
    assert_eq!(c.prompt_tuning_init_text.as_deref(), Some("2024"));
}
