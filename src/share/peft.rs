//! Hugging Face PEFT files: adapter_config.json + adapter_model.safetensors (f32, metadata {"format": "pt"}),
//! with peft's on-disk key names (the adapter name `default` dropped) and torch layouts.
//! Tensors are read back asynchronously, so export works in the browser too.

use std::collections::HashMap;

use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde::{Deserialize, Serialize};

use crate::method::{AttachContext, MethodConfig, MethodError};
use crate::model::{Checkpoint, LoadError, Pretrained, SequenceClassifier};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading tensor '{0}' back from the device failed: {1}")]
    ReadBack(String, String),
    #[error("writing safetensors failed: {0}")]
    Safetensors(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("peft_lab.json does not parse: {0}")]
    RunInfo(String),
    #[error("the adapter's method does not fit this model: {0}")]
    Method(#[from] MethodError),
    #[error("adapter_model.safetensors: {0}")]
    Weights(#[from] LoadError),
}

/// What peft does not store but a reader needs to use the adapter: the labels and our method settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub base_model: String,
    pub labels: Vec<String>,
    pub method: MethodConfig,
}

/// The files of a saved adapter.
pub struct AdapterFiles {
    /// adapter_config.json
    pub config_json: String,
    /// adapter_model.safetensors
    pub weights: Vec<u8>,
    /// peft_lab.json: labels and method settings.
    pub run_info_json: String,
}

/// Reads the method's tensors back and writes them in peft's format.
pub async fn export(
    method: &MethodConfig,
    model: &SequenceClassifier,
    info: &RunInfo,
) -> Result<AdapterFiles, ExportError> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for named in method.method().adapter_tensors(model) {
        let data = named
            .values
            .into_data_async()
            .await
            .map_err(|e| ExportError::ReadBack(named.name.clone(), format!("{e:?}")))?;
        let values =
            data.try_to_vec::<f32>().map_err(|e| ExportError::ReadBack(named.name.clone(), format!("{e:?}")))?;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((named.name, named.shape, bytes));
    }
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| ExportError::Safetensors(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let weights =
        safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| ExportError::Safetensors(e.to_string()))?;
    let mut config = method.method().peft_json(&model.config);
    let common = serde_json::json!({
        "task_type": "SEQ_CLS",
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

/// Rebuilds a trained model from its files on `pretrained`: the method from peft_lab.json is attached to a
/// fresh classifier with as many outputs as labels, then the saved tensors replace its trainable ones.
pub fn import(
    pretrained: &Pretrained,
    files: &AdapterFiles,
    device: &burn::tensor::Device,
) -> Result<(SequenceClassifier, RunInfo), ImportError> {
    let info: RunInfo = serde_json::from_str(&files.run_info_json).map_err(|e| ImportError::RunInfo(e.to_string()))?;
    let model = pretrained.classifier(info.labels.len(), device)?;
    let ctx = AttachContext { device: device.clone(), max_length: 1, tokenizer: Some(&pretrained.tokenizer) };
    let method = info.method.method();
    let model = method.attach(model, &ctx)?;
    let model = method.load(model, &Checkpoint::parse(&files.weights)?)?;
    Ok((model, info))
}

/// Writes the files into `dir` (created if needed).
#[cfg(not(target_arch = "wasm32"))]
pub fn write_dir(files: &AdapterFiles, dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("adapter_config.json"), &files.config_json)?;
    std::fs::write(dir.join("adapter_model.safetensors"), &files.weights)?;
    std::fs::write(dir.join("peft_lab.json"), &files.run_info_json)
}
