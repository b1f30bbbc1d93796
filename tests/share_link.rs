//! Share links opened on a model: everything that does not fit is refused with a message naming it, and no
//! damaged link makes the decoder panic.

mod common;

use common::*;
use peft_lab::method::MethodConfig;
use peft_lab::method::lora::LoraConfig;
use peft_lab::method::prefix::PrefixConfig;
use peft_lab::model::Pretrained;
use peft_lab::rng::SplitMix64;
use peft_lab::share::SharedTensor;
use peft_lab::share::link::codec;
use peft_lab::share::link::{LinkMeta, ModelIdentity, Precision, RecordedMetrics, open, sha256_hex};
use peft_lab::share::peft::{AdapterBase, read_back};
use peft_lab::train::TrainConfig;

fn meta(pretrained: &Pretrained) -> LinkMeta {
    LinkMeta {
        made_by: "peft-lab test".into(),
        base_model: ModelIdentity { name: "tiny-bert".into(), sha256: sha256_hex(&pretrained.weights) },
        task: "SEQ_CLS".into(),
        labels: vec!["neg".into(), "pos".into()],
        method: MethodConfig::Lora(LoraConfig { r: 4, alpha: 8.0, ..Default::default() }),
        learning_rate: 1e-3,
        train: TrainConfig { max_length: 16, ..Default::default() },
        dataset: "reviews.csv".into(),
        metrics: RecordedMetrics {
            accuracy: Some(0.5),
            macro_f1: None,
            val_loss: None,
            perplexity: None,
            trainable_params: 1,
            trainable_percent: 0.1,
            steps: 3,
        },
    }
}

/// The tensors a fresh LoRA classifier saves.
fn lora_tensors(pretrained: &Pretrained, meta: &LinkMeta) -> Vec<SharedTensor> {
    let model = pretrained.attach_fresh(&meta.run_info(), 16, &peft_lab::device::cpu()).unwrap();
    pollster::block_on(read_back(meta.method.tuner().adapter_tensors(&model))).unwrap()
}

fn open_error(pretrained: &Pretrained, meta: &LinkMeta, tensors: &[SharedTensor]) -> String {
    let link = codec::encode(meta, tensors, Precision::F16).unwrap();
    let sha = sha256_hex(&pretrained.weights);
    match open(pretrained, &sha, &format!("http://x/#share={link}"), &peft_lab::device::cpu()) {
        Ok(_) => panic!("the link opened"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn links_that_do_not_fit_the_model_are_refused_with_the_reason() {
    let pretrained = tiny_model();
    let good = meta(&pretrained);
    let tensors = lora_tensors(&pretrained, &good);
    let link = codec::encode(&good, &tensors, Precision::Int8).unwrap();
    assert!(open(&pretrained, &good.base_model.sha256, &link, &peft_lab::device::cpu()).is_ok());

    let mut other_model = good.clone();
    other_model.base_model.sha256 = "ab".repeat(32);
    assert!(
        open_error(&pretrained, &other_model, &tensors)
            .contains("was made for the model tiny-bert (sha256 abababababab…)")
    );
    let mut task = good.clone();
    task.task = "CAUSAL_LM".into();
    assert!(open_error(&pretrained, &task, &tensors).contains("the link is for task CAUSAL_LM, made on a decoder (a language model); the model loaded here takes SEQ_CLS links"));
    let mut one_label = good.clone();
    one_label.labels.truncate(1);
    assert!(open_error(&pretrained, &one_label, &tensors).contains("1 label(s)"));
    let mut many_labels = good.clone();
    many_labels.labels = (0..100_000).map(|i| i.to_string()).collect();
    assert!(
        open_error(&pretrained, &many_labels, &tensors).contains("100000 label(s); a classifier here has 2 to 1000")
    );
    let mut twice = good.clone();
    twice.labels = vec!["pos".into(), "pos".into()];
    assert!(open_error(&pretrained, &twice, &tensors).contains("the label 'pos' appears twice"));
    let mut long = good.clone();
    long.train.max_length = 1 << 20;
    assert!(open_error(&pretrained, &long, &tensors).contains("the maximum length 1048576 exceeds the 64 positions"));
    long.train.max_length = 100;
    assert!(open_error(&pretrained, &long, &tensors).contains("the maximum length 100 exceeds the 64 positions"));
    let mut short = good.clone();
    short.train.max_length = 2;
    assert!(open_error(&pretrained, &short, &tensors).contains("the maximum length 2 leaves no room for text"));
    let mut epochs = good.clone();
    epochs.train.epochs = 0;
    assert!(open_error(&pretrained, &epochs, &tensors).contains("the number of epochs is 0"));
    // Virtual tokens that leave the text no room (with max length 3, the least any run has).
    let mut crowded = good.clone();
    crowded.train.max_length = 3;
    crowded.method = MethodConfig::Prefix(PrefixConfig { num_virtual_tokens: 63, ..Default::default() });
    assert!(
        open_error(&pretrained, &crowded, &tensors)
            .contains("the maximum length 3 with 63 virtual tokens exceeds the 64 positions"),
    );
    let mut alpha = good.clone();
    alpha.method = MethodConfig::Lora(LoraConfig { r: 4, alpha: 1e39, ..Default::default() });
    assert!(
        open_error(&pretrained, &alpha, &tensors)
            .contains("lora_alpha = 1000000000000000000000000000000000000000 is out")
    );
    // Settings that would allocate without bound are refused before attaching.
    let mut wide = good.clone();
    wide.method = MethodConfig::Prefix(PrefixConfig {
        prefix_projection: true,
        encoder_hidden_size: Some(1 << 30),
        ..Default::default()
    });
    assert!(open_error(&pretrained, &wide, &tensors).contains("encoder_hidden_size is 1073741824"));
    let mut other_method = good.clone();
    other_method.method = MethodConfig::Prefix(PrefixConfig::default());
    assert!(open_error(&pretrained, &other_method, &tensors).contains("is not a tensor of this method"));

    let missing = &tensors[..tensors.len() - 1];
    assert!(open_error(&pretrained, &good, missing).contains("is missing"));
    let mut renamed = tensors.clone();
    renamed[0].name = "bert.embeddings.word_embeddings.weight".into();
    assert!(
        open_error(&pretrained, &good, &renamed).contains("'bert.embeddings.word_embeddings.weight' is not a tensor")
    );
    let mut twice = tensors.clone();
    twice.push(tensors[0].clone());
    assert!(open_error(&pretrained, &good, &twice).contains("more than once"));
    let mut reshaped = tensors.clone();
    reshaped[0].shape.reverse();
    assert!(open_error(&pretrained, &good, &reshaped).contains("has shape"));
}

/// What the fuzz target does at scale (`fuzz/`), in miniature and in CI: mutated links are errors, not panics.
#[test]
fn mutated_links_never_panic() {
    let pretrained = tiny_model();
    let good = meta(&pretrained);
    let tensors = lora_tensors(&pretrained, &good);
    let mut rng = SplitMix64::new(7);
    for precision in [Precision::F16, Precision::Int8] {
        let link = codec::encode(&good, &tensors, precision).unwrap();
        let raw = base64_decode(&link);
        for _ in 0..2000 {
            let mut bytes = raw.clone();
            for _ in 0..1 + rng.next_u64() % 4 {
                let at = (rng.next_u64() as usize) % bytes.len();
                match rng.next_u64() % 3 {
                    0 => bytes[at] ^= 1 << (rng.next_u64() % 8),
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, rng.next_u64() as u8),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let _ = codec::decode::<LinkMeta>(&base64_encode(&bytes));
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The budget: an int8 link for LoRA r=8 on query and value of MiniLM (6 layers, hidden 384) with a 2-label
/// head is at most 110 KB. Values shaped like a trained run's: A near its uniform (Kaiming) init, B Gaussian around
/// zero. (The link of a real run measured 100,233 characters; README.)
#[test]
fn an_int8_lora_link_for_minilm_fits_in_110_kb() {
    let pretrained = tiny_model();
    let mut meta = meta(&pretrained);
    meta.base_model.name = "all-MiniLM-L6-v2".into();
    meta.method = MethodConfig::Lora(LoraConfig::default());
    let mut rng = SplitMix64::new(3);
    let mut gaussian = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| {
                let (u, v) = (
                    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64,
                    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64,
                );
                ((-2.0 * (u + 1e-12).ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32 * scale
            })
            .collect()
    };
    let mut rng = SplitMix64::new(4);
    let mut uniform = |n: usize, bound: f32| -> Vec<f32> {
        (0..n).map(|_| ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * bound).collect()
    };
    let mut tensors = Vec::new();
    for layer in 0..6 {
        for module in ["query", "value"] {
            let prefix = format!("base_model.model.bert.encoder.layer.{layer}.attention.self.{module}");
            tensors.push(SharedTensor {
                name: format!("{prefix}.lora_A.weight"),
                shape: vec![8, 384],
                values: uniform(8 * 384, 0.051),
            });
            tensors.push(SharedTensor {
                name: format!("{prefix}.lora_B.weight"),
                shape: vec![384, 8],
                values: gaussian(384 * 8, 0.01),
            });
        }
    }
    tensors.push(SharedTensor {
        name: "base_model.model.classifier.modules_to_save.default.weight".into(),
        shape: vec![2, 384],
        values: gaussian(768, 0.05),
    });
    tensors.push(SharedTensor {
        name: "base_model.model.classifier.modules_to_save.default.bias".into(),
        shape: vec![2],
        values: gaussian(2, 0.05),
    });
    let url = format!("http://127.0.0.1:8080/#share={}", codec::encode(&meta, &tensors, Precision::Int8).unwrap());
    println!("int8 link: {} characters", url.len());
    assert!(url.len() <= 110_000, "{} characters", url.len());
}
