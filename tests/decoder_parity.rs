//! Our Llama and GPT-2 against transformers 4.57 on tiny random checkpoints (tests/fixtures/make_decoder_fixtures.py):
//! logits of a right-padded batch and the causal-LM loss, from safetensors and from the GGUF files llama.cpp's converter
//! would write for the same weights (Llama: rows of the query and key projections permuted; GPT-2: `Conv1D` weights
//! transposed).
//! LoRA as peft puts it on decoders (`q_proj`/`v_proj` on Llama, `c_attn` on GPT-2 with `fan_in_fan_out`): logits,
//! loss and the gradients of every A and B; IA3 with peft's default targets for each, and prefix tuning (with and
//! without its MLP, sized by the key/value heads under grouped-query attention, as peft does) and prompt tuning (the
//! loss over the virtual tokens too, as peft computes it), likewise; then eight AdamW steps (weight decay 0.01, eps
//! 1e-8, gradients clipped to norm 1, learning rate 1e-2) on the same batch: losses within 1e-4, final A and B within
//! 1e-3 relative.
//! Tolerances: logits 1e-4 absolute, losses 1e-5 absolute, gradients 1e-3 relative to the largest entry (as the
//! encoder's).

mod common;

use burn::optim::GradientsParams;
use burn::tensor::Device;
use common::*;
use peft_lab::data::lm::LmExample;
use peft_lab::method::Attached;
use peft_lab::method::ia3::{Ia3Config, Ia3Scale};
use peft_lab::method::lora::{LoraConfig, LoraLayer};
use peft_lab::method::prefix::{PrefixConfig, PrefixEncoder};
use peft_lab::method::prompt::SoftPrompt;
use peft_lab::method::{SidePaths, side, side_mut};
use peft_lab::model::decoder::{CausalLm, DecoderConfig, PretrainedDecoder, Targets};
use peft_lab::model::gpt2::Gpt2Config;
use peft_lab::model::{Projections, TunableModel};
use peft_lab::train::lm::evaluate_lm;
use peft_lab::train::optim;

const ABS: f32 = 1e-4;
const LOSS_ABS: f32 = 1e-5;
const REL: f32 = 1e-3;

fn device() -> Device {
    peft_lab::device::cpu().inner()
}

fn decoder(path: &str) -> PretrainedDecoder {
    PretrainedDecoder::from_path(&fixtures().join("decoders").join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Our loss on the fixture's batch (its labels, -100 on padding).
fn loss_of(model: &CausalLm<SidePaths>, fx: &Fixture, device: &Device) -> burn::tensor::Tensor<1> {
    model.loss(fx.int_tensor("input_ids", device), fx.tensor_of_ints("attention_mask", device), &fx.targets())
}

/// Our logits and loss for the fixture's batch match transformers' for `tag`.
fn check(name: &str, model: &CausalLm<SidePaths>, fx: &Fixture, tag: &str, device: &Device) {
    let logits = model.forward(fx.int_tensor("input_ids", device), fx.tensor_of_ints("attention_mask", device));
    assert_eq!(logits.dims().to_vec(), fx.shape(&format!("{tag}.logits")), "{name} logits shape");
    assert_close(&format!("{name} logits"), &read(logits.clone()), fx.f(&format!("{tag}.logits")), ABS);
    let loss = loss_of(model, fx, device);
    assert_close(&format!("{name} loss"), &read(loss), fx.f(&format!("{tag}.loss")), LOSS_ABS);
}

#[test]
fn llama_with_grouped_query_attention_matches_transformers_untied_and_tied() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = device();
    for tag in ["tiny-llama", "tiny-llama-tied"] {
        let model = decoder(tag).causal_lm(&device).expect("builds");
        check(tag, &model, &fx, tag, &device);
    }
}

#[test]
fn llama_from_gguf_gives_the_logits_of_the_same_weights_from_safetensors() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = device();
    let pretrained = decoder("tiny-llama.gguf");
    assert_eq!(
        pretrained.config,
        decoder("tiny-llama").config,
        "the GGUF metadata gives config.json's hyper-parameters"
    );
    let model = pretrained.causal_lm(&device).expect("builds");
    check("tiny-llama.gguf", &model, &fx, "tiny-llama", &device);
}

#[test]
fn llama3_rotary_scaling_matches_transformers_from_config_json_and_from_gguf() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = device();
    let (folder, gguf) = (decoder("tiny-llama3"), decoder("tiny-llama3.gguf"));
    let factors = |d: &PretrainedDecoder| match &d.config {
        DecoderConfig::Llama(config) => config.rope_factors.clone().expect("scaled"),
        DecoderConfig::Gpt2(_) => panic!("a Llama"),
    };
    // One frequency kept, one blended, two divided by the factor (8).
    let (ours, llama_cpp) = (factors(&folder), factors(&gguf));
    assert_eq!((ours[0], ours[2], ours[3]), (1.0, 8.0, 8.0));
    assert!(ours[1] > 1.0 && ours[1] < 8.0, "{ours:?}");
    assert_close("rope factors", &ours, &llama_cpp, 1e-6);
    for (name, pretrained) in [("tiny-llama3", &folder), ("tiny-llama3.gguf", &gguf)] {
        check(name, &pretrained.causal_lm(&device).expect("builds"), &fx, "tiny-llama3", &device);
    }
}

#[test]
fn rope_type_default_is_no_scaling_as_in_transformers() {
    let dir = fixtures().join("decoders/tiny-llama");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    config["rope_scaling"] = serde_json::json!({"rope_type": "default"});
    let DecoderConfig::Llama(parsed) = DecoderConfig::parse(config).expect("parses") else { panic!("a Llama") };
    assert_eq!(parsed.rope_factors, None);
}

/// A batch with nothing to learn has a zero loss that still goes backward (a fresh zero would have no tape).
#[test]
fn a_batch_with_nothing_to_learn_has_zero_loss_and_a_backward_pass() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = peft_lab::device::cpu();
    let model: CausalLm<SidePaths> = decoder("tiny-llama").causal_lm(&device).expect("builds");
    let ids = fx.int_tensor("input_ids", &device);
    let loss = model.loss(ids, fx.tensor_of_ints("attention_mask", &device), &Targets::default());
    assert_eq!(read(loss.clone()), vec![0.0]);
    let _gradients = loss.backward();
}

#[test]
fn gpt2_matches_transformers() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = device();
    let model = decoder("tiny-gpt2").causal_lm(&device).expect("builds");
    check("tiny-gpt2", &model, &fx, "tiny-gpt2", &device);
}

#[test]
fn gpt2_from_gguf_gives_the_logits_of_the_same_weights_from_safetensors() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = device();
    let (pretrained, folder) = (decoder("tiny-gpt2.gguf"), decoder("tiny-gpt2"));
    let (DecoderConfig::Gpt2(gguf), DecoderConfig::Gpt2(json)) = (&pretrained.config, &folder.config) else {
        panic!("both are GPT-2")
    };
    // config.json leaves n_inner to its default, 4 x n_embd; the GGUF file writes it out.
    assert_eq!(Gpt2Config { n_inner: json.n_inner.or(Some(json.inner())), ..json.clone() }, *gguf);
    let text = "The capital of France is Paris. <|im_start|>user";
    assert_eq!(pretrained.tokenizer.encode(text), folder.tokenizer.encode(text), "the same tokenizer");
    let model = pretrained.causal_lm(&device).expect("builds");
    check("tiny-gpt2.gguf", &model, &fx, "tiny-gpt2", &device);
}

/// Decoder checkpoints this engine cannot run are refused with the reason, before any weight is read.
#[test]
fn decoder_configs_that_cannot_run_are_refused_with_their_reason() {
    let dir = fixtures().join("decoders/tiny-llama");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).unwrap();
    let with = |key: &str, value: serde_json::Value| {
        let mut changed = config.clone();
        changed[key] = value;
        changed.to_string()
    };
    let cases = [
        (with("model_type", "mistral".into()), "config.json has model_type \"mistral\"; supported decoders"),
        (with("attention_bias", true.into()), "config.json sets attention_bias"),
        (
            with("rope_scaling", serde_json::json!({"rope_type": "yarn", "factor": 32.0})),
            "config.json has rope_scaling {\"rope_type\":\"yarn\",\"factor\":32.0}",
        ),
        (
            with("rope_scaling", serde_json::json!({"rope_type": "llama3", "factor": 32.0})),
            "rope_scaling needs 'low_freq_factor', a positive number, for rope_type \"llama3\"",
        ),
        (with("hidden_act", "gelu".into()), "hidden_act \"gelu\"; supported: Llama-family"),
        (with("num_key_value_heads", 3.into()), "num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
        (with("vocab_size", 300.into()), "tokenizer.json has 320 tokens but config.json has rows for 300"),
        (with("rms_norm_eps", 0.into()), "rms_norm_eps is 0; it must be above 0 and below 1"),
        (with("head_dim", 7.into()), "the head width is 7; rotary embeddings need an even one"),
        ("{".into(), "config.json does not parse"),
    ];
    for (config, expected) in cases {
        let error = PretrainedDecoder::from_bytes("tiny", config.as_bytes(), weights.clone(), &tokenizer)
            .err()
            .unwrap_or_else(|| panic!("accepted: {config}"))
            .to_string();
        assert!(error.contains(expected), "{error}\n  expected: {expected}");
    }
    let gpt2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("decoders/tiny-gpt2/config.json")).unwrap()).unwrap();
    for (key, value, expected) in [
        ("scale_attn_by_inverse_layer_idx", true, "sets scale_attn_by_inverse_layer_idx to true"),
        ("scale_attn_weights", false, "sets scale_attn_weights to false"),
    ] {
        let mut changed = gpt2.clone();
        changed[key] = value.into();
        let error = PretrainedDecoder::from_bytes("gpt2", changed.to_string().as_bytes(), weights.clone(), &tokenizer)
            .err()
            .expect("refused")
            .to_string();
        assert!(error.contains(expected), "{error}");
    }
}

/// Weights that do not fit the config name the tensor, when the model is built.
#[test]
fn weights_that_do_not_fit_the_config_name_the_tensor() {
    let dir = fixtures().join("decoders/tiny-llama");
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let wider = config.replace("\"intermediate_size\": 56", "\"intermediate_size\": 64");
    let error = PretrainedDecoder::from_bytes("tiny", wider.as_bytes(), weights.clone(), &tokenizer)
        .unwrap()
        .causal_lm::<SidePaths>(&device())
        .expect_err("refused")
        .to_string();
    assert!(error.contains("'model.layers.0.mlp.gate_proj.weight' has shape [56, 32], expected [64, 32]"), "{error}");
    let tied = config.replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true");
    let untied_weights = std::fs::read(fixtures().join("decoders/tiny-llama-tied/model.safetensors")).unwrap();
    let untied = config.clone();
    assert!(
        PretrainedDecoder::from_bytes("tied", tied.as_bytes(), weights, &tokenizer)
            .unwrap()
            .causal_lm::<SidePaths>(&device())
            .is_ok()
    );
    let error = PretrainedDecoder::from_bytes("untied", untied.as_bytes(), untied_weights, &tokenizer)
        .unwrap()
        .causal_lm::<SidePaths>(&device())
        .expect_err("refused")
        .to_string();
    assert_eq!(error, "model.safetensors has no tensor 'lm_head.weight'");
}

/// `tag`'s decoder, frozen, dropout off (as the references run), on `device`.
fn frozen_without_dropout(tag: &str, device: &Device) -> CausalLm<SidePaths> {
    let pretrained = decoder(tag);
    let config = pretrained.config.without_dropout();
    pretrained.causal_lm_with_config(&config, device).unwrap().freeze_base()
}

/// `tag`'s decoder with peft's LoRA on `targets`, A and B set to the fixture's (B is not zero, so that every gradient
/// is), dropout off, on the autodiff `device`.
fn lora_model(fx: &Fixture, tag: &str, targets: &[&str], device: &Device) -> CausalLm<SidePaths> {
    let meta = &fx.json[format!("{tag}.lora")];
    let config = LoraConfig {
        r: meta["r"].as_u64().unwrap() as usize,
        alpha: meta["lora_alpha"].as_f64().unwrap(),
        target_modules: Some(targets.iter().map(|t| t.to_string()).collect()),
        ..LoraConfig::default()
    };
    let mut model = frozen_without_dropout(tag, device);
    config.inject_into(&mut model, device).expect("targets match");
    let mut adapted = Vec::new();
    for (path, linear) in model.projections_mut() {
        if let Some(lora) = side_mut::<LoraLayer>(&mut linear.side) {
            lora.lora_a = fx.linear_param(&format!("{tag}.lora.{path}.lora_A"), device);
            lora.lora_b = fx.linear_param(&format!("{tag}.lora.{path}.lora_B"), device);
            adapted.push(path);
        }
    }
    let expected: Vec<String> = meta["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str().unwrap().strip_suffix(".lora_A").map(String::from))
        .collect();
    assert_eq!(adapted, expected, "{tag}: the projections peft adapts");
    model
}

const LORA_CASES: [(&str, &[&str]); 2] = [("tiny-llama", &["q_proj", "v_proj"]), ("tiny-gpt2", &["c_attn"])];

/// Llama only: GPT-2's first gradient has an entry of 4e-8 among entries of 0.25 (a 1e-6 relative error is 2.5e-7
/// there), and Adam's first step, g / (|g| + 1e-8), turns that rounding into a step of up to the learning rate, which
/// both sides take differently (the losses drift apart by 4e-3 over eight steps). Its gradients are compared above.
#[test]
fn lora_steps_on_llama_match_torch_adamw() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = peft_lab::device::cpu();
    for (tag, targets) in &LORA_CASES[..1] {
        let mut model = lora_model(&fx, tag, targets, &device);
        let mut optimizer = optim::AdamW::new(0.01);
        let mut losses = Vec::new();
        for _ in 0..8 {
            let loss = loss_of(&model, &fx, &device);
            losses.push(read(loss.clone())[0]);
            let grads = optim::clip_global_norm(&model, GradientsParams::from_grads(loss.backward(), &model), 1.0);
            model = optimizer.step(1e-2, model, grads);
        }
        let reference: Vec<f32> = fx.json[format!("{tag}.lora")]["trajectory_losses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_f64().unwrap() as f32)
            .collect();
        assert_close(&format!("{tag} LoRA losses over 8 steps"), &losses, &reference, 1e-4);
        for (path, linear) in model.projections() {
            let Some(lora) = side::<LoraLayer>(&linear.side) else { continue };
            for (name, param) in [("lora_A", &lora.lora_a), ("lora_B", &lora.lora_b)] {
                let key = format!("{tag}.lora.final.{path}.{name}");
                assert_rel_close(&key, &read(param.val().transpose()), fx.f(&key), REL);
            }
        }
    }
}

#[test]
fn lora_on_decoders_matches_peft_logits_loss_and_gradients() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = peft_lab::device::cpu();
    for (tag, targets) in LORA_CASES {
        let model = lora_model(&fx, tag, targets, &device);
        check(&format!("{tag} LoRA"), &model, &fx, &format!("{tag}.lora"), &device);
        let grads = loss_of(&model, &fx, &device).backward();
        for (path, linear) in model.projections() {
            let Some(lora) = side::<LoraLayer>(&linear.side) else { continue };
            for (name, param) in [("lora_A", &lora.lora_a), ("lora_B", &lora.lora_b)] {
                let grad = param.val().grad(&grads).expect("trainable").transpose();
                let key = format!("{tag}.lora.{path}.{name}.grad");
                assert_rel_close(&key, &read(grad), fx.f(&key), REL);
            }
        }
        assert_eq!(
            model.projections()[0].1.base.weight.val().grad(&grads).map(|_| ()),
            None,
            "{tag}: the base is frozen"
        );
    }
}

/// Held-out loss and perplexity over examples, batched differently from the reference's one batch: each token counts
/// once, so the figure is transformers' loss over the three texts.
#[test]
fn held_out_loss_counts_each_token_once_whatever_the_batches() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = peft_lab::device::cpu();
    let model = decoder("tiny-llama").causal_lm::<SidePaths>(&device).unwrap();
    let ids = &fx.ints["input_ids"];
    let mask = &fx.ints["attention_mask"].1;
    let labels = &fx.ints["labels"].1;
    let width = ids.0[1];
    let examples: Vec<LmExample> = (0..ids.0[0])
        .map(|row| {
            let length = mask[row * width..(row + 1) * width].iter().sum::<i64>() as usize;
            let at = row * width;
            LmExample {
                ids: ids.1[at..at + length].iter().map(|&i| i as u32).collect(),
                labels: labels[at..at + length].to_vec(),
            }
        })
        .collect();
    let reference = fx.f("tiny-llama.loss")[0] as f64;
    for batch_size in [1, 2, 3] {
        let metrics = pollster::block_on(evaluate_lm(&model, &examples, 0, batch_size)).unwrap();
        assert!((metrics.loss - reference).abs() < 1e-5, "batches of {batch_size}: {} vs {reference}", metrics.loss);
        assert!((metrics.perplexity / reference.exp() - 1.0).abs() < 1e-5, "perplexity {}", metrics.perplexity);
        assert_eq!(metrics.tokens, examples.iter().map(|e| e.learned_tokens(false)).sum::<usize>());
    }
}

/// peft's IA3 with its default targets for each architecture (Llama: k_proj, v_proj and down_proj, the last on its
/// input; GPT-2: c_attn and mlp.c_proj, the last on its input), vectors set to the fixture's.
#[test]
fn ia3_on_decoders_matches_peft_logits_loss_and_gradients() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = peft_lab::device::cpu();
    for tag in ["tiny-llama", "tiny-gpt2"] {
        let meta = &fx.json[format!("{tag}.ia3")];
        let names = |key: &str| -> Vec<String> {
            meta[key].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
        };
        let config =
            Ia3Config { target_modules: Some(names("targets")), feedforward_modules: Some(names("feedforward")) };
        let mut model = frozen_without_dropout(tag, &device);
        config.inject_into(&mut model, &device).expect("targets match");
        let mut adapted = Vec::new();
        for (path, linear) in model.projections_mut() {
            if let Some(ia3) = side_mut::<Ia3Scale>(&mut linear.side) {
                let key = format!("{tag}.ia3.{path}.ia3_l");
                let n = ia3.scale.dims()[0];
                assert_eq!(fx.shape(&key), if ia3.on_input { [1, n] } else { [n, 1] }, "{key}");
                ia3.scale = burn::module::Param::from_tensor(fx.tensor::<2>(&key, &device).reshape([n]));
                adapted.push(format!("{path}.ia3_l"));
            }
        }
        let mut expected = names("tensors");
        adapted.sort();
        expected.sort();
        assert_eq!(adapted, expected, "{tag}: the projections peft adapts");
        check(&format!("{tag} IA3"), &model, &fx, &format!("{tag}.ia3"), &device);
        let grads = loss_of(&model, &fx, &device).backward();
        for (path, linear) in model.projections() {
            let Some(ia3) = side::<Ia3Scale>(&linear.side) else { continue };
            let key = format!("{tag}.ia3.{path}.ia3_l.grad");
            assert_rel_close(&key, &read(ia3.scale.val().grad(&grads).expect("trainable")), fx.f(&key), REL);
        }
    }
}

/// peft's prefix tuning (with its MLP) and P-tuning v2 (without) on each decoder: the encoder's parameters set to the
/// fixture's, every layer's keys and values before the text, the text's positions after them.
#[test]
fn prefix_tuning_on_decoders_matches_peft_logits_loss_and_gradients() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = peft_lab::device::cpu();
    for tag in ["tiny-llama", "tiny-gpt2"] {
        for (kind, projection) in [("prefix", true), ("ptuning_v2", false)] {
            let key = format!("{tag}.{kind}");
            let meta = &fx.json[&key];
            let config = PrefixConfig {
                num_virtual_tokens: meta["num_virtual_tokens"].as_u64().unwrap() as usize,
                prefix_projection: projection,
                encoder_hidden_size: None,
            };
            let mut model = frozen_without_dropout(tag, &device);
            let mut encoder = config.encoder(model.prefix_shape(), model.max_positions(), 16, &device).expect("fits");
            let tensor = |name: &str| format!("{key}.prompt_encoder.{name}");
            assert_eq!(encoder.embedding.dims().to_vec(), fx.shape(&tensor("embedding.weight")), "{key}");
            encoder.embedding = fx.param(&tensor("embedding.weight"), &device);
            if let Some(mlp) = &mut encoder.projection {
                for (linear, index) in [(&mut mlp.first, 0), (&mut mlp.second, 2)] {
                    linear.weight = fx.linear_param(&tensor(&format!("transform.{index}.weight")), &device);
                    linear.bias = Some(fx.param(&tensor(&format!("transform.{index}.bias")), &device));
                }
            }
            model.sequence = Some(encoder.into_side());
            check(&key, &model, &fx, &key, &device);
            let grads = loss_of(&model, &fx, &device).backward();
            let encoder = side::<PrefixEncoder>(&model.sequence).expect("attached");
            let mut compared =
                vec![("embedding.weight".to_string(), read(encoder.embedding.val().grad(&grads).unwrap()))];
            if let Some(mlp) = &encoder.projection {
                for (linear, index) in [(&mlp.first, 0), (&mlp.second, 2)] {
                    let weight = linear.weight.val().grad(&grads).unwrap().transpose();
                    compared.push((format!("transform.{index}.weight"), read(weight)));
                    let bias = linear.bias.as_ref().unwrap().val().grad(&grads).unwrap();
                    compared.push((format!("transform.{index}.bias"), read(bias)));
                }
            }
            for (name, grad) in compared {
                let grad_key = format!("{}.grad", tensor(&name));
                assert_rel_close(&grad_key, &grad, fx.f(&grad_key), REL);
            }
        }
    }
}

/// peft's prompt tuning on each decoder: the virtual tokens' table set to the fixture's; the text's logits, the loss as
/// peft computes it over the virtual tokens too (the last of them predicts the text's first token), and the table's
/// gradient.
#[test]
fn prompt_tuning_on_decoders_matches_peft_logits_loss_and_gradient() {
    let fx = Fixture::load("decoders/decoders_ref");
    let device = peft_lab::device::cpu();
    for tag in ["tiny-llama", "tiny-gpt2"] {
        let key = format!("{tag}.prompt");
        let table = format!("{key}.prompt_encoder.embedding.weight");
        let mut model = frozen_without_dropout(tag, &device);
        model.sequence = Some(SoftPrompt { embedding: fx.param(&table, &device), encoder: None }.into_side());
        let (ids, mask) = (fx.int_tensor("input_ids", &device), fx.tensor_of_ints("attention_mask", &device));
        let logits = model.forward(ids.clone(), mask.clone());
        assert_close(&format!("{key} logits"), &read(logits), fx.f(&format!("{key}.logits")), ABS);
        let loss = model.loss(ids, mask, &fx.targets());
        assert_close(&format!("{key} loss"), &read(loss.clone()), fx.f(&format!("{key}.loss")), LOSS_ABS);
        let grads = loss.backward();
        let prompt = side::<SoftPrompt>(&model.sequence).expect("attached");
        let grad_key = format!("{table}.grad");
        assert_rel_close(&grad_key, &read(prompt.embedding.val().grad(&grads).unwrap()), fx.f(&grad_key), REL);
    }
}

/// The names a target list can use, for every architecture: the path inside a layer, or below the base model's module
/// outside the layers (what "names available" lists when targets match nothing).
#[test]
fn target_names_are_paths_inside_a_layer_or_below_the_base_model() {
    let device = device();
    let bert = tiny_model().classifier::<SidePaths>(2, &device).unwrap();
    assert_eq!(
        bert.target_names(),
        [
            "attention.output.dense",
            "attention.self.key",
            "attention.self.query",
            "attention.self.value",
            "intermediate.dense",
            "output.dense",
            "pooler.dense"
        ]
    );
    let llama = decoder("tiny-llama").causal_lm::<SidePaths>(&device).unwrap();
    assert_eq!(
        llama.target_names(),
        [
            "mlp.down_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "self_attn.k_proj",
            "self_attn.o_proj",
            "self_attn.q_proj",
            "self_attn.v_proj"
        ]
    );
    let gpt2 = decoder("tiny-gpt2").causal_lm::<SidePaths>(&device).unwrap();
    assert_eq!(gpt2.target_names(), ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]);
}
