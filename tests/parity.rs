//! Our BERT, LoRA and prefix tuning against Hugging Face transformers 4.57 + peft 0.21 on the same checkpoint,
//! inputs and adapter weights (fixtures made by tests/fixtures/make_fixtures.py).
//! Tolerances: hidden states and logits 1e-4 absolute; gradients 1e-3 relative to the largest entry.

mod common;

use burn::module::Param;
use burn::tensor::{Device, Tensor};
use common::*;
use peft_lab::method::SequenceClassifier;
use peft_lab::method::full::Full;
use peft_lab::method::head::Head;
use peft_lab::method::lora::LoraLayer;
use peft_lab::method::lora::{LoraConfig, merge};
use peft_lab::method::prefix::PrefixConfig;
use peft_lab::method::prefix::PrefixEncoder;
use peft_lab::method::{MethodConfig, TunableModel};
use peft_lab::method::{side, side_mut};
use peft_lab::model::Pretrained;
use peft_lab::train::cross_entropy;

const ABS: f32 = 1e-4;
const REL: f32 = 1e-3;

fn device() -> Device {
    peft_lab::device::cpu()
}

fn logits_and_loss(model: &SequenceClassifier, fx: &Fixture, device: &Device) -> (Tensor<2>, Tensor<1>) {
    let logits = model.forward(fx.ids(device), fx.mask(device));
    let loss = cross_entropy(logits.clone(), fx.labels(device));
    (logits, loss)
}

fn grad_of_linear(param: &Param<Tensor<2>>, grads: &burn::tensor::Gradients) -> Vec<f32> {
    read(param.val().grad(grads).expect("gradient").transpose())
}

fn grad_of<const D: usize>(param: &Param<Tensor<D>>, grads: &burn::tensor::Gradients) -> Vec<f32> {
    read(param.val().grad(grads).expect("gradient"))
}

fn check_head_grads(model: &SequenceClassifier, grads: &burn::tensor::Gradients, fx: &Fixture, prefix: &str) {
    assert_rel_close(
        &format!("{prefix}.weight grad"),
        &grad_of_linear(&model.classifier.weight, grads),
        fx.f(&format!("{prefix}.weight")),
        REL,
    );
    assert_rel_close(
        &format!("{prefix}.bias grad"),
        &grad_of(model.classifier.bias.as_ref().unwrap(), grads),
        fx.f(&format!("{prefix}.bias")),
        REL,
    );
}

#[test]
fn tiny_bert_hidden_states_match_transformers_in_f32_f16_and_bf16() {
    let fx = Fixture::load("tiny_ref");
    let device = peft_lab::device::cpu().inner();
    for (dir, key) in [("tiny-bert", "base"), ("tiny-bert-f16", "f16"), ("tiny-bert-bf16", "bf16")] {
        let pretrained = Pretrained::from_dir(&fixtures().join(dir)).expect("loads");
        let model = classifier(&pretrained, &fx, "head.classifier", 3, &device);
        let embedded = model.bert.embeddings.forward(model.bert.embeddings.words(fx.ids(&device)), 0);
        let hidden = model.bert.encode(embedded, fx.mask(&device), None);
        assert_close(
            &format!("{dir} last_hidden_state"),
            &read(hidden.clone()),
            fx.f(&format!("{key}.last_hidden_state")),
            ABS,
        );
        assert_close(
            &format!("{dir} pooler_output"),
            &read(model.bert.pool(hidden)),
            fx.f(&format!("{key}.pooler_output")),
            ABS,
        );
    }
}

#[test]
fn head_and_full_fine_tuning_logits_loss_and_gradients_match() {
    let fx = Fixture::load("tiny_ref");
    let device = device();
    let model = classifier(&tiny_model(), &fx, "head.classifier", 3, &device);
    let (logits, loss) = logits_and_loss(&model, &fx, &device);
    assert_close("head logits", &read(logits), fx.f("head.logits"), ABS);
    assert_close("head loss", &read(loss.clone()), fx.f("head.loss"), ABS);
    let grads = loss.backward();
    check_head_grads(&model, &grads, &fx, "head.grad.classifier");
    // Full fine-tuning: base weights across the model get the reference gradient.
    let layer = &model.bert.layers[0];
    let pairs: Vec<(&str, Vec<f32>)> = vec![
        (
            "encoder.layer.0.attention.self.query.weight",
            grad_of_linear(&layer.attention_self.query.base.weight, &grads),
        ),
        (
            "encoder.layer.0.attention.self.value.bias",
            grad_of(layer.attention_self.value.base.bias.as_ref().unwrap(), &grads),
        ),
        ("encoder.layer.0.intermediate.dense.weight", grad_of_linear(&layer.intermediate.base.weight, &grads)),
        ("encoder.layer.0.output.LayerNorm.weight", grad_of(&layer.output_layer_norm.weight, &grads)),
        ("encoder.layer.1.output.dense.weight", grad_of_linear(&model.bert.layers[1].output.base.weight, &grads)),
        ("embeddings.word_embeddings.weight", grad_of(&model.bert.embeddings.word_embeddings, &grads)),
        ("embeddings.position_embeddings.weight", grad_of(&model.bert.embeddings.position_embeddings, &grads)),
        ("embeddings.LayerNorm.bias", grad_of(&model.bert.embeddings.layer_norm.bias, &grads)),
        ("pooler.dense.weight", grad_of_linear(&model.bert.pooler.base.weight, &grads)),
    ];
    assert_all_rel_close(&fx, "full.grad", pairs, REL);
}

#[test]
fn lora_logits_loss_gradients_rslora_and_merge_match_peft() {
    let fx = Fixture::load("tiny_ref");
    let device = device();
    let base = classifier(&tiny_model(), &fx, "lora.base_model.model.classifier", 3, &device);
    let config = LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.0,
        target_modules: Some(vec!["query".into(), "value".into()]),
        use_rslora: false,
        use_dora: false,
    };
    let mut model = attach(&config, base, &device);
    set_lora(&mut model, &fx, "lora", &device);
    let (trainable, _) = model.parameter_counts();
    assert_eq!(trainable, fx.json["lora.nb_trainable_parameters"][0].as_u64().unwrap() as usize);

    let (logits, loss) = logits_and_loss(&model, &fx, &device);
    assert_close("lora logits", &read(logits), fx.f("lora.logits"), ABS);
    assert_close("lora loss", &read(loss.clone()), fx.f("lora.loss"), ABS);
    let grads = loss.backward();
    check_head_grads(&model, &grads, &fx, "lora.grad.base_model.model.classifier");
    for (path, linear) in model.bert.tunable_linears() {
        if let Some(lora) = side::<LoraLayer>(&linear.side) {
            let key = format!("lora.grad.base_model.model.bert.{path}");
            assert_rel_close(
                &format!("{path} lora_A grad"),
                &grad_of_linear(&lora.lora_a, &grads),
                fx.f(&format!("{key}.lora_A.weight")),
                REL,
            );
            assert_rel_close(
                &format!("{path} lora_B grad"),
                &grad_of_linear(&lora.lora_b, &grads),
                fx.f(&format!("{key}.lora_B.weight")),
                REL,
            );
        }
    }

    let merged = merge(model);
    assert!(merged.bert.tunable_linears().iter().all(|(_, l)| side::<LoraLayer>(&l.side).is_none()));
    let weight = &merged.bert.layers[1].attention_self.value.base.weight;
    assert_close(
        "merged value weight",
        &read(weight.val().transpose()),
        fx.f("lora.merged.encoder.layer.1.attention.self.value.weight"),
        ABS,
    );
    let (logits, _) = logits_and_loss(&merged, &fx, &device);
    assert_close("merged logits", &read(logits), fx.f("lora.merged_logits"), ABS);

    let rs = LoraConfig { use_rslora: true, ..config };
    let mut model =
        attach(&rs, classifier(&tiny_model(), &fx, "lora.base_model.model.classifier", 3, &device), &device);
    set_lora(&mut model, &fx, "lora", &device);
    assert_close("rslora logits", &read(logits_and_loss(&model, &fx, &device).0), fx.f("lora_rs.logits"), ABS);
}

#[test]
fn prefix_tuning_without_projection_matches_peft() {
    let fx = Fixture::load("tiny_ref");
    let device = device();
    let base = classifier(&tiny_model(), &fx, "prefix.classifier", 3, &device);
    let mut model = attach(&PrefixConfig { num_virtual_tokens: 5, ..Default::default() }, base, &device);
    side_mut::<PrefixEncoder>(&mut model.sequence).unwrap().embedding = fx.param("prefix.prompt_embeddings", &device);
    let (trainable, _) = model.parameter_counts();
    assert_eq!(trainable, fx.json["prefix.nb_trainable_parameters"][0].as_u64().unwrap() as usize);

    let layers = side::<PrefixEncoder>(&model.sequence).unwrap().layer_prefixes(1);
    assert_close("layer 1 prefix keys", &read(layers[1].key.clone()), fx.f("prefix.layer.1.key"), 0.0);
    assert_close("layer 0 prefix values", &read(layers[0].value.clone()), fx.f("prefix.layer.0.value"), 0.0);

    let (logits, loss) = logits_and_loss(&model, &fx, &device);
    assert_close("prefix logits", &read(logits), fx.f("prefix.logits"), ABS);
    assert_close("prefix loss", &read(loss.clone()), fx.f("prefix.loss"), ABS);
    let grads = loss.backward();
    check_head_grads(&model, &grads, &fx, "prefix.grad.classifier");
    assert_rel_close(
        "prompt grad",
        &grad_of(&side::<PrefixEncoder>(&model.sequence).unwrap().embedding, &grads),
        fx.f("prefix.grad.prompt_embeddings"),
        REL,
    );
}

#[test]
fn prefix_tuning_with_projection_matches_peft() {
    let fx = Fixture::load("tiny_ref");
    let device = device();
    let base = classifier(&tiny_model(), &fx, "prefix_proj.classifier", 3, &device);
    let config = PrefixConfig { num_virtual_tokens: 5, prefix_projection: true, encoder_hidden_size: Some(16) };
    let mut model = attach(&config, base, &device);
    set_prefix_projection(&mut model, &fx, "prefix_proj", &device);
    let (trainable, _) = model.parameter_counts();
    assert_eq!(trainable, fx.json["prefix_proj.nb_trainable_parameters"][0].as_u64().unwrap() as usize);
    let prefix = side::<PrefixEncoder>(&model.sequence).unwrap();
    assert_close("projected table", &read(prefix.table()), fx.f("prefix_proj.prompt_embeddings"), ABS);

    let (logits, loss) = logits_and_loss(&model, &fx, &device);
    assert_close("prefix_proj logits", &read(logits), fx.f("prefix_proj.logits"), ABS);
    assert_close("prefix_proj loss", &read(loss.clone()), fx.f("prefix_proj.loss"), ABS);
    let grads = loss.backward();
    check_head_grads(&model, &grads, &fx, "prefix_proj.grad.classifier");
    let mlp = prefix.projection.as_ref().unwrap();
    let pairs = vec![
        ("embedding.weight", grad_of(&prefix.embedding, &grads)),
        ("transform.0.weight", grad_of_linear(&mlp.first.weight, &grads)),
        ("transform.0.bias", grad_of(mlp.first.bias.as_ref().unwrap(), &grads)),
        ("transform.2.weight", grad_of_linear(&mlp.second.weight, &grads)),
        ("transform.2.bias", grad_of(mlp.second.bias.as_ref().unwrap(), &grads)),
    ];
    assert_all_rel_close(&fx, "prefix_proj.grad", pairs, REL);
}

#[test]
fn minilm_matches_transformers_and_peft() {
    let fx = Fixture::load("minilm_ref");
    let device = peft_lab::device::cpu().inner();
    let pretrained = Pretrained::from_dir(&minilm_dir()).expect("setup installs MiniLM into public/models");
    // Our tokenizer gives the fixture's ids.
    let texts: Vec<String> =
        fx.json["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    let encoded = pretrained.tokenizer.encode_all(&texts, 512);
    for (row, enc) in fx.rows().iter().zip(&encoded) {
        let ours: Vec<i64> = enc.ids.iter().map(|&i| i as i64).collect();
        assert_eq!(ours[..], row[..ours.len()]);
    }

    let model = classifier(&pretrained, &fx, "head.classifier", 2, &device);
    let embedded = model.bert.embeddings.forward(model.bert.embeddings.words(fx.ids(&device)), 0);
    let hidden = model.bert.encode(embedded, fx.mask(&device), None);
    assert_close("MiniLM last_hidden_state", &read(hidden.clone()), fx.f("base.last_hidden_state"), ABS);
    assert_close("MiniLM pooler_output", &read(model.bert.pool(hidden)), fx.f("base.pooler_output"), ABS);
    assert_close("MiniLM head logits", &read(logits_and_loss(&model, &fx, &device).0), fx.f("head.logits"), ABS);

    let config = LoraConfig { r: 8, alpha: 16.0, ..Default::default() };
    let mut lora =
        attach(&config, classifier(&pretrained, &fx, "lora.base_model.model.classifier", 2, &device), &device);
    set_lora(&mut lora, &fx, "lora", &device);
    assert_close("MiniLM LoRA logits", &read(logits_and_loss(&lora, &fx, &device).0), fx.f("lora.logits"), ABS);

    let mut prefix =
        attach(&PrefixConfig::default(), classifier(&pretrained, &fx, "prefix.classifier", 2, &device), &device);
    side_mut::<PrefixEncoder>(&mut prefix.sequence).unwrap().embedding = fx.param("prefix.prompt_embeddings", &device);
    assert_close("MiniLM prefix logits", &read(logits_and_loss(&prefix, &fx, &device).0), fx.f("prefix.logits"), ABS);
}

#[test]
fn trainable_parameter_counts_on_minilm_equal_peft() {
    let counts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("counts.json")).unwrap()).unwrap();
    let pretrained = Pretrained::from_dir(&minilm_dir()).expect("setup installs MiniLM into public/models");
    let device = device();
    let cases = [
        ("lora_r8_qv", MethodConfig::Lora(LoraConfig { r: 8, alpha: 16.0, ..Default::default() })),
        ("prefix10", MethodConfig::Prefix(PrefixConfig::default())),
        ("prefix10_proj384", MethodConfig::Prefix(PrefixConfig { prefix_projection: true, ..Default::default() })),
        ("full", MethodConfig::Full(Full)),
        ("head_only", MethodConfig::Head(Head)),
    ];
    for (key, method) in cases {
        let model = attach(method.tuner(), pretrained.classifier(2, &device).unwrap(), &device);
        let (trainable, total) = model.parameter_counts();
        assert_eq!(trainable as u64, counts[key]["trainable"].as_u64().unwrap(), "{key}");
        // Everything else is the frozen encoder. (peft's own total counts modules_to_save's copy of the head twice.)
        let frozen = if matches!(method, MethodConfig::Full(_)) {
            0
        } else {
            counts["base_model_params"].as_u64().unwrap() as usize
        };
        assert_eq!(total - trainable, frozen, "{key}");
    }
}
