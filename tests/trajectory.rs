//! Eight optimiser steps against torch's: AdamW (weight decay 0.01, eps 1e-8), global-norm clipping at 1.0, constant
//! learning rate 1e-2, dropout off, the same batch each step, from the same initial weights (fixtures made by
//! tests/fixtures/make_fixtures.py). Losses match within 1e-4 and the final weights within 1e-3 relative, so the
//! optimiser, clipping and weight decay are peft's, not only the forward and backward passes.

mod common;

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use common::*;
use peft_lab::method::SequenceClassifier;
use peft_lab::method::lora::LoraConfig;
use peft_lab::method::lora::LoraLayer;
use peft_lab::method::prefix::PrefixConfig;
use peft_lab::method::prefix::PrefixEncoder;
use peft_lab::method::side;
use peft_lab::train::{cross_entropy, optim};

const STEPS: usize = 8;

/// Runs the steps on the tiny_ref batch; returns the loss before each update.
fn run(mut model: SequenceClassifier, fx: &Fixture, device: &Device) -> (Vec<f32>, SequenceClassifier) {
    let mut optimizer = optim::AdamW::new(0.01);
    let mut losses = Vec::new();
    for _ in 0..STEPS {
        let loss = cross_entropy(model.forward(fx.ids(device), fx.mask(device)), fx.labels(device));
        losses.push(read(loss.clone())[0]);
        let grads = optim::clip_global_norm(&model, GradientsParams::from_grads(loss.backward(), &model), 1.0);
        model = optimizer.step(1e-2, model, grads);
    }
    (losses, model)
}

fn linear(param: &Param<Tensor<2>>) -> Vec<f32> {
    read(param.val().transpose())
}

#[test]
fn lora_steps_match_torch_adamw() {
    let fx = Fixture::load("tiny_ref");
    let traj = Fixture::load("trajectory_ref");
    let device = peft_lab::device::cpu();
    let base = classifier(&tiny_model(), &fx, "lora.base_model.model.classifier", 3, &device);
    let mut model = attach(&LoraConfig { r: 4, alpha: 8.0, ..Default::default() }, base, &device);
    set_lora(&mut model, &fx, "lora", &device);
    let (losses, model) = run(model, &fx, &device);
    assert_close("lora losses", &losses, traj.f("traj.lora.losses"), 1e-4);
    let mut pairs = vec![("classifier.weight".to_string(), linear(&model.classifier.weight))];
    for (path, layer) in model.bert.tunable_linears() {
        if let Some(lora) = side::<LoraLayer>(&layer.side) {
            pairs.push((format!("bert.{path}.lora_A.weight"), linear(&lora.lora_a)));
            pairs.push((format!("bert.{path}.lora_B.weight"), linear(&lora.lora_b)));
        }
    }
    assert_eq!(pairs.len(), 9, "classifier and four LoRA pairs");
    assert_all_rel_close(&traj, "traj.lora.final.base_model.model", pairs, 1e-3);
}

#[test]
fn prefix_projection_steps_match_torch_adamw() {
    let fx = Fixture::load("tiny_ref");
    let traj = Fixture::load("trajectory_ref");
    let device = peft_lab::device::cpu();
    let base = classifier(&tiny_model(), &fx, "prefix_proj.classifier", 3, &device);
    let config = PrefixConfig { num_virtual_tokens: 5, prefix_projection: true, encoder_hidden_size: Some(16) };
    let mut model = attach(&config, base, &device);
    set_prefix_projection(&mut model, &fx, "prefix_proj", &device);
    let (losses, model) = run(model, &fx, &device);
    assert_close("prefix_proj losses", &losses, traj.f("traj.prefix_proj.losses"), 1e-4);
    let prefix = side::<PrefixEncoder>(&model.sequence).unwrap();
    let mlp = prefix.projection.as_ref().unwrap();
    let pairs = vec![
        ("embedding.weight", read(prefix.embedding.val())),
        ("transform.0.weight", linear(&mlp.first.weight)),
        ("transform.2.weight", linear(&mlp.second.weight)),
        ("classifier.weight", linear(&model.classifier.weight)),
    ];
    assert_all_rel_close(&traj, "traj.prefix_proj.final", pairs, 1e-3);
}
