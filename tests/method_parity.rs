//! P-tuning, prompt tuning, IA3, DoRA (peft 0.21), Houlsby and Pfeiffer adapters (AdapterHub 1.3) and BitFit
//! against their references on the same checkpoint, inputs and trainable values (fixtures made by
//! tests/fixtures/make_method_fixtures.py). Tolerances as in parity.rs: logits and loss 1e-4 absolute,
//! gradients 1e-3 relative to the largest entry.
//!
//! Each method's own `load` puts the reference's values into the model (so the saved layout is tested too),
//! and its own `adapter_tensors`, applied to a copy of the model whose parameters hold their gradients, names
//! and lays out the gradients as the reference does.

mod common;

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use common::*;
use peft_lab::method::SequenceClassifier;
use peft_lab::method::bitfit::BitFit;
use peft_lab::method::bottleneck::BottleneckConfig;
use peft_lab::method::lora::LoraLayer;
use peft_lab::method::lora::{LoraConfig, merge};
use peft_lab::method::prompt::SoftPrompt;
use peft_lab::method::prompt::{PromptInit, PromptTuningConfig};
use peft_lab::method::prompt_encoder::PromptEncoder;
use peft_lab::method::ptuning::{EncoderType, PromptEncoderConfig};
use peft_lab::method::{AttachContext, MethodConfig, TunableModel, Tuner};
use peft_lab::method::{side, side_mut};
use peft_lab::model::{Checkpoint, Pretrained};
use peft_lab::train::cross_entropy;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

const ABS: f32 = 1e-4;
const REL: f32 = 1e-3;

/// Where the fixture's names (peft's in-memory names without `default`) differ from the saved ones.
const RENAMES: [(&str, &str); 2] = [
    ("lora_magnitude_vector.weight", "lora_magnitude_vector"),
    ("prompt_encoder.embedding.weight", "prompt_embeddings"),
];

fn saved_name(fixture_name: &str) -> String {
    RENAMES
        .iter()
        .find_map(|(from, to)| fixture_name.strip_suffix(from).map(|head| format!("{head}{to}")))
        .unwrap_or(fixture_name.into())
}

/// A safetensors file of the fixture's `<tag>.param.*` tensors (and `<tag>.prompt_embeddings`, the P-tuning
/// encoder's output) under their saved names: what the reference would have written.
fn reference_adapter(fx: &Fixture, tag: &str) -> Vec<u8> {
    let mut tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
    let bytes = |values: &[f32]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    for (name, (shape, values)) in &fx.floats {
        if let Some(param) = name.strip_prefix(&format!("{tag}.param.")) {
            tensors.entry(saved_name(param)).or_insert((shape.clone(), bytes(values)));
        }
    }
    // P-tuning saves its encoder's output, not the encoder's input table.
    if let Some((shape, values)) = fx.floats.get(&format!("{tag}.prompt_embeddings")) {
        tensors.insert("prompt_embeddings".into(), (shape.clone(), bytes(values)));
    }
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, (shape, bytes))| (name.clone(), TensorView::new(Dtype::F32, shape.clone(), bytes).unwrap()))
        .collect();
    safetensors::tensor::serialize(views, None).unwrap()
}

/// A copy of the model whose parameters hold their gradients (zeros where there is none).
fn gradients_as_model(model: &SequenceClassifier, grads: burn::tensor::Gradients) -> SequenceClassifier {
    struct Swap(GradientsParams);
    impl ModuleMapper for Swap {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let id = param.id;
            let value = self.0.get::<D>(id).unwrap_or_else(|| param.val().zeros_like());
            Param::initialized(id, value)
        }
    }
    let grads = GradientsParams::from_grads(grads, model);
    model.clone().map(&mut Swap(grads))
}

fn attach_with(
    method: &dyn Tuner<SequenceClassifier>,
    model: SequenceClassifier,
    pretrained: &Pretrained,
) -> SequenceClassifier {
    let ctx = AttachContext {
        device: model.classifier.weight.device(),
        max_length: 32,
        tokenizer: Some(&pretrained.tokenizer),
    };
    method.attach(model, &ctx).expect("method attaches")
}

/// A fresh classifier with the method attached, its trainable count checked against the reference's, and the
/// reference's values loaded through the method's own `load`.
fn reference_model(
    pretrained: &Pretrained,
    fx: &Fixture,
    tag: &str,
    method: &MethodConfig,
    labels: usize,
) -> SequenceClassifier {
    let device: Device = peft_lab::device::cpu();
    let model = pretrained.classifier_with_config(&pretrained.config.without_dropout(), labels, &device).unwrap();
    let model = attach_with(method.tuner(), model, pretrained);
    let (trainable, _) = model.parameter_counts();
    assert_eq!(
        trainable as u64,
        fx.json[format!("{tag}.nb_trainable_parameters")][0].as_u64().unwrap(),
        "{tag}: trainable"
    );
    let bytes = reference_adapter(fx, tag);
    method.tuner().load(model, &Checkpoint::parse(&bytes).unwrap()).unwrap_or_else(|e| panic!("{tag}: {e}"))
}

fn logits_and_loss(model: &SequenceClassifier, fx: &Fixture) -> (Tensor<2>, Tensor<1>) {
    let device = model.classifier.weight.device();
    let logits = model.forward(fx.ids(&device), fx.mask(&device));
    let loss = cross_entropy(logits.clone(), fx.labels(&device));
    (logits, loss)
}

/// Logits, loss and (when the fixture has them and `gradients`) the gradient of every saved tensor.
fn check(pretrained: &Pretrained, fx: &Fixture, tag: &str, method: MethodConfig, labels: usize, gradients: bool) {
    let model = reference_model(pretrained, fx, tag, &method, labels);
    let (logits, loss) = logits_and_loss(&model, fx);
    assert_close(&format!("{tag} logits"), &read(logits), fx.f(&format!("{tag}.logits")), ABS);
    assert_close(&format!("{tag} loss"), &read(loss.clone()), fx.f(&format!("{tag}.loss")), ABS);
    if !gradients || !fx.floats.keys().any(|k| k.starts_with(&format!("{tag}.grad."))) {
        return;
    }
    let grads = gradients_as_model(&model, loss.backward());
    let named = method.tuner().adapter_tensors(&grads);
    let mut checked = 0;
    let renamed: HashMap<String, &str> = RENAMES.iter().map(|(from, to)| (to.to_string(), *from)).collect();
    for tensor in named {
        let fixture_name = renamed
            .iter()
            .find_map(|(to, from)| tensor.name.strip_suffix(to.as_str()).map(|head| format!("{head}{from}")))
            .unwrap_or(tensor.name.clone());
        let (ours, reference) = (read(tensor.values), fx.f(&format!("{tag}.grad.{fixture_name}")));
        let label = format!("{tag} grad {}", tensor.name);
        // A key bias cannot change a softmax (it shifts all of a query's scores equally): its gradient is zero
        // up to rounding on both sides, so it is compared absolutely.
        if reference.iter().all(|g| g.abs() < 1e-6) {
            assert_close(&label, &ours, reference, 1e-6);
        } else {
            assert_rel_close(&label, &ours, reference, REL);
        }
        checked += 1;
    }
    let expected = fx.floats.keys().filter(|k| k.starts_with(&format!("{tag}.grad."))).count();
    assert_eq!(checked, expected, "{tag}: every reference gradient compared");
}

fn tiny_methods() -> Fixture {
    Fixture::load("methods_ref")
}

fn ptuning(encoder: EncoderType, tokens: usize, hidden: Option<usize>) -> PromptEncoderConfig {
    PromptEncoderConfig { num_virtual_tokens: tokens, encoder_hidden_size: hidden, ..PromptEncoderConfig::new(encoder) }
}

fn bottleneck(base: BottleneckConfig, reduction_factor: usize) -> MethodConfig {
    MethodConfig::Bottleneck(BottleneckConfig { reduction_factor, ..base })
}

#[test]
fn prompt_tuning_ia3_dora_adapters_and_bitfit_match_their_references_on_tiny_bert() {
    let fx = tiny_methods();
    let tiny = tiny_model();
    let cases = [
        ("prompt", MethodConfig::PromptTuning(PromptTuningConfig { num_virtual_tokens: 5, ..Default::default() })),
        ("ia3", MethodConfig::from_name("ia3").unwrap()),
        ("dora", MethodConfig::Lora(LoraConfig { r: 4, alpha: 8.0, use_dora: true, ..Default::default() })),
        ("houlsby", bottleneck(BottleneckConfig::houlsby(), 4)),
        ("pfeiffer", bottleneck(BottleneckConfig::pfeiffer(), 4)),
        ("bitfit", MethodConfig::BitFit(BitFit)),
    ];
    for (tag, method) in cases {
        check(&tiny, &fx, tag, method, 3, true);
    }
}

/// The table path: the saved encoder output reproduces the logits (as peft reloads it).
#[test]
fn p_tuning_saved_tables_reproduce_the_logits() {
    let fx = tiny_methods();
    for (tag, encoder) in [("ptuning_mlp", EncoderType::Mlp), ("ptuning_lstm", EncoderType::Lstm)] {
        // (the encoder's gradients are compared in the next test; a loaded table has no encoder)
        check(&tiny_model(), &fx, tag, MethodConfig::PTuning(ptuning(encoder, 5, Some(16))), 3, false);
    }
}

/// The encoders themselves: the MLP and the bidirectional two-layer LSTM give peft's table and gradients.
#[test]
fn p_tuning_encoders_match_peft_with_gradients() {
    let fx = tiny_methods();
    let tiny = tiny_model();
    let device: Device = peft_lab::device::cpu();
    for (tag, encoder) in [("ptuning_mlp", EncoderType::Mlp), ("ptuning_lstm", EncoderType::Lstm)] {
        let p = |name: &str| format!("{tag}.param.{name}");
        let base = classifier(&tiny, &fx, &format!("{tag}.param.base_model.classifier"), 3, &device);
        let mut model = attach_with(&ptuning(encoder, 5, Some(16)), base, &tiny);
        let prompt = side_mut::<SoftPrompt>(&mut model.sequence).unwrap();
        prompt.embedding = fx.param(&p("prompt_encoder.embedding.weight"), &device);
        let set = |linear: &mut burn::nn::Linear, key: String| {
            linear.weight = fx.linear_param(&format!("{key}.weight"), &device);
            linear.bias = Some(fx.param(&format!("{key}.bias"), &device));
        };
        match prompt.encoder.as_mut().unwrap() {
            PromptEncoder::Mlp(layers) => {
                for (linear, i) in layers.iter_mut().zip([0, 2, 4]) {
                    set(linear, p(&format!("prompt_encoder.mlp_head.{i}")));
                }
            }
            PromptEncoder::Lstm(lstm) => {
                for (l, directions) in lstm.layers.iter_mut().enumerate() {
                    for (direction, suffix) in directions.iter_mut().zip(["", "_reverse"]) {
                        let key = |w: &str| p(&format!("prompt_encoder.lstm_head.{w}_l{l}{suffix}"));
                        direction.weight_ih = fx.linear_param(&key("weight_ih"), &device);
                        direction.weight_hh = fx.linear_param(&key("weight_hh"), &device);
                        direction.bias_ih = fx.param(&key("bias_ih"), &device);
                        direction.bias_hh = fx.param(&key("bias_hh"), &device);
                    }
                }
                for (linear, i) in lstm.head.iter_mut().zip([0, 2]) {
                    set(linear, p(&format!("prompt_encoder.mlp_head.{i}")));
                }
            }
        }
        let prompt = side::<SoftPrompt>(&model.sequence).unwrap();
        assert_close(&format!("{tag} table"), &read(prompt.tokens()), fx.f(&format!("{tag}.prompt_embeddings")), ABS);
        let (logits, loss) = logits_and_loss(&model, &fx);
        assert_close(&format!("{tag} logits"), &read(logits), fx.f(&format!("{tag}.logits")), ABS);
        let grads = loss.backward();
        let grad = |param: &Param<Tensor<2>>| read(param.val().grad(&grads).unwrap().transpose());
        let grad1 = |param: &Param<Tensor<1>>| read(param.val().grad(&grads).unwrap());
        let mut pairs: Vec<(String, Vec<f32>)> =
            vec![("prompt_encoder.embedding.weight".into(), read(prompt.embedding.val().grad(&grads).unwrap()))];
        let mut linear_pairs = |linear: &burn::nn::Linear, key: String| {
            pairs.push((format!("{key}.weight"), grad(&linear.weight)));
            pairs.push((format!("{key}.bias"), grad1(linear.bias.as_ref().unwrap())));
        };
        match prompt.encoder.as_ref().unwrap() {
            PromptEncoder::Mlp(layers) => {
                for (linear, i) in layers.iter().zip([0, 2, 4]) {
                    linear_pairs(linear, format!("prompt_encoder.mlp_head.{i}"));
                }
            }
            PromptEncoder::Lstm(lstm) => {
                for (linear, i) in lstm.head.iter().zip([0, 2]) {
                    linear_pairs(linear, format!("prompt_encoder.mlp_head.{i}"));
                }
                for (l, directions) in lstm.layers.iter().enumerate() {
                    for (direction, suffix) in directions.iter().zip(["", "_reverse"]) {
                        let key = |w: &str| format!("prompt_encoder.lstm_head.{w}_l{l}{suffix}");
                        pairs.push((key("weight_ih"), grad(&direction.weight_ih)));
                        pairs.push((key("weight_hh"), grad(&direction.weight_hh)));
                        pairs.push((key("bias_ih"), grad1(&direction.bias_ih)));
                        pairs.push((key("bias_hh"), grad1(&direction.bias_hh)));
                    }
                }
            }
        }
        let expected = fx.floats.keys().filter(|k| k.starts_with(&format!("{tag}.grad.prompt_encoder."))).count();
        assert_eq!(pairs.len(), expected, "{tag}: every encoder gradient compared");
        assert_all_rel_close(&fx, &format!("{tag}.grad"), pairs, REL);
    }
}

#[test]
fn prompt_tuning_text_init_takes_the_texts_word_embeddings() {
    let fx = tiny_methods();
    let tiny = tiny_model();
    let device: Device = peft_lab::device::cpu();
    let config = PromptTuningConfig {
        num_virtual_tokens: 7,
        prompt_tuning_init: PromptInit::Text,
        prompt_tuning_init_text: Some("the movie was great".into()),
    };
    let model = attach_with(&config, tiny.classifier(3, &device).unwrap(), &tiny);
    let table = side::<SoftPrompt>(&model.sequence).unwrap().tokens();
    assert_close("TEXT init table", &read(table), fx.f("prompt_text.init_table"), 0.0);
}

#[test]
fn dora_starts_at_the_weight_norm_and_merges_like_peft() {
    let fx = tiny_methods();
    let tiny = tiny_model();
    let device: Device = peft_lab::device::cpu();
    let method = MethodConfig::Lora(LoraConfig { r: 4, alpha: 8.0, use_dora: true, ..Default::default() });
    let fresh = attach_with(method.tuner(), tiny.classifier(3, &device).unwrap(), &tiny);
    let mut magnitudes = 0;
    for (path, linear) in fresh.bert.tunable_linears() {
        if let Some(m) = side::<LoraLayer>(&linear.side).and_then(|l| l.magnitude.as_ref()) {
            let key = format!("dora.init_magnitude.base_model.model.bert.{path}");
            assert_close(&format!("{path} initial magnitude"), &read(m.val()), fx.f(&key), 1e-5);
            magnitudes += 1;
        }
    }
    assert_eq!(magnitudes, 4);
    let merged = merge(reference_model(&tiny, &fx, "dora", &method, 3));
    let weight = &merged.bert.layers[1].attention_self.value.base.weight;
    assert_close(
        "merged DoRA weight",
        &read(weight.val().transpose()),
        fx.f("dora.merged.encoder.layer.1.attention.self.value.weight"),
        ABS,
    );
    assert_close("merged DoRA logits", &read(logits_and_loss(&merged, &fx).0), fx.f("dora.merged_logits"), ABS);
}

#[test]
fn every_method_matches_its_reference_on_minilm() {
    let fx = Fixture::load("minilm_methods_ref");
    let pretrained = Pretrained::from_dir(&minilm_dir()).expect("setup installs MiniLM into public/models");
    let rf = |tag: &str| fx.json[format!("{tag}.reduction_factor")].as_u64().unwrap() as usize;
    let cases = [
        ("ptuning_mlp", MethodConfig::from_name("ptuning-mlp").unwrap()),
        ("prompt", MethodConfig::from_name("prompt").unwrap()),
        ("ia3", MethodConfig::from_name("ia3").unwrap()),
        ("dora", MethodConfig::Lora(LoraConfig { r: 2, alpha: 4.0, use_dora: true, ..Default::default() })),
        ("houlsby", bottleneck(BottleneckConfig::houlsby(), rf("houlsby"))),
        ("pfeiffer", bottleneck(BottleneckConfig::pfeiffer(), rf("pfeiffer"))),
        ("bitfit", MethodConfig::BitFit(BitFit)),
    ];
    for (tag, method) in cases {
        check(&pretrained, &fx, tag, method, 2, true);
    }
}

#[test]
fn trainable_parameter_counts_on_minilm_equal_the_references() {
    let counts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("method_counts.json")).unwrap()).unwrap();
    let pretrained = Pretrained::from_dir(&minilm_dir()).expect("setup installs MiniLM into public/models");
    let device: Device = peft_lab::device::cpu();
    let cases = [
        ("ptuning10_mlp", MethodConfig::from_name("ptuning-mlp").unwrap()),
        ("ptuning10_lstm", MethodConfig::from_name("ptuning-lstm").unwrap()),
        ("prompt10", MethodConfig::from_name("prompt").unwrap()),
        ("ia3", MethodConfig::from_name("ia3").unwrap()),
        ("dora_r8_qv", MethodConfig::Lora(LoraConfig { r: 8, alpha: 16.0, use_dora: true, ..Default::default() })),
        ("houlsby", MethodConfig::from_name("houlsby").unwrap()),
        ("pfeiffer", MethodConfig::from_name("pfeiffer").unwrap()),
        ("bitfit", MethodConfig::BitFit(BitFit)),
    ];
    for (key, method) in cases {
        let model = attach_with(method.tuner(), pretrained.classifier(2, &device).unwrap(), &pretrained);
        let (trainable, _) = model.parameter_counts();
        assert_eq!(trainable as u64, counts[key]["trainable"].as_u64().unwrap(), "{key}");
    }
}
