//! Every card of the catalog on the tiny Llama and GPT-2 decoders, through the same `Tuner` the classifier uses: each
//! method attaches, one optimiser step moves only its own tensors, and what it saves loads into a freshly attached
//! model with the trained model's logits; or it is refused with a message saying why (the head-only baseline and
//! bottleneck adapters on both, BitFit on Llama, which has no biases).

mod common;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use common::*;
use peft_lab::method::{AttachContext, CausalLm, SidePaths, TunableModel, catalog};
use peft_lab::model::Checkpoint;
use peft_lab::model::decoder::PretrainedDecoder;
use peft_lab::share::peft::write_safetensors;
use peft_lab::train::optim;

fn decoder(path: &str) -> PretrainedDecoder {
    PretrainedDecoder::from_path(&fixtures().join("decoders").join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The refusal expected for a card on an architecture, if any.
fn refusal(key: &str, arch: &str) -> Option<&'static str> {
    match (key, arch) {
        ("head", _) => Some("trains a classification head, and this model has none of its own"),
        ("houlsby" | "pfeiffer", _) => Some("this model has no such sites"),
        ("bitfit", "tiny-llama") => Some("BitFit trains the bias terms, and this model has none"),
        _ => None,
    }
}

/// The key one of the method's saved tensors must have on each architecture.
fn expected_key(key: &str, arch: &str) -> Option<&'static str> {
    Some(match (key, arch) {
        ("lora" | "dora", "tiny-llama") => "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
        ("lora" | "dora", _) => "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight",
        ("ia3", "tiny-llama") => "base_model.model.model.layers.1.mlp.down_proj.ia3_l",
        ("ia3", _) => "base_model.model.transformer.h.1.mlp.c_proj.ia3_l",
        ("prefix" | "ptuning-v2" | "prompt" | "ptuning-mlp" | "ptuning-lstm", _) => "prompt_embeddings",
        ("bitfit", _) => "transformer.h.0.attn.c_attn.bias",
        ("full", "tiny-llama") => "model.layers.0.self_attn.q_proj.weight",
        ("full", _) => "transformer.h.0.attn.c_attn.weight",
        _ => return None,
    })
}

fn logits(model: &CausalLm, fx: &Fixture, device: &Device) -> Vec<f32> {
    read(model.valid().forward(fx.int_tensor("input_ids", device), fx.tensor_of_ints("attention_mask", device)))
}

#[test]
fn every_method_trains_saves_and_loads_on_decoders_or_says_why_not() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = peft_lab::device::cpu();
    let inner = device.clone().inner();
    for arch in ["tiny-llama", "tiny-gpt2"] {
        let pretrained = decoder(arch);
        for entry in catalog() {
            let name = format!("{} on {arch}", entry.key);
            let tuner = entry.config.tuner::<CausalLm>();
            let ctx = AttachContext { device: device.clone(), max_length: 16, tokenizer: None };
            let fresh = || {
                device.seed(7);
                tuner.attach(pretrained.causal_lm(&device).expect("builds"), &ctx)
            };
            let model = match (fresh(), refusal(entry.key, arch)) {
                (Err(e), Some(reason)) => {
                    assert!(e.to_string().contains(reason), "{name}: {e}");
                    continue;
                }
                (Err(e), None) => panic!("{name} refused: {e}"),
                (Ok(_), Some(reason)) => panic!("{name} attached; expected '{reason}'"),
                (Ok(model), None) => model,
            };
            let base = pretrained.causal_lm::<SidePaths>(&device).expect("builds");
            let base_total = base.parameter_counts().1;
            let (trainable, total) = model.parameter_counts();
            assert!(trainable > 0, "{name}: nothing trains");
            match entry.key {
                "full" => assert_eq!((trainable, total), (base_total, base_total), "{name}"),
                "bitfit" => {
                    let biases: usize = base
                        .base_tensors()
                        .iter()
                        .filter(|t| t.name.ends_with(".bias"))
                        .map(|t| t.values.dims()[0])
                        .sum();
                    assert_eq!((trainable, total), (biases, base_total), "{name}");
                }
                _ => assert_eq!(total - trainable, base_total, "{name}: the whole base is frozen, the method adds"),
            }
            let before = logits(&model, &fx, &inner);

            let ids = fx.int_tensor("input_ids", &device);
            let loss = model.loss(ids, fx.tensor_of_ints("attention_mask", &device), &fx.targets());
            assert!(read(loss.clone())[0].is_finite(), "{name}: loss");
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let model = optim::AdamW::new(0.0).step(1e-2, model, grads);
            let trained = logits(&model, &fx, &inner);
            let moved = before.iter().zip(&trained).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(moved > 1e-4, "{name}: one step moved the logits by {moved}");

            let tensors = tuner.adapter_tensors(&model.valid());
            let names: Vec<String> = tensors.iter().map(|t| t.name.clone()).collect();
            if let Some(key) = expected_key(entry.key, arch) {
                assert!(names.iter().any(|n| n == key), "{name}: no {key} among {names:?}");
            }
            let bytes = pollster::block_on(write_safetensors(tensors)).expect("writes");
            let adapter = Checkpoint::parse_adapter(&bytes).expect("parses");
            let loaded =
                tuner.load(fresh().expect("attaches again"), &adapter).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_close(&format!("{name} logits after loading"), &logits(&loaded, &fx, &inner), &trained, 1e-5);
        }
    }
}
