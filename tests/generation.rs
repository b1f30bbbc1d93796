//! Generation: the embedded SmolLM2-135M-Instruct (the GGUF scripts/setup.sh installs) continues prompts greedily
//! exactly as transformers does on the same file (tests/fixtures/make_smollm2_reference.py), token for token; the
//! cache changes nothing but the speed; sampling follows its seed; stop sequences, the token budget and the context
//! end generation; settings and prompts that cannot generate are refused with their reason.

mod common;

use std::path::PathBuf;

use burn::tensor::Device;
use common::fixtures;
use peft_lab::method::SidePaths;
use peft_lab::model::chat::Message;
use peft_lab::model::decoder::{CausalLm, PretrainedDecoder};
use peft_lab::model::generate::{Finish, Generation, GenerationError, GenerationSettings, Step};

fn device() -> Device {
    peft_lab::device::cpu().inner()
}

fn smollm2_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("public/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn tiny(name: &str) -> PretrainedDecoder {
    PretrainedDecoder::from_path(&fixtures().join("decoders").join(name)).expect("loads")
}

/// Every step of a generation: the tokens, the text as streamed, and why it ended.
fn run(
    model: &CausalLm<SidePaths>,
    pretrained: &PretrainedDecoder,
    prompt: &[u32],
    settings: GenerationSettings,
) -> (Vec<u32>, String, Finish) {
    let mut generation = Generation::new(model, &pretrained.tokenizer, prompt, settings, &device()).expect("starts");
    let mut text = String::new();
    loop {
        match pollster::block_on(generation.next()).expect("steps") {
            Step::Text { text: piece, .. } => text.push_str(&piece),
            Step::Finished(finish) => return (generation.generated().to_vec(), text, finish),
        }
    }
}

fn greedy(max_new_tokens: usize) -> GenerationSettings {
    GenerationSettings { max_new_tokens, ..GenerationSettings::default() }
}

#[test]
fn smollm2_continues_prompts_as_transformers_does_token_for_token() {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("decoders/smollm2_greedy.json")).expect("fixture"),
    )
    .unwrap();
    let pretrained = PretrainedDecoder::from_path(&smollm2_path()).expect("scripts/setup.sh installs SmolLM2");
    let model: CausalLm<SidePaths> = pretrained.causal_lm(&device()).expect("builds");
    let chat = pretrained.chat().expect("SmolLM2 has a ChatML template");
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as u32).collect()
    };
    for case in reference["prompts"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let text = match case["chat"].as_bool().unwrap() {
            true => chat.render(&[Message { role: "user".into(), content: prompt.into() }], true),
            false => prompt.to_string(),
        };
        let prompt_ids = pretrained.tokenizer.encode(&text);
        assert_eq!(prompt_ids, ids(&case["prompt_ids"]), "{prompt}: prompt ids");
        let new_tokens = reference["new_tokens"].as_u64().unwrap() as usize;
        let (generated, streamed, finish) = run(&model, &pretrained, &prompt_ids, greedy(new_tokens));
        assert_eq!(generated, ids(&case["generated_ids"]), "{prompt}: generated ids");
        let expected_finish = if generated.len() < new_tokens { Finish::EndToken } else { Finish::Budget };
        assert_eq!(finish, expected_finish, "{prompt}");
        // The streamed text is the decoded tokens, the end token left out.
        let reference_text = case["generated_text"].as_str().unwrap().trim_end_matches("<|im_end|>");
        assert_eq!(streamed, reference_text, "{prompt}: text");
    }
    let answer = &reference["prompts"][2];
    assert_eq!(answer["prompt"], "What is the capital of France?");
    assert!(answer["generated_text"].as_str().unwrap().contains("Paris"));
}

#[test]
fn the_cache_changes_no_token() {
    for name in ["tiny-llama", "tiny-gpt2"] {
        let pretrained = tiny(name);
        let model: CausalLm<SidePaths> = pretrained.causal_lm(&device()).unwrap();
        let prompt = pretrained.tokenizer.encode("The capital of");
        let with = run(&model, &pretrained, &prompt, greedy(24));
        let without = run(&model, &pretrained, &prompt, GenerationSettings { use_cache: false, ..greedy(24) });
        assert_eq!(with, without, "{name}");
        assert_eq!(with.0.len(), 24, "{name}: random weights rarely pick the end token");
    }
}

/// A Llama 3-style checkpoint (rotary scaling, a tokenizer that starts texts with a start token), from its folder and
/// from its GGUF file: the prompt's ids and the greedy continuation equal transformers' `tokenizer(prompt)` and
/// `generate`.
#[test]
fn a_llama3_style_model_continues_a_prompt_as_transformers_does_from_safetensors_and_gguf() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("decoders/decoders_ref.json")).unwrap()).unwrap();
    let case = &reference["tiny-llama3"];
    let expected: Vec<u32> =
        case["greedy_ids"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as u32).collect();
    for name in ["tiny-llama3", "tiny-llama3.gguf"] {
        let pretrained = tiny(name);
        let model: CausalLm<SidePaths> = pretrained.causal_lm(&device()).expect("builds");
        let prompt = pretrained.tokenizer.encode_alone(case["greedy_prompt"].as_str().unwrap());
        assert_eq!(prompt[0], 0, "{name}: the start token first");
        assert_eq!(prompt, expected[..prompt.len()], "{name}: prompt ids");
        let (generated, _, _) = run(&model, &pretrained, &prompt, greedy(expected.len() - prompt.len()));
        assert_eq!(generated, expected[prompt.len()..], "{name}: generated ids");
    }
}

#[test]
fn sampling_follows_its_seed_and_top_k_1_is_greedy() {
    let pretrained = tiny("tiny-llama");
    let model: CausalLm<SidePaths> = pretrained.causal_lm(&device()).unwrap();
    let prompt = pretrained.tokenizer.encode("To be");
    let sampled = |seed, top_k, top_p| {
        let settings = GenerationSettings { temperature: 1.0, top_k, top_p, seed, ..greedy(20) };
        run(&model, &pretrained, &prompt, settings).0
    };
    assert_eq!(sampled(7, None, None), sampled(7, None, None), "the same seed gives the same tokens");
    assert_ne!(sampled(7, None, None), sampled(8, None, None), "another seed, other tokens");
    let greedy_tokens = run(&model, &pretrained, &prompt, greedy(20)).0;
    assert_eq!(sampled(9, Some(1), None), greedy_tokens, "top-k 1 leaves only the most likely token");
    assert_eq!(sampled(9, None, Some(1e-6)), greedy_tokens, "a tiny top-p leaves only the most likely token");
}

#[test]
fn a_stop_sequence_ends_the_text_before_it() {
    let pretrained = tiny("tiny-gpt2");
    let model: CausalLm<SidePaths> = pretrained.causal_lm(&device()).unwrap();
    let prompt = pretrained.tokenizer.encode("A fox");
    let (_, full, _) = run(&model, &pretrained, &prompt, greedy(30));
    // Random weights write mostly broken bytes: the stop sequence is the first two ASCII letters in a row.
    let at = full.as_bytes().windows(2).position(|w| w.iter().all(u8::is_ascii_alphabetic)).expect("two letters");
    let stop = full[at..at + 2].to_string();
    let before = &full[..at];
    let (_, text, finish) =
        run(&model, &pretrained, &prompt, GenerationSettings { stop: vec![stop.clone()], ..greedy(30) });
    assert_eq!((text.as_str(), finish), (before, Finish::Stop), "stop {stop:?} in {full:?}");
}

#[test]
fn generation_ends_at_the_models_last_position() {
    let pretrained = tiny("tiny-llama");
    let model: CausalLm<SidePaths> = pretrained.causal_lm(&device()).unwrap();
    // 60 of the model's 64 positions: 4 tokens fit.
    let prompt: Vec<u32> = (0..60).map(|i| 10 + i % 50).collect();
    let (generated, _, finish) = run(&model, &pretrained, &prompt, greedy(100));
    assert_eq!((generated.len(), finish), (4, Finish::Context));
}

#[test]
fn prompts_and_settings_that_cannot_generate_are_refused() {
    let pretrained = tiny("tiny-llama");
    let model: CausalLm<SidePaths> = pretrained.causal_lm(&device()).unwrap();
    let refused = |prompt: &[u32], settings: GenerationSettings| {
        Generation::new(&model, &pretrained.tokenizer, prompt, settings, &device()).err().expect("refused")
    };
    let long: Vec<u32> = vec![5; 64];
    assert_eq!(
        refused(&long, greedy(1)),
        GenerationError::PromptTooLong { tokens: 64, virtual_tokens: 0, positions: 64 }
    );
    assert_eq!(
        refused(&long, greedy(1)).to_string(),
        "the prompt is 64 tokens, and the model has 64 positions; shorten it to at most 63 tokens"
    );
    assert_eq!(refused(&[], greedy(1)), GenerationError::EmptyPrompt);
    let cases = [
        (greedy(0), "the number of new tokens must be at least 1"),
        (
            GenerationSettings { temperature: -1.0, ..greedy(1) },
            "the temperature is -1; it must be 0 (greedy) or above",
        ),
        (
            GenerationSettings { temperature: f32::NAN, ..greedy(1) },
            "the temperature is NaN; it must be 0 (greedy) or above",
        ),
        (GenerationSettings { top_k: Some(0), ..greedy(1) }, "top-k is 0; it must be at least 1"),
        (GenerationSettings { top_p: Some(1.5), ..greedy(1) }, "top-p is 1.5; it must be above 0 and at most 1"),
        (GenerationSettings { top_p: Some(0.0), ..greedy(1) }, "top-p is 0; it must be above 0 and at most 1"),
        (GenerationSettings { stop: vec![String::new()], ..greedy(1) }, "a stop sequence is empty"),
    ];
    for (settings, message) in cases {
        assert_eq!(refused(&[5], settings).to_string(), message);
    }
    let error = tiny("tiny-llama").chat().expect_err("no template").to_string();
    assert!(error.ends_with("tiny-llama has no chat template, so it cannot take chat prompts"), "{error}");
}

/// The real model through both loaders: the GGUF file, and the safetensors folder transformers writes from it
/// (tests/fixtures/make_smollm2_reference.py, 538 MB, never committed; so this runs by hand: `cargo test --test
/// generation -- --ignored`). Same logits within 1e-4 on a chat prompt: the query/key rows are put back the same way.
#[test]
#[ignore = "needs target/smollm2-safetensors, written by tests/fixtures/make_smollm2_reference.py"]
fn smollm2_from_gguf_and_from_safetensors_give_the_same_logits() {
    use burn::tensor::{Int, Tensor, TensorData};
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/smollm2-safetensors");
    let gguf = PretrainedDecoder::from_path(&smollm2_path()).unwrap();
    let safetensors = PretrainedDecoder::from_path(&folder).expect("run make_smollm2_reference.py first");
    assert_eq!(safetensors.chat().unwrap(), gguf.chat().unwrap());
    let text =
        gguf.chat().unwrap().render(&[Message { role: "user".into(), content: "Name three colours.".into() }], true);
    let ids = gguf.tokenizer.encode(&text);
    assert_eq!(safetensors.tokenizer.encode(&text), ids);
    let logits = |pretrained: &PretrainedDecoder| {
        let model: CausalLm<SidePaths> = pretrained.causal_lm(&device()).unwrap();
        let n = ids.len();
        let input =
            Tensor::<2, Int>::from_data(TensorData::new(ids.iter().map(|&i| i as i64).collect(), [1, n]), &device());
        common::read(model.forward(input, Tensor::ones([1, n], &device())))
    };
    common::assert_close("SmolLM2 logits, GGUF vs safetensors", &logits(&gguf), &logits(&safetensors), 1e-4);
}
