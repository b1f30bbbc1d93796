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
use peft_lab::method::{AttachContext, MethodConfig, MethodError, SequenceClassifier, Tuner};
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

#[test]
fn config_values_out_of_range_name_the_field_and_the_range() {
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("vocab_size", 0.into(), "config.json does not parse: vocab_size is 0; it must be 1 to 1048576"),
        ("hidden_size", 0.into(), "hidden_size is 0; it must be 1 to 1048576"),
        ("hidden_size", (1u64 << 40).into(), "hidden_size is 1099511627776; it must be 1 to 1048576"),
        ("num_hidden_layers", 0.into(), "num_hidden_layers is 0; it must be 1 to 1048576"),
        ("num_attention_heads", 0.into(), "num_attention_heads is 0; it must be 1 to 1048576"),
        ("num_attention_heads", 5.into(), "hidden_size 32 is not divisible by num_attention_heads 5"),
        ("intermediate_size", 4_000_000.into(), "intermediate_size is 4000000; it must be 1 to 1048576"),
        ("max_position_embeddings", 0.into(), "max_position_embeddings is 0; it must be 1 to 1048576"),
        ("type_vocab_size", 0.into(), "type_vocab_size is 0; it must be 1 to 1048576"),
        ("hidden_dropout_prob", 1.5.into(), "hidden_dropout_prob is 1.5; a dropout probability must be in [0, 1)"),
        ("attention_probs_dropout_prob", (-0.1).into(), "attention_probs_dropout_prob is -0.1; a dropout"),
        ("hidden_dropout_prob", 1.0.into(), "hidden_dropout_prob is 1; a dropout probability must be in [0, 1)"),
        ("layer_norm_eps", 0.0.into(), "layer_norm_eps is 0; it must be above 0 and below 1"),
        ("layer_norm_eps", 2.0.into(), "layer_norm_eps is 2; it must be above 0 and below 1"),
        ("vocab_size", (-3).into(), "config.json does not parse: invalid value: integer `-3`"),
        ("hidden_size", "32".into(), "config.json does not parse: invalid type: string \"32\""),
    ];
    for (field, value, expected) in cases {
        let dir = tiny_copy();
        edit_config(dir.path(), |c| c[field] = value.clone());
        let err = load_err(dir.path());
        assert!(err.contains(expected), "{field} = {value}: expected '{expected}' in '{err}'");
    }
}

#[test]
fn a_huge_cell_is_tokenised_only_as_far_as_it_is_kept_and_counted() {
    let tokenizer = tiny_model().tokenizer;
    let huge = "good movie ".repeat(500_000);
    let short = "good movie ".repeat(20);
    let [long, kept] = [huge, short].map(|text| tokenizer.encode_all(&[text], 16).remove(0));
    assert_eq!(long.ids, kept.ids);
    assert_eq!(long.full_length, peft_lab::model::tokenizer::COUNTED_TOKENS + 2);
    assert_eq!(kept.full_length, 42);
}

#[test]
fn added_tokens_that_normalize_to_nothing_never_match() {
    let dir = tiny_copy();
    let path = dir.path().join("tokenizer.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (id, content) in [(120, "\u{1}"), (121, "\u{301}")] {
        let token = serde_json::json!({"id": id, "content": content, "normalized": true, "special": false});
        json["added_tokens"].as_array_mut().unwrap().push(token);
    }
    std::fs::write(&path, json.to_string()).unwrap();
    let tokenizer = Pretrained::from_dir(dir.path()).unwrap().tokenizer;
    let plain = tiny_model().tokenizer.encode_all(&["good movie"], 16);
    assert_eq!(tokenizer.encode_all(&["good movie"], 16), plain);
}

type JsonEdit = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn a_tokenizer_beyond_the_embedding_table_or_too_costly_is_refused() {
    let dir = tiny_copy();
    let original = std::fs::read_to_string(dir.path().join("tokenizer.json")).unwrap();
    let vocab_size = 128; // tiny-bert's config.json
    let cases: Vec<(JsonEdit, String)> =
        vec![
        (
            Box::new(|j| j["model"]["vocab"]["zzz"] = 5000.into()),
            format!("tokenizer.json has id 5000 (zzz) but config.json's vocab_size is {vocab_size}, so the embedding \
                     table has rows 0 to 127; are both files from the same model?"),
        ),
        (
            Box::new(|j| j["added_tokens"][0]["id"] = 128.into()),
            "tokenizer.json has id 128 ([PAD]) but config.json's vocab_size is 128".into(),
        ),
        (
            Box::new(|j| j["post_processor"]["special_tokens"]["[CLS]"]["ids"] = serde_json::json!([4096])),
            "tokenizer.json has id 4096 (a post_processor special token)".into(),
        ),
        (
            Box::new(|j| j["model"]["max_input_chars_per_word"] = 1_000_000_000.into()),
            "tokenizer.json: model.max_input_chars_per_word is 1000000000; at most 1000 (tokenizers' default is 100)"
                .into(),
        ),
        (
            Box::new(|j| j["post_processor"]["special_tokens"]["[CLS]"]["ids"] = serde_json::json!(vec![2; 40])),
            "tokenizer.json: post_processor puts 41 special tokens around each text; at most 16".into(),
        ),
    ];
    for (edit, expected) in cases {
        let mut json: serde_json::Value = serde_json::from_str(&original).unwrap();
        edit(&mut json);
        std::fs::write(dir.path().join("tokenizer.json"), json.to_string()).unwrap();
        let err = load_err(dir.path());
        assert!(err.starts_with(&expected), "expected '{expected}', got '{err}'");
    }
}

/// Rewrites one tensor of model.safetensors (f32) through `edit`.
fn edit_tensor(dir: &Path, key: &str, edit: impl Fn(&mut [f32])) {
    let path: PathBuf = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor(key).unwrap();
    let mut values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    edit(&mut values);
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut tensors: HashMap<String, TensorView> = st.tensors().into_iter().collect();
    tensors.insert(key.into(), TensorView::new(view.dtype(), view.shape().to_vec(), &data).unwrap());
    std::fs::write(&path, safetensors::tensor::serialize(tensors, None).unwrap()).unwrap();
}

#[test]
fn non_finite_weights_are_named_with_their_tensor() {
    for (value, shown) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf"), (f32::NEG_INFINITY, "-inf")] {
        let dir = tiny_copy();
        edit_tensor(dir.path(), "encoder.layer.1.attention.self.key.bias", |v| v[7] = value);
        assert_eq!(
            load_err(dir.path()),
            format!(
                "model.safetensors: tensor 'encoder.layer.1.attention.self.key.bias' holds {shown} at index 7; the \
                 file is damaged or was saved from a diverged run"
            )
        );
    }
}

#[test]
fn a_loss_that_overflows_before_any_update_blames_the_model_not_the_learning_rate() {
    use peft_lab::data::Example;
    use peft_lab::session::{self, HeldOut};
    let dir = tiny_copy();
    // Finite weights that overflow: every embedding 1e38, so the layer norm's variance is infinite.
    edit_tensor(dir.path(), "embeddings.word_embeddings.weight", |v| v.fill(1e38));
    let pretrained = Pretrained::from_dir(dir.path()).unwrap();
    let examples: Vec<Example> = (0..8).map(|i| Example { text: format!("good movie {i}"), label: i % 2 }).collect();
    let dataset = sentiment_dataset(examples);
    let (data, _) = session::prepare(&pretrained, &dataset, HeldOut::Split(0.25), None, 16, 1).unwrap();
    let config = peft_lab::train::TrainConfig { epochs: 1, batch_size: 4, max_length: 16, ..Default::default() };
    let result = pollster::block_on(session::run_method(
        &pretrained,
        &MethodConfig::from_name("lora").unwrap(),
        1e-3,
        &data,
        &config,
        &peft_lab::device::cpu(),
        &mut Quiet,
    ));
    let Err(err) = result else { panic!("the run did not fail") };
    let err = err.to_string();
    assert!(err.contains("before any update") && err.contains("no learning rate can fix that"), "{err}");
}

struct Quiet;

impl peft_lab::train::Host for Quiet {
    fn now(&self) -> f64 {
        0.0
    }

    fn event(&mut self, _: &str, _: &peft_lab::train::TrainEvent) -> std::ops::ControlFlow<()> {
        std::ops::ControlFlow::Continue(())
    }
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

fn attach_err(method: &dyn Tuner<SequenceClassifier>, max_length: usize) -> String {
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
        target_modules: Some(targets.iter().map(|t| t.to_string()).collect()),
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
        target_modules: Some(targets.iter().map(|t| t.to_string()).collect()),
        feedforward_modules: Some(ff.iter().map(|t| t.to_string()).collect()),
    };
    let err = attach_err(&ia3(&["k_proj"], &[]), 16);
    assert!(err.contains("match no layer") && err.contains("attention.self.key"), "{err}");
    assert!(attach_err(&ia3(&["key"], &["output.dense"]), 16).contains("not among the target modules"));
    let dora = LoraConfig { r: 0, use_dora: true, ..Default::default() };
    assert!(attach_err(&dora, 16).contains("rank r must be at least 1"));
    for alpha in [0.0, -8.0, 1e39, f64::NAN] {
        let message = attach_err(&LoraConfig { alpha, ..Default::default() }, 16);
        assert!(
            message.contains(&format!("lora_alpha = {alpha} is out of range: choose a number above 0")),
            "{message}"
        );
    }
    let dropout = LoraConfig { dropout: 1.0, ..Default::default() };
    assert!(attach_err(&dropout, 16).contains("lora_dropout = 1 is out of range: choose a probability in [0, 1)"));
    let lstm_dropout = PromptEncoderConfig { encoder_dropout: -0.1, ..PromptEncoderConfig::new(EncoderType::Lstm) };
    assert!(attach_err(&lstm_dropout, 16).contains("encoder_dropout = -0.1 is out of range"));
}

#[test]
fn a_prompt_init_text_without_tokens_is_refused() {
    let dir = tiny_copy();
    let path = dir.path().join("tokenizer.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["post_processor"] = serde_json::Value::Null;
    std::fs::write(&path, json.to_string()).unwrap();
    let pretrained = Pretrained::from_dir(dir.path()).unwrap();
    // Control characters: not blank, but the normalizer drops them all, and no special tokens are added.
    let config = PromptTuningConfig {
        prompt_tuning_init: PromptInit::Text,
        prompt_tuning_init_text: Some("\u{1}\u{2}".into()),
        ..Default::default()
    };
    let device = peft_lab::device::cpu();
    let model = pretrained.classifier(2, &device).unwrap();
    let ctx = AttachContext { device, max_length: 16, tokenizer: Some(&pretrained.tokenizer) };
    let Err(err) = config.attach(model, &ctx) else { panic!("an init text without tokens was accepted") };
    let err = err.to_string();
    assert!(err.contains("has no tokens for this model's tokenizer"), "{err}");
}

#[test]
fn method_settings_from_text_are_checked() {
    let mut lora = MethodConfig::from_name("lora").unwrap();
    assert!(lora.set("r", "16").unwrap());
    assert!(lora.set("target_modules", "query, key,value").unwrap());
    assert!(lora.set("lora_alpha", "32").unwrap());
    assert!(!lora.set("num_virtual_tokens", "4").unwrap(), "LoRA has no virtual tokens");
    let MethodConfig::Lora(c) = &lora else { panic!() };
    assert_eq!((c.r, c.alpha, c.target_modules.as_ref().map_or(0, Vec::len)), (16, 32.0, 3));
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
