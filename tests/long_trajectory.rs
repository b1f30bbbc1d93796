//! Whole training runs on MiniLM against transformers + peft, step for step: peft-lab's own loop (`train::train`:
//! data pipeline, batch order, ragged last batches, warm-up and decay, AdamW, clipping, per-epoch validation) from
//! the reference's initial tensors, dropout off, on a 6-class imbalanced task. Fixtures and their exact recipe:
//! tests/fixtures/make_long_trajectory.py. Eight steps on the tiny model (tests/trajectory.rs) could not see a
//! schedule or data-order difference; a hundred steps on the real model can.

mod common;

use std::ops::ControlFlow;

use common::*;
use peft_lab::data::Dataset;
use peft_lab::method::MethodConfig;
use peft_lab::model::{Checkpoint, Pretrained, Weights};
use peft_lab::train::{EvalMetrics, Host, PreparedData, RunSpec, TrainConfig, TrainEvent, train};
use serde_json::{Value, json};

/// Records what the loop reports.
#[derive(Default)]
struct Recorder {
    losses: Vec<f32>,
    learning_rates: Vec<f64>,
    evaluations: Vec<(usize, EvalMetrics)>,
}

impl Host for Recorder {
    fn now(&self) -> f64 {
        0.0
    }

    fn event(&mut self, _method: &str, event: &TrainEvent) -> ControlFlow<()> {
        match event {
            TrainEvent::Step { loss, learning_rate, .. } => {
                self.losses.push(*loss);
                self.learning_rates.push(*learning_rate);
            }
            TrainEvent::Evaluated { step, metrics, .. } => self.evaluations.push((*step, metrics.clone())),
            TrainEvent::Started { .. } | TrainEvent::Resumed { .. } | TrainEvent::LmEvaluated { .. } => {}
        }
        ControlFlow::Continue(())
    }
}

/// The fixture's rows of public/data, as a JSON file would bring them to `peft-lab train`.
fn dataset(selection: &Value, split: &str) -> Dataset {
    let mut files = std::collections::HashMap::new();
    let mut rows = Vec::new();
    for class in selection.as_array().expect("selection") {
        let source = class["source"].as_str().unwrap();
        let file: &Value = files.entry(source).or_insert_with(|| {
            let path = format!("{}/public/data/{source}.json", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_slice(&std::fs::read(path).expect("public/data (scripts/setup.sh installs it)")).unwrap()
        });
        for i in class[split].as_array().unwrap() {
            let row = &file[i.as_u64().unwrap() as usize];
            rows.push(json!({"text": row["text"], "label": class["label"]}));
        }
    }
    let bytes = serde_json::to_vec(&rows).unwrap();
    Dataset::from_bytes(&format!("{split}.json"), &bytes, None, None, false).expect("fixture data parses")
}

fn train_config(settings: &Value) -> TrainConfig {
    TrainConfig {
        epochs: settings["epochs"].as_u64().unwrap() as usize,
        max_steps: None,
        batch_size: settings["batch_size"].as_u64().unwrap() as usize,
        max_length: settings["max_length"].as_u64().unwrap() as usize,
        weight_decay: settings["weight_decay"].as_f64().unwrap(),
        warmup_ratio: settings["warmup_ratio"].as_f64().unwrap(),
        max_grad_norm: settings["max_grad_norm"].as_f64().unwrap(),
        seed: settings["seed"].as_u64().unwrap(),
        // The reference replays the permutation cut in order.
        group_by_length: false,
    }
}

fn method_config(spec: &Value) -> MethodConfig {
    let mut method = MethodConfig::from_name(spec["kind"].as_str().unwrap()).unwrap();
    for (key, value) in spec.as_object().unwrap().iter().filter(|(k, _)| *k != "kind") {
        let text = match value {
            Value::Array(items) => items.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>().join(","),
            other => other.to_string(),
        };
        assert!(method.set(key, &text).unwrap(), "setting {key}");
    }
    method
}

/// Trains run `tag` from its initial tensors and checks every step's loss and learning rate, each epoch's
/// validation loss and accuracy, and the final tensors against the reference.
fn replay(tag: &str, loss_tol: f32, final_tol: f32) {
    let fx: Value = serde_json::from_slice(&std::fs::read(fixtures().join("long_trajectory.json")).unwrap()).unwrap();
    let run = &fx["runs"][tag];
    let config = train_config(&fx["train"]);
    let train_set = dataset(&fx["selection"], "train");
    let val = train_set.align_labels(dataset(&fx["selection"], "val"), "validation").unwrap();
    let labels: Vec<String> = serde_json::from_value(fx["labels"].clone()).unwrap();
    assert_eq!(train_set.labels, labels, "label ids as the reference's");
    let pretrained = Pretrained::from_dir(&minilm_dir()).expect("MiniLM (scripts/setup.sh installs it)");
    let (data, _) = PreparedData::tokenize(
        &pretrained.tokenizer,
        &train_set.examples,
        &val,
        &[],
        labels.clone(),
        config.max_length,
    );

    let device = peft_lab::device::cpu();
    let method = method_config(&run["method"]);
    let model = pretrained.classifier_with_config(&pretrained.config.without_dropout(), labels.len(), &device).unwrap();
    let model = attach(method.tuner(), model, &device);
    let init = std::fs::read(fixtures().join(format!("long_trajectory_{tag}_init.safetensors"))).unwrap();
    let model = method.tuner().load(model, &Checkpoint::parse_adapter(&init).unwrap()).unwrap();

    let mut host = Recorder::default();
    let lr = run["learning_rate"].as_f64().unwrap();
    let spec = RunSpec { method: &method, learning_rate: lr, config: &config, name: tag.to_string() };
    let trained =
        pollster::block_on(train(model, &data, pretrained.tokenizer.pad_id(), &spec, &mut host)).expect("trains");

    let steps = run["steps"].as_array().unwrap();
    assert_eq!(host.losses.len(), steps.len(), "{tag}: number of steps");
    let reference_lr: Vec<f64> = steps.iter().map(|s| s["lr"].as_f64().unwrap()).collect();
    for (step, (ours, theirs)) in host.learning_rates.iter().zip(&reference_lr).enumerate() {
        assert!(
            (ours - theirs).abs() <= 1e-9 * lr,
            "{tag}: learning rate at step {} is {ours}, peft's {theirs}",
            step + 1
        );
    }
    let reference_loss: Vec<f32> = steps.iter().map(|s| s["loss"].as_f64().unwrap() as f32).collect();
    let worst = host
        .losses
        .iter()
        .zip(&reference_loss)
        .enumerate()
        .map(|(i, (a, b))| (i + 1, (a - b).abs()))
        .fold((0, 0.0f32), |w, d| if d.1 > w.1 { d } else { w });
    eprintln!("{tag}: {} steps, largest loss difference {:.2e} at step {}", steps.len(), worst.1, worst.0);
    assert!(worst.1 <= loss_tol, "{tag}: loss at step {} differs by {:e} (> {loss_tol:e})", worst.0, worst.1);

    let epochs = run["epochs"].as_array().unwrap();
    assert_eq!(host.evaluations.len(), epochs.len(), "{tag}: evaluations");
    for ((step, ours), theirs) in host.evaluations.iter().zip(epochs) {
        assert_eq!(*step as u64, theirs["step"].as_u64().unwrap());
        let loss = theirs["loss"].as_f64().unwrap();
        assert!((ours.loss - loss).abs() <= loss_tol as f64, "{tag}: val loss at step {step}: {} vs {loss}", ours.loss);
        let accuracy = theirs["accuracy"].as_f64().unwrap();
        assert!(
            (ours.accuracy - accuracy).abs() < 1e-9,
            "{tag}: val accuracy at step {step}: {} vs {accuracy}",
            ours.accuracy
        );
    }

    let final_bytes = std::fs::read(fixtures().join(format!("long_trajectory_{tag}_final.safetensors"))).unwrap();
    let reference = Checkpoint::parse_adapter(&final_bytes).unwrap();
    let tensors = method.tuner().adapter_tensors(&trained.model);
    assert!(!tensors.is_empty());
    for tensor in tensors {
        let theirs = reference.values(&tensor.name, &tensor.shape).unwrap();
        assert_rel_close(&format!("{tag}: final {}", tensor.name), &read(tensor.values), &theirs, final_tol);
    }
}

#[test]
fn lora_run_matches_peft_step_for_step() {
    replay("lora", 1e-4, 1e-3);
}

#[test]
fn prompt_tuning_run_matches_peft_step_for_step() {
    replay("prompt", 1e-4, 1e-3);
}
