//! Decoder adapters in Python peft's format, both ways (tests/fixtures/make_decoder_adapters.py): each folder peft
//! saved (LoRA, DoRA, IA3, prefix tuning with its MLP and prompt tuning on the tiny Llama; LoRA with `fan_in_fan_out` and
//! P-tuning on the tiny GPT-2) opens in our engine with peft's logits; exported again, our files hold peft's tensors
//! (names, shapes, values) and peft's settings, so that peft reads ours as it reads its own.

mod common;

use common::*;
use peft_lab::model::decoder::PretrainedDecoder;
use peft_lab::session::open::open_decoder_files;
use peft_lab::share::merged::export_merged_decoder;
use peft_lab::share::peft;
use safetensors::SafeTensors;

const CASES: [&str; 7] = [
    "tiny-llama-lora",
    "tiny-llama-ia3",
    "tiny-llama-prefix",
    "tiny-llama-prompt",
    "tiny-gpt2-lora",
    "tiny-gpt2-ptuning",
    "tiny-llama-dora",
];

/// The settings peft reads back that both files must agree on, where peft's has them.
const SETTINGS: [&str; 19] = [
    "peft_type",
    "task_type",
    "r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "feedforward_modules",
    "fan_in_fan_out",
    "use_dora",
    "use_rslora",
    "modules_to_save",
    "num_virtual_tokens",
    "token_dim",
    "num_attention_heads",
    "num_layers",
    "num_transformer_submodules",
    "prefix_projection",
    "encoder_hidden_size",
    "encoder_reparameterization_type",
];

/// A list setting as a sorted list (peft saves module sets in any order).
fn normalised(value: &serde_json::Value) -> serde_json::Value {
    match value.as_array() {
        Some(items) => {
            let mut items = items.clone();
            items.sort_by_key(|v| v.to_string());
            serde_json::Value::Array(items)
        }
        None => value.clone(),
    }
}

#[test]
fn peft_decoder_adapters_open_with_peft_logits_and_export_back_as_peft_saved_them() {
    let fx = Fixture::load("decoders/adapters_ref");
    let batch = Fixture::load("decoders/decoders_ref");
    let device = peft_lab::device::cpu().inner();
    for case in CASES {
        let model_dir = fx.json[case]["model"].as_str().unwrap();
        let pretrained = PretrainedDecoder::from_path(&fixtures().join("decoders").join(model_dir)).expect("loads");
        let dir = fixtures().join("decoders/adapters").join(case);
        let config_json = std::fs::read_to_string(dir.join("adapter_config.json")).unwrap();
        let weights = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
        let (model, info) = open_decoder_files(&pretrained, &config_json, &weights, None, &device)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let logits =
            model.forward(batch.int_tensor("input_ids", &device), batch.tensor_of_ints("attention_mask", &device));
        assert_close(&format!("{case} logits"), &read(logits), fx.f(&format!("{case}.logits")), 1e-4);

        let ours = pollster::block_on(peft::export(&info.method, &model, &info)).expect("exports");
        let (theirs, mine) =
            (SafeTensors::deserialize(&weights).unwrap(), SafeTensors::deserialize(&ours.weights).unwrap());
        let mut names: Vec<String> = theirs.names().into_iter().map(String::from).collect();
        let mut our_names: Vec<String> = mine.names().into_iter().map(String::from).collect();
        names.sort();
        our_names.sort();
        assert_eq!(our_names, names, "{case}: tensor names");
        for name in &names {
            let (a, b) = (theirs.tensor(name).unwrap(), mine.tensor(name).unwrap());
            assert_eq!(b.shape(), a.shape(), "{case}: {name} shape");
            assert_eq!(b.data(), a.data(), "{case}: {name} values");
        }
        let (theirs, mine): (serde_json::Value, serde_json::Value) =
            (serde_json::from_str(&config_json).unwrap(), serde_json::from_str(&ours.config_json).unwrap());
        for key in SETTINGS.iter().filter(|key| theirs.get(**key).is_some()) {
            assert_eq!(normalised(&mine[*key]), normalised(&theirs[*key]), "{case}: {key}");
        }
    }
}

#[test]
fn a_classifier_adapter_on_a_decoder_is_refused_with_the_reason() {
    let pretrained = PretrainedDecoder::from_path(&fixtures().join("decoders/tiny-llama")).expect("loads");
    let dir = fixtures().join("decoders/adapters/tiny-llama-lora");
    let config = std::fs::read_to_string(dir.join("adapter_config.json")).unwrap();
    let weights = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    let device = peft_lab::device::cpu();
    let classifier = config.replace("\"CAUSAL_LM\"", "\"SEQ_CLS\"");
    let Err(err) = open_decoder_files(&pretrained, &classifier, &weights, None, &device) else { panic!("accepted") };
    assert!(
        err.to_string()
            .contains("task_type SEQ_CLS: this model takes CAUSAL_LM adapters; a SEQ_CLS adapter goes on a classifier"),
        "{err}"
    );
    let gpt2 = PretrainedDecoder::from_path(&fixtures().join("decoders/tiny-gpt2")).expect("loads");
    let Err(err) = open_decoder_files(&gpt2, &config, &weights, None, &device) else { panic!("accepted") };
    assert!(err.to_string().contains("match no layer of this model"), "{err}");
}

/// LoRA merged into the weights (`peft-lab merge`'s model.safetensors) gives peft's logits for the adapter, on Llama
/// and on GPT-2 (whose `Conv1D` weights are stored [in, out]).
#[test]
fn lora_merged_into_decoder_weights_gives_peft_logits() {
    let fx = Fixture::load("decoders/adapters_ref");
    let batch = Fixture::load("decoders/decoders_ref");
    let device = peft_lab::device::cpu().inner();
    for case in ["tiny-llama-lora", "tiny-gpt2-lora"] {
        let folder = fixtures().join("decoders").join(fx.json[case]["model"].as_str().unwrap());
        let pretrained = PretrainedDecoder::from_path(&folder).expect("loads");
        let dir = fixtures().join("decoders/adapters").join(case);
        let config_json = std::fs::read_to_string(dir.join("adapter_config.json")).unwrap();
        let weights = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
        let (model, _) = open_decoder_files(&pretrained, &config_json, &weights, None, &device).expect("opens");
        let merged = pollster::block_on(export_merged_decoder(model)).expect("merges");
        let read = |file: &str| std::fs::read(folder.join(file)).unwrap();
        let reloaded = PretrainedDecoder::from_bytes(case, &read("config.json"), merged, &read("tokenizer.json"))
            .expect("the merged weights load as a checkpoint");
        let model: peft_lab::method::CausalLm = reloaded.causal_lm(&device).expect("builds");
        let logits =
            model.forward(batch.int_tensor("input_ids", &device), batch.tensor_of_ints("attention_mask", &device));
        assert_close(&format!("{case} merged"), &common::read(logits), fx.f(&format!("{case}.logits")), 1e-4);
    }
}
