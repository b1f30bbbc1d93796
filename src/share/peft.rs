//! Hugging Face PEFT files: adapter_config.json + adapter_model.safetensors (f32, metadata {"format": "pt"}),
//! with peft's on-disk key names (the adapter name `default` dropped) and torch layouts.
//! Tensors are read back asynchronously, so export works in the browser too.

use std::collections::HashMap;

use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde::{Deserialize, Serialize};

use super::SharedTensor;
use crate::data::{MAX_CLASSES, check_labels};
use crate::method::{AttachContext, MethodConfig, MethodError, NamedTensor, PeftConfig, SidePaths, TunableModel};
use crate::method::{CausalLm, SequenceClassifier};
use crate::model::decoder::PretrainedDecoder;
use crate::model::{Checkpoint, LoadError, Pretrained, TextIds};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading tensor '{0}' back from the device failed: {1}")]
    ReadBack(String, String),
    #[error("writing safetensors failed: {0}")]
    Safetensors(String),
    #[error("only LoRA and DoRA can be merged into the base weights")]
    NotMergeable,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("peft_lab.json does not parse: {0}")]
    RunInfo(String),
    #[error("peft_lab.json: {0}")]
    Labels(String),
    #[error("adapter_config.json: {0}")]
    Config(String),
    #[error("the adapter's method does not fit this model: {0}")]
    Method(#[from] MethodError),
    #[error(transparent)]
    Weights(#[from] LoadError),
}

/// What peft does not store but a reader needs to use the adapter: the labels and our method settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub base_model: String,
    pub labels: Vec<String>,
    pub method: MethodConfig,
}

/// The files of a saved adapter: written to a folder by the CLI, sent between workers and the page, and stored in
/// the browser as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterFiles {
    /// adapter_config.json
    pub config_json: String,
    /// adapter_model.safetensors
    #[serde(with = "serde_bytes")]
    pub weights: Vec<u8>,
    /// peft_lab.json: labels and method settings.
    pub run_info_json: String,
}

/// Reads the method's tensors back and writes them in peft's format.
pub async fn export<M: TunableModel<SidePaths>>(
    method: &MethodConfig,
    model: &M,
    info: &RunInfo,
) -> Result<AdapterFiles, ExportError> {
    // Off autodiff: a trained P-tuning LSTM's table would otherwise come out through its dropout.
    let weights = write_safetensors(method.tuner().adapter_tensors(&model.valid())).await?;
    let mut config = method.tuner().peft_json(model);
    let common = serde_json::json!({
        "task_type": M::TASK_TYPE,
        "base_model_name_or_path": info.base_model,
        "revision": null,
        "inference_mode": true,
        "auto_mapping": null,
    });
    if let (Some(config), Some(common)) = (config.as_object_mut(), common.as_object()) {
        for (k, v) in common {
            config.entry(k.clone()).or_insert(v.clone());
        }
        // peft refuses a TEXT-initialised prompt config without the tokenizer it was initialised with.
        if config.get("prompt_tuning_init").and_then(|v| v.as_str()) == Some("TEXT") {
            config.insert("tokenizer_name_or_path".into(), info.base_model.clone().into());
        }
    }
    Ok(AdapterFiles {
        config_json: serde_json::to_string_pretty(&config).expect("JSON values serialise"),
        weights,
        run_info_json: serde_json::to_string_pretty(info).expect("plain data serialises"),
    })
}

/// A pretrained model adapters go on: an encoder, which a classifier's head and labels complete, or a decoder.
pub trait AdapterBase {
    type Model: TunableModel<SidePaths>;
    /// Where it came from, recorded in adapters and links.
    fn name(&self) -> &str;
    /// The labels of an adapter saved without peft_lab.json (by Python's peft).
    fn saved_labels(&self, adapter: &Checkpoint) -> Result<Vec<String>, ImportError>;
    /// Whether a run's labels fit the model's task.
    fn check_labels(&self, labels: &[String]) -> Result<(), String>;
    /// Whether texts of `max_length` tokens fit beside `virtual_tokens` in the model's positions.
    fn check_max_length(&self, max_length: usize, virtual_tokens: usize) -> Result<(), String>;
    /// The shortest max length there is: what an import, which records none, checks the method against.
    fn min_max_length(&self) -> usize;
    /// The pretrained model with a head for `labels` where it takes one (a classifier), no method attached yet.
    fn fresh(&self, labels: usize, device: &burn::tensor::Device) -> Result<Self::Model, LoadError>;
    /// What a method's initialisation reads text with (prompt tuning's TEXT init).
    fn text_ids(&self) -> &dyn TextIds;

    /// A fresh model for `info.labels` with `info.method` attached (its tensors still initial), checked for texts of
    /// up to `max_length` tokens.
    fn attach_fresh(
        &self,
        info: &RunInfo,
        max_length: usize,
        device: &burn::tensor::Device,
    ) -> Result<Self::Model, ImportError> {
        let model = self.fresh(info.labels.len(), device)?;
        let ctx = AttachContext { device: device.clone(), max_length, tokenizer: Some(self.text_ids()) };
        Ok(info.method.tuner().attach(model, &ctx)?)
    }
}

impl AdapterBase for Pretrained {
    type Model = SequenceClassifier;

    fn name(&self) -> &str {
        &self.name
    }

    /// `LABEL_0`, `LABEL_1`, ... as transformers names them, as many as the saved head has outputs.
    fn saved_labels(&self, adapter: &Checkpoint) -> Result<Vec<String>, ImportError> {
        saved_head_labels(adapter)
    }

    fn check_labels(&self, labels: &[String]) -> Result<(), String> {
        check_labels(labels)
    }

    fn check_max_length(&self, max_length: usize, virtual_tokens: usize) -> Result<(), String> {
        Pretrained::check_max_length(self, max_length, virtual_tokens)
    }

    fn min_max_length(&self) -> usize {
        Pretrained::min_max_length(self)
    }

    fn fresh(&self, labels: usize, device: &burn::tensor::Device) -> Result<SequenceClassifier, LoadError> {
        self.classifier(labels, device)
    }

    fn text_ids(&self) -> &dyn TextIds {
        &self.tokenizer
    }
}

impl AdapterBase for PretrainedDecoder {
    type Model = CausalLm;

    fn name(&self) -> &str {
        &self.name
    }

    fn saved_labels(&self, _adapter: &Checkpoint) -> Result<Vec<String>, ImportError> {
        Ok(Vec::new())
    }

    fn check_labels(&self, labels: &[String]) -> Result<(), String> {
        match labels.len() {
            0 => Ok(()),
            n => Err(format!("the run has {n} labels: it is a classifier's, not a decoder's")),
        }
    }

    fn check_max_length(&self, max_length: usize, virtual_tokens: usize) -> Result<(), String> {
        PretrainedDecoder::check_max_length(self, max_length, virtual_tokens)
    }

    /// One token of text: generation checks its own prompt against the positions the method leaves.
    fn min_max_length(&self) -> usize {
        1
    }

    /// No head: a decoder's is pretrained (`labels` is 0, as `check_labels` made sure).
    fn fresh(&self, _labels: usize, device: &burn::tensor::Device) -> Result<CausalLm, LoadError> {
        self.causal_lm(device)
    }

    fn text_ids(&self) -> &dyn TextIds {
        &self.tokenizer
    }
}

/// Rebuilds a trained model from its files on `base`. With peft_lab.json the method and labels come from it; without
/// (a folder saved by Python's peft) from adapter_config.json, whose `task_type` must be the model's, and the labels
/// from the saved head, if any. The method is attached to a fresh model, then the saved tensors replace its
/// trainable ones.
pub fn import<B: AdapterBase>(
    base: &B,
    config_json: &str,
    weights: &[u8],
    run_info_json: Option<&str>,
    device: &burn::tensor::Device,
) -> Result<(B::Model, RunInfo), ImportError> {
    let adapter = Checkpoint::parse_adapter(weights)?;
    let info = match run_info_json {
        Some(json) => serde_json::from_str(json).map_err(|e| ImportError::RunInfo(e.to_string()))?,
        None => {
            let method = method_from_peft_config(config_json, B::Model::TASK_TYPE)?;
            RunInfo { base_model: base.name().to_string(), labels: base.saved_labels(&adapter)?, method }
        }
    };
    base.check_labels(&info.labels).map_err(ImportError::Labels)?;
    // The shortest texts fit here; what uses the model truncates to what the positions leave.
    let model = base.attach_fresh(&info, base.min_max_length(), device)?;
    Ok((info.method.tuner().load(model, &adapter)?, info))
}

/// The kind of model adapters of peft's `task_type` go on.
pub fn task_goes_on(task_type: &str) -> &'static str {
    match task_type {
        "SEQ_CLS" => "a classifier (an encoder with a head)",
        "CAUSAL_LM" => "a decoder (a language model)",
        _ => "a model peft-lab does not run",
    }
}

/// The method an adapter_config.json written by peft describes, for the peft types and options we run, on a model
/// whose adapters have `task_type` (`SEQ_CLS` for a classifier, `CAUSAL_LM` for a decoder).
pub fn method_from_peft_config(json: &str, task_type: &str) -> Result<MethodConfig, ImportError> {
    let config = PeftConfig(serde_json::from_str(json).map_err(|e| ImportError::Config(e.to_string()))?);
    let task = config.field("task_type");
    if task != task_type {
        let task = task.as_str().unwrap_or("missing");
        return Err(ImportError::Config(format!(
            "task_type {task}: this model takes {task_type} adapters; a {task} adapter goes on {}",
            task_goes_on(task)
        )));
    }
    let peft_type = config.field("peft_type");
    let unsupported = || {
        ImportError::Config(format!(
            "peft_type {peft_type} is not supported; supported: {}",
            crate::method::peft_types().join(", ")
        ))
    };
    let read = peft_type.as_str().and_then(|t| crate::method::from_peft(t, &config)).ok_or_else(unsupported)?;
    read.map_err(ImportError::Config)
}

/// `LABEL_0..LABEL_{n-1}` for the n outputs of the saved head (`*classifier.weight`, [labels, hidden]).
fn saved_head_labels(adapter: &Checkpoint) -> Result<Vec<String>, ImportError> {
    let heads = adapter.shapes_of_suffix("classifier.weight");
    let shape = match heads.as_slice() {
        [(_, shape)] => shape,
        [] => return Err(ImportError::Config("the adapter has no classifier head (classifier.weight)".into())),
        more => {
            let names: Vec<&str> = more.iter().map(|(name, _)| name.as_str()).collect();
            return Err(ImportError::Config(format!("the adapter has several heads: {}", names.join(", "))));
        }
    };
    match shape[..] {
        [labels, _] if (2..=MAX_CLASSES).contains(&labels) => Ok((0..labels).map(|i| format!("LABEL_{i}")).collect()),
        _ => Err(ImportError::Config(format!(
            "the head classifier.weight has shape {shape:?}; it must be [labels, hidden] with 2 to {MAX_CLASSES} labels"
        ))),
    }
}

/// Reads the tensors back from the device (asynchronously, as the browser requires).
pub async fn read_back(named: Vec<NamedTensor>) -> Result<Vec<SharedTensor>, ExportError> {
    let mut tensors = Vec::with_capacity(named.len());
    for named in named {
        let data = named
            .values
            .into_data_async()
            .await
            .map_err(|e| ExportError::ReadBack(named.name.clone(), format!("{e:?}")))?;
        let values =
            data.try_to_vec::<f32>().map_err(|e| ExportError::ReadBack(named.name.clone(), format!("{e:?}")))?;
        tensors.push(SharedTensor { name: named.name, shape: named.shape, values });
    }
    Ok(tensors)
}

/// Reads the tensors back from the device and writes them as one f32 safetensors file.
pub async fn write_safetensors(named: Vec<NamedTensor>) -> Result<Vec<u8>, ExportError> {
    safetensors_bytes(&read_back(named).await?)
}

/// One f32 safetensors file with metadata {"format": "pt"} (what torch's loaders expect).
pub fn safetensors_bytes(tensors: &[SharedTensor]) -> Result<Vec<u8>, ExportError> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(tensor, bytes)| {
            TensorView::new(Dtype::F32, tensor.shape.clone(), bytes)
                .map(|view| (tensor.name.clone(), view))
                .map_err(|e| ExportError::Safetensors(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| ExportError::Safetensors(e.to_string()))
}

/// Writes the files into `dir` (created if needed).
#[cfg(not(target_arch = "wasm32"))]
pub fn write_dir(files: &AdapterFiles, dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("adapter_config.json"), &files.config_json)?;
    std::fs::write(dir.join("adapter_model.safetensors"), &files.weights)?;
    std::fs::write(dir.join("peft_lab.json"), &files.run_info_json)
}
