//! Shared helpers for the integration tests: reading reference fixtures and comparing tensors.
#![allow(dead_code)]

pub mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::tensor::{Device, Int, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use peft_lab::data::{Columns, Dataset, Example};
use peft_lab::method::SequenceClassifier;
use peft_lab::method::lora::LoraLayer;
use peft_lab::method::prefix::PrefixEncoder;
use peft_lab::method::side_mut;
use peft_lab::method::{AttachContext, Tuner};
use peft_lab::model::Pretrained;
use peft_lab::model::load::transpose;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture file: tensors by name (f32 values or i64 values) plus the json beside it.
pub struct Fixture {
    pub floats: HashMap<String, (Vec<usize>, Vec<f32>)>,
    pub ints: HashMap<String, (Vec<usize>, Vec<i64>)>,
    pub json: serde_json::Value,
}

impl Fixture {
    pub fn load(stem: &str) -> Self {
        let bytes = std::fs::read(fixtures().join(format!("{stem}.safetensors"))).expect("fixture safetensors");
        let st = SafeTensors::deserialize(&bytes).expect("valid fixture");
        let (mut floats, mut ints) = (HashMap::new(), HashMap::new());
        for (name, view) in st.tensors() {
            let shape = view.shape().to_vec();
            let data = view.data();
            match view.dtype() {
                Dtype::F32 => {
                    floats.insert(
                        name,
                        (shape, data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()),
                    );
                }
                Dtype::I64 => {
                    ints.insert(
                        name,
                        (shape, data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()),
                    );
                }
                other => panic!("unexpected dtype {other:?} in fixture"),
            }
        }
        let json = serde_json::from_str(
            &std::fs::read_to_string(fixtures().join(format!("{stem}.json"))).expect("fixture json"),
        )
        .expect("json");
        Self { floats, ints, json }
    }

    pub fn f(&self, name: &str) -> &[f32] {
        &self.floats.get(name).unwrap_or_else(|| panic!("fixture has no tensor {name}")).1
    }

    pub fn shape(&self, name: &str) -> &[usize] {
        &self.floats.get(name).unwrap_or_else(|| panic!("fixture has no tensor {name}")).0
    }

    pub fn tensor<const D: usize>(&self, name: &str, device: &Device) -> Tensor<D> {
        let (shape, values) = self.floats.get(name).unwrap_or_else(|| panic!("fixture has no tensor {name}"));
        Tensor::from_data(TensorData::new(values.clone(), shape.clone()), device)
    }

    /// A torch [out, in] weight as a trainable burn [in, out] parameter.
    pub fn linear_param(&self, name: &str, device: &Device) -> Param<Tensor<2>> {
        let (shape, values) = self.floats.get(name).unwrap_or_else(|| panic!("fixture has no tensor {name}"));
        let data = TensorData::new(transpose(values, shape[0], shape[1]), [shape[1], shape[0]]);
        Param::from_tensor(Tensor::from_data(data, device))
    }

    pub fn param<const D: usize>(&self, name: &str, device: &Device) -> Param<Tensor<D>> {
        Param::from_tensor(self.tensor(name, device))
    }

    pub fn ids(&self, device: &Device) -> Tensor<2, Int> {
        let (shape, values) = &self.ints["input_ids"];
        Tensor::from_data(TensorData::new(values.clone(), shape.clone()), device)
    }

    pub fn mask(&self, device: &Device) -> Tensor<2> {
        self.tensor_of_ints("attention_mask", device)
    }

    /// An integer tensor of the fixture (a mask) as floats.
    pub fn tensor_of_ints<const D: usize>(&self, name: &str, device: &Device) -> Tensor<D> {
        let (shape, values) = self.ints.get(name).unwrap_or_else(|| panic!("fixture has no tensor {name}"));
        let floats: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        Tensor::from_data(TensorData::new(floats, shape.clone()), device)
    }

    pub fn labels(&self, device: &Device) -> Tensor<1, Int> {
        let (shape, values) = &self.ints["labels"];
        Tensor::from_data(TensorData::new(values.clone(), shape.clone()), device)
    }

    pub fn int_tensor<const D: usize>(&self, name: &str, device: &Device) -> Tensor<D, Int> {
        let (shape, values) = self.ints.get(name).unwrap_or_else(|| panic!("fixture has no tensor {name}"));
        Tensor::from_data(TensorData::new(values.clone(), shape.clone()), device)
    }

    /// The learned `labels` (not -100), as a decoder's loss reads them.
    pub fn targets(&self) -> peft_lab::model::decoder::Targets {
        let (shape, values) = &self.ints["labels"];
        peft_lab::model::decoder::Targets::of_labels(values, shape[1])
    }

    pub fn rows(&self) -> Vec<Vec<i64>> {
        let (shape, values) = &self.ints["input_ids"];
        values.chunks(shape[1]).map(|r| r.to_vec()).collect()
    }
}

pub fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

/// Largest absolute difference; panics with the name when above `tol`.
pub fn assert_close(name: &str, ours: &[f32], reference: &[f32], tol: f32) {
    assert_eq!(ours.len(), reference.len(), "{name}: length");
    let worst = ours.iter().zip(reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= tol, "{name}: max abs difference {worst:e} > {tol:e}");
}

/// Relative difference ‖ours - ref‖∞ / ‖ref‖∞ (gradients span orders of magnitude).
pub fn assert_rel_close(name: &str, ours: &[f32], reference: &[f32], tol: f32) {
    assert_eq!(ours.len(), reference.len(), "{name}: length");
    let worst = ours.iter().zip(reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let scale = reference.iter().map(|v| v.abs()).fold(0.0f32, f32::max).max(1e-12);
    assert!(
        worst / scale <= tol,
        "{name}: relative difference {:e} > {tol:e} (max abs {worst:e}, scale {scale:e})",
        worst / scale
    );
}

/// Checks each `(name, ours)` against the fixture tensor `{prefix}.{name}`, relative to its largest entry.
pub fn assert_all_rel_close<S: AsRef<str>>(fx: &Fixture, prefix: &str, pairs: Vec<(S, Vec<f32>)>, tol: f32) {
    for (name, ours) in pairs {
        let name = name.as_ref();
        assert_rel_close(&format!("{prefix}.{name}"), &ours, fx.f(&format!("{prefix}.{name}")), tol);
    }
}

/// Sentences the tiny vocabulary covers, labelled by the sentiment word in them.
pub fn sentiment_examples() -> Vec<Example> {
    let good = ["good", "great", "excellent", "best", "nice", "fun"];
    let bad = ["bad", "terrible", "awful", "worst", "boring", "never good"];
    let templates = [
        "the movie was {}",
        "this film is really {}",
        "the food was very {}",
        "it was so {}",
        "the acting is {} !",
        "my time at this place was {}",
    ];
    let mut out = Vec::new();
    for t in templates {
        for (label, words) in [(1, good), (0, bad)] {
            for w in words {
                out.push(Example { text: t.replace("{}", w), label });
            }
        }
    }
    out
}

/// `examples` as a dataset read from a file with columns `text` and `label`, labels `neg` and `pos`.
pub fn sentiment_dataset(examples: Vec<Example>) -> Dataset {
    Dataset {
        columns: Columns { text: "text".into(), label: "label".into() },
        labels: vec!["neg".into(), "pos".into()],
        examples,
        skipped_rows: 0,
        column_reasons: vec![],
        quoted_lines: None,
    }
}

/// `count` texts of 1 to 24 pieces drawn from `pool` (a fixed sequence: the same texts every run).
pub fn random_texts(pool: &[&str], count: usize) -> Vec<String> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize % n
    };
    (0..count).map(|_| (0..1 + next(24)).map(|_| pool[next(pool.len())]).collect()).collect()
}

/// The sample data's sentences (amazon, imdb, yelp; `scripts/setup.sh` installs them).
pub fn sample_texts() -> Vec<String> {
    let mut texts = vec![];
    for name in ["amazon", "imdb", "yelp"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("public/data/{name}.json"));
        let rows: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        texts.extend(rows.as_array().unwrap().iter().map(|r| r["text"].as_str().unwrap().to_string()));
    }
    texts
}

pub fn tiny_model() -> Pretrained {
    Pretrained::from_dir(&fixtures().join("tiny-bert")).expect("tiny-bert loads")
}

pub fn minilm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("public/models/all-MiniLM-L6-v2")
}

/// A classifier on `pretrained` with dropout off, the head taken from the fixture under `head_prefix`.
pub fn classifier(
    pretrained: &Pretrained,
    fx: &Fixture,
    head_prefix: &str,
    labels: usize,
    device: &Device,
) -> SequenceClassifier {
    let config = pretrained.config.without_dropout();
    let mut model = pretrained.classifier_with_config(&config, labels, device).expect("model builds");
    model.classifier.weight = fx.linear_param(&format!("{head_prefix}.weight"), device);
    model.classifier.bias = Some(fx.param(&format!("{head_prefix}.bias"), device));
    model
}

pub fn attach(
    method: &dyn Tuner<SequenceClassifier>,
    model: SequenceClassifier,
    device: &Device,
) -> SequenceClassifier {
    method
        .attach(model, &AttachContext { device: device.clone(), max_length: 32, tokenizer: None })
        .expect("method attaches")
}

pub fn set_lora(model: &mut SequenceClassifier, fx: &Fixture, prefix: &str, device: &Device) {
    for (path, linear) in model.bert.tunable_linears_mut() {
        if let Some(lora) = side_mut::<LoraLayer>(&mut linear.side) {
            lora.lora_a = fx.linear_param(&format!("{prefix}.base_model.model.bert.{path}.lora_A.weight"), device);
            lora.lora_b = fx.linear_param(&format!("{prefix}.base_model.model.bert.{path}.lora_B.weight"), device);
        }
    }
}

/// Loads the prefix MLP's embedding and both linears stored under `{prefix}.embedding.weight`/`{prefix}.transform.{0,2}`.
pub fn set_prefix_projection(model: &mut SequenceClassifier, fx: &Fixture, prefix: &str, device: &Device) {
    let encoder = side_mut::<PrefixEncoder>(&mut model.sequence).expect("prefix attached");
    encoder.embedding = fx.param(&format!("{prefix}.embedding.weight"), device);
    let mlp = encoder.projection.as_mut().expect("projection attached");
    mlp.first.weight = fx.linear_param(&format!("{prefix}.transform.0.weight"), device);
    mlp.first.bias = Some(fx.param(&format!("{prefix}.transform.0.bias"), device));
    mlp.second.weight = fx.linear_param(&format!("{prefix}.transform.2.weight"), device);
    mlp.second.bias = Some(fx.param(&format!("{prefix}.transform.2.bias"), device));
}
