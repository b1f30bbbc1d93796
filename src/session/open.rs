//! Trained runs opened on the loaded model (a classifier, with the max length its predictions use, or a decoder), from
//! adapter files (ours or Python peft's) or from a share link.

use burn::tensor::Device;

use super::Error;
use crate::method::{CausalLm, MethodConfig, SequenceClassifier};
use crate::model::Pretrained;
use crate::model::decoder::PretrainedDecoder;
use crate::share::link::{self, LinkMeta, Precision};
use crate::share::peft::{self, RunInfo};

/// A trained model ready for predictions.
pub struct OpenedRun {
    pub model: SequenceClassifier,
    pub info: RunInfo,
    /// Texts are truncated to this many tokens, as in training where it is known.
    pub max_length: usize,
}

/// The max length of a run whose files do not record one: 128 tokens, or what the model's positions leave beside
/// the method's virtual tokens (importing checked that this leaves room for text).
pub fn default_max_length(pretrained: &Pretrained, method: &MethodConfig) -> usize {
    let room = pretrained.config.max_position_embeddings.saturating_sub(method.virtual_tokens());
    128.min(room).max(pretrained.min_max_length())
}

/// An opened run is only evaluated: it is built off autodiff, where a model dropped without a backward pass is freed
/// (on the autodiff device it is not: 71 KB of tiny-bert's LoRA leaked per link opened, each time a worker reopened
/// one).
fn inference_device(device: &Device) -> Device {
    device.clone().inner()
}

/// adapter_config.json, adapter_model.safetensors and, where there is one, peft_lab.json, on `pretrained`, off
/// autodiff.
pub fn open_files(
    pretrained: &Pretrained,
    config_json: &str,
    weights: &[u8],
    run_info_json: Option<&str>,
    device: &Device,
) -> Result<OpenedRun, Error> {
    let (model, info) = peft::import(pretrained, config_json, weights, run_info_json, &inference_device(device))?;
    let max_length = default_max_length(pretrained, &info.method);
    Ok(OpenedRun { model, info, max_length })
}

/// A decoder's adapter files (ours, or a `CAUSAL_LM` folder saved by Python's peft) on `pretrained`, off autodiff.
pub fn open_decoder_files(
    pretrained: &PretrainedDecoder,
    config_json: &str,
    weights: &[u8],
    run_info_json: Option<&str>,
    device: &Device,
) -> Result<(CausalLm, RunInfo), Error> {
    Ok(peft::import(pretrained, config_json, weights, run_info_json, &inference_device(device))?)
}

/// A share link (or its payload) on `pretrained`, whose model.safetensors has sha256 `pretrained_sha256`; the run
/// keeps the link's training max length. Off autodiff.
pub fn open_link(
    pretrained: &Pretrained,
    pretrained_sha256: &str,
    text: &str,
    device: &Device,
) -> Result<(OpenedRun, LinkMeta, Precision), Error> {
    let (model, meta, precision) = link::open(pretrained, pretrained_sha256, text, &inference_device(device))?;
    let opened = OpenedRun { model, info: meta.run_info(), max_length: meta.train.max_length };
    Ok((opened, meta, precision))
}

/// A decoder's share link (or its payload) on `pretrained`, whose weights file has sha256 `pretrained_sha256`. Off
/// autodiff.
pub fn open_decoder_link(
    pretrained: &PretrainedDecoder,
    pretrained_sha256: &str,
    text: &str,
    device: &Device,
) -> Result<(CausalLm, LinkMeta, Precision), Error> {
    Ok(link::open(pretrained, pretrained_sha256, text, &inference_device(device))?)
}
