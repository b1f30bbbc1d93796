//! Folders saved by Python's peft (`save_pretrained`, no peft_lab.json) load onto the base model and give the
//! logits peft gives (fixtures in tests/fixtures/peft_saved/, logits in tiny_ref and methods_ref); configs and
//! files we cannot run are refused with a message naming the problem.

mod common;

use common::*;
use peft_lab::method::MethodConfig;
use peft_lab::share::peft::{ImportError, import};

fn tiny_eval() -> peft_lab::model::Pretrained {
    let mut tiny = tiny_model();
    tiny.config = tiny.config.without_dropout();
    tiny
}

fn read_folder(name: &str) -> (String, Vec<u8>) {
    let dir = fixtures().join("peft_saved").join(name);
    (
        std::fs::read_to_string(dir.join("adapter_config.json")).unwrap(),
        std::fs::read(dir.join("adapter_model.safetensors")).unwrap(),
    )
}

#[test]
fn folders_saved_by_peft_give_peft_logits() {
    let device = peft_lab::device::cpu();
    let tiny = tiny_eval();
    let cases = [
        ("tiny_lora", "tiny_ref", "lora.logits"),
        ("tiny_prefix", "tiny_ref", "prefix.logits"),
        ("tiny_prefix_proj", "tiny_ref", "prefix_proj.logits"),
        ("tiny_ptuning_mlp", "methods_ref", "ptuning_mlp.logits"),
        ("tiny_ptuning_lstm", "methods_ref", "ptuning_lstm.logits"),
        ("tiny_prompt", "methods_ref", "prompt.logits"),
        ("tiny_ia3", "methods_ref", "ia3.logits"),
        ("tiny_dora", "methods_ref", "dora.logits"),
    ];
    for (folder, fixture, logits) in cases {
        let fx = Fixture::load(fixture);
        let (config, weights) = read_folder(folder);
        let (model, info) = import(&tiny, &config, &weights, None, &device).unwrap_or_else(|e| panic!("{folder}: {e}"));
        assert_eq!(info.labels, ["LABEL_0", "LABEL_1", "LABEL_2"], "{folder}");
        let ours = read(model.forward(fx.ids(&device), fx.mask(&device)));
        assert_close(&format!("{folder} logits"), &ours, fx.f(logits), 1e-4);
    }
    let (config, _) = read_folder("tiny_dora");
    let MethodConfig::Lora(lora) = peft_lab::share::peft::method_from_peft_config(&config, "SEQ_CLS").unwrap() else {
        panic!()
    };
    assert!(lora.use_dora && lora.r == 4 && lora.alpha == 8.0);
}

#[test]
fn adapters_we_cannot_run_are_refused_with_the_reason() {
    let device = peft_lab::device::cpu();
    let tiny = tiny_eval();
    let (config, weights) = read_folder("tiny_lora");
    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut json: serde_json::Value = serde_json::from_str(&config).unwrap();
        edit(&mut json);
        json.to_string()
    };
    let err = |config: &str, weights: &[u8]| match import(&tiny, config, weights, None, &device) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    };
    let causal = edited(&|c| c["task_type"] = "CAUSAL_LM".into());
    assert!(
        err(&causal, &weights).contains("this model takes SEQ_CLS adapters; a CAUSAL_LM adapter goes on a decoder")
    );
    let loha = edited(&|c| c["peft_type"] = "LOHA".into());
    assert!(err(&loha, &weights).contains("peft_type \"LOHA\" is not supported; supported: LORA"));
    let bias = edited(&|c| c["bias"] = "all".into());
    assert!(err(&bias, &weights).contains("LoRA option bias = \"all\" is not supported"));
    let regex = edited(&|c| c["target_modules"] = ".*query".into());
    assert!(err(&regex, &weights).contains("target_modules"));
    // Weights that do not fit the config: the tensor is named with both shapes.
    let rank = edited(&|c| c["r"] = 8.into());
    let message = err(&rank, &weights);
    assert!(
        message.contains("lora_A.weight' has shape [4, 32], expected [8, 32] from adapter_config.json"),
        "{message}"
    );
    assert!(matches!(import(&tiny, "not json", &weights, None, &device), Err(ImportError::Config(_))));
    assert!(err(&config, &weights[..100]).contains("adapter_model.safetensors is not a valid safetensors file"));
}

/// `weights` with the head's weight replaced by zeros of `shape`, and `extra` tensors added (all f32).
fn with_head(weights: &[u8], shape: &[usize], extra: &[(&str, &[usize])]) -> Vec<u8> {
    use safetensors::{Dtype, SafeTensors, tensor::TensorView};
    let st = SafeTensors::deserialize(weights).unwrap();
    let zeros = |shape: &[usize]| vec![0u8; 4 * shape.iter().product::<usize>()];
    let head = "base_model.model.classifier.weight";
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != head)
        .map(|(name, view)| (name, view.shape().to_vec(), view.data().to_vec()))
        .collect();
    tensors.push((head.into(), shape.to_vec(), zeros(shape)));
    tensors.extend(extra.iter().map(|(name, shape)| (name.to_string(), shape.to_vec(), zeros(shape))));
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, shape, data)| (name.clone(), TensorView::new(Dtype::F32, shape.clone(), data).unwrap()))
        .collect();
    safetensors::tensor::serialize(views, None).unwrap()
}

#[test]
fn hostile_heads_and_labels_are_refused_before_anything_is_built() {
    let device = peft_lab::device::cpu();
    let tiny = tiny_eval();
    let (config, weights) = read_folder("tiny_lora");
    let err = |weights: &[u8], run_info: Option<&str>| match import(&tiny, &config, weights, run_info, &device) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    };
    let head = "the head classifier.weight has shape";
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (with_head(&weights, &[], &[]), "adapter_config.json: the head classifier.weight has shape []; it must be"),
        (with_head(&weights, &[3], &[]), head),
        (with_head(&weights, &[3, 32, 1], &[]), head),
        (with_head(&weights, &[4_000_000_000, 0], &[]), "has shape [4000000000, 0]; it must be [labels, hidden]"),
        (with_head(&weights, &[1, 32], &[]), "with 2 to 1000 labels"),
        (
            with_head(&weights, &[3, 32], &[("decoy.classifier.weight", &[5, 32])]),
            "the adapter has several heads: base_model.model.classifier.weight, decoy.classifier.weight",
        ),
    ];
    for (weights, expected) in cases {
        let message = err(&weights, None);
        assert!(message.contains(expected), "expected '{expected}' in '{message}'");
    }
    let run_info = |labels: serde_json::Value| {
        let method = serde_json::to_value(MethodConfig::from_name("lora").unwrap()).unwrap();
        serde_json::json!({"base_model": "tiny", "labels": labels, "method": method}).to_string()
    };
    let many: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
    for (labels, expected) in [
        (serde_json::json!([]), "peft_lab.json: 0 label(s); a classifier here has 2 to 1000"),
        (serde_json::json!(["only"]), "peft_lab.json: 1 label(s)"),
        (serde_json::json!(many), "peft_lab.json: 5000 label(s)"),
        (serde_json::json!(["a", "b", "a"]), "peft_lab.json: the label 'a' appears twice"),
        (serde_json::json!("a,b"), "peft_lab.json does not parse: invalid type: string"),
    ] {
        let message = err(&weights, Some(&run_info(labels)));
        assert!(message.starts_with(expected), "expected '{expected}' in '{message}'");
    }
}

/// Known weights (a folder peft saved) exported again by us: the same tensor names, shapes and values, and
/// every config key we write has peft's value.
#[test]
fn our_export_of_peft_weights_equals_peft_files() {
    let device = peft_lab::device::cpu();
    let tiny = tiny_eval();
    for folder in [
        "tiny_lora",
        "tiny_dora",
        "tiny_prefix",
        "tiny_prefix_proj",
        "tiny_ptuning_mlp",
        "tiny_ptuning_lstm",
        "tiny_prompt",
        "tiny_ia3",
    ] {
        let (config, weights) = read_folder(folder);
        let (model, info) = import(&tiny, &config, &weights, None, &device).unwrap();
        let info = peft_lab::share::peft::RunInfo { base_model: "tiny-bert".into(), ..info };
        let ours = pollster::block_on(peft_lab::share::peft::export(&info.method, &model, &info)).unwrap();
        let (ours_st, theirs_st) = (
            safetensors::SafeTensors::deserialize(&ours.weights).unwrap(),
            safetensors::SafeTensors::deserialize(&weights).unwrap(),
        );
        let mut names = ours_st.names();
        names.sort();
        let mut their_names = theirs_st.names();
        their_names.sort();
        assert_eq!(names, their_names, "{folder}: tensor names");
        for name in names {
            let (a, b) = (ours_st.tensor(name).unwrap(), theirs_st.tensor(name).unwrap());
            assert_eq!(a.shape(), b.shape(), "{folder}: {name} shape");
            assert_eq!(a.data(), b.data(), "{folder}: {name} values (bit for bit)");
        }
        let ours: serde_json::Value = serde_json::from_str(&ours.config_json).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(&config).unwrap();
        for (key, value) in ours.as_object().unwrap() {
            if key != "modules_to_save" {
                assert_eq!(Some(value), theirs.get(key), "{folder}: adapter_config.json {key}");
            }
        }
    }
}

/// LoRA and DoRA folded into the base weights and saved as a plain checkpoint: reloaded as a whole
/// `BertForSequenceClassification`, it gives the adapter's logits; other methods are refused.
#[test]
fn merged_lora_and_dora_checkpoints_give_the_adapters_logits() {
    use burn::tensor::Device;
    use peft_lab::method::Tuner;
    use peft_lab::method::full::Full;
    use peft_lab::model::{Checkpoint, Pretrained};
    use peft_lab::share::merged::export_merged;
    let device: Device = peft_lab::device::cpu();
    let tiny = tiny_eval();
    let tiny_dir = fixtures().join("tiny-bert");
    for (folder, fixture, logits) in
        [("tiny_lora", "tiny_ref", "lora.logits"), ("tiny_dora", "methods_ref", "dora.logits")]
    {
        let fx = Fixture::load(fixture);
        let (config, weights) = read_folder(folder);
        let (model, info) = import(&tiny, &config, &weights, None, &device).unwrap();
        let merged = pollster::block_on(export_merged(model, &info.labels)).unwrap();
        let config: serde_json::Value = serde_json::from_str(&merged.config_json).unwrap();
        assert_eq!(config["id2label"]["2"], "LABEL_2");
        assert_eq!(config["architectures"][0], "BertForSequenceClassification");
        let tokenizer = std::fs::read(tiny_dir.join("tokenizer.json")).unwrap();
        let reloaded =
            Pretrained::from_bytes("merged", merged.config_json.as_bytes(), merged.weights.clone(), &tokenizer)
                .unwrap();
        let classifier = reloaded.classifier_with_config(&reloaded.config.without_dropout(), 3, &device).unwrap();
        let classifier = Full.load(classifier, &Checkpoint::parse(&merged.weights).unwrap()).unwrap();
        let ours = read(classifier.forward(fx.ids(&device), fx.mask(&device)));
        assert_close(&format!("{folder} merged logits"), &ours, fx.f(logits), 1e-4);
    }
    let (config, weights) = read_folder("tiny_ia3");
    let (model, info) = import(&tiny, &config, &weights, None, &device).unwrap();
    let err = pollster::block_on(export_merged(model, &info.labels)).err().unwrap();
    assert_eq!(err.to_string(), "only LoRA and DoRA can be merged into the base weights");
}
