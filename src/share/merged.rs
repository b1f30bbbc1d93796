//! A LoRA or DoRA run folded into its base model and saved as a plain Hugging Face checkpoint
//! (`BertForSequenceClassification`: config.json + model.safetensors; the tokenizer is the base model's; a decoder's
//! model.safetensors under its own architecture's keys), so it loads with transformers' `from_pretrained` and runs at
//! the base model's cost.

use super::peft::{ExportError, write_safetensors};
use crate::method::full::Full;
use crate::method::lora::merge;
use crate::method::{CausalLm, Projections, SequenceClassifier, SidePaths, Tuner};

/// Whether every occupied site holds LoRA or DoRA (the only updates that fold into the weights).
fn only_lora<'a>(mut sites: impl Iterator<Item = &'a Option<SidePaths>>) -> bool {
    sites.all(|site| site.as_ref().is_none_or(|s| matches!(s, SidePaths::Lora(_))))
}

/// config.json and model.safetensors of the merged model.
pub struct MergedModel {
    pub config_json: String,
    pub weights: Vec<u8>,
}

/// Merges every LoRA/DoRA update into its weight and writes the whole classifier with `labels` as its
/// id2label. Refuses models that carry other methods' parameters (they cannot be folded into the weights).
pub async fn export_merged(model: SequenceClassifier, labels: &[String]) -> Result<MergedModel, ExportError> {
    if !only_lora(model.sites().into_iter()) {
        return Err(ExportError::NotMergeable);
    }
    let merged = merge(model);
    let weights = write_safetensors(Full.adapter_tensors(&merged)).await?;
    let mut config = serde_json::to_value(&merged.config).expect("plain data serialises");
    let id2label: serde_json::Map<String, serde_json::Value> =
        labels.iter().enumerate().map(|(i, l)| (i.to_string(), l.clone().into())).collect();
    let label2id: serde_json::Map<String, serde_json::Value> =
        labels.iter().enumerate().map(|(i, l)| (l.clone(), i.into())).collect();
    config["architectures"] = serde_json::json!(["BertForSequenceClassification"]);
    config["model_type"] = "bert".into();
    config["id2label"] = id2label.into();
    config["label2id"] = label2id.into();
    Ok(MergedModel { config_json: serde_json::to_string_pretty(&config).expect("JSON values serialise"), weights })
}

/// A decoder's LoRA/DoRA updates merged into its weights: model.safetensors under transformers' keys for its
/// architecture (its config.json and tokenizer are the base model's). Refuses other methods.
pub async fn export_merged_decoder(model: CausalLm) -> Result<Vec<u8>, ExportError> {
    let projections = model.projections();
    if !only_lora(std::iter::once(&model.sequence).chain(projections.iter().map(|(_, l)| &l.side))) {
        return Err(ExportError::NotMergeable);
    }
    drop(projections);
    let merged = merge(model);
    write_safetensors(Full.adapter_tensors(&merged)).await
}
