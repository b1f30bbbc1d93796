//! A share link for a trained run: its metadata recorded and the link checked against the model it came from.

use super::Error;
use crate::data::batch::TokenizedExample;
use crate::method::SequenceClassifier;
use crate::model::Pretrained;
use crate::share::link::{CheckedLink, LinkMeta, ModelIdentity, Precision, make_checked};
use crate::train::{MethodResult, TrainConfig};

/// What a link records beside the adapter: the run it comes from.
pub struct RunRecord<'a> {
    pub labels: Vec<String>,
    pub result: &'a MethodResult,
    pub config: TrainConfig,
    /// The dataset's file name.
    pub dataset: String,
}

/// The link of `model`, trained on `pretrained` (whose model.safetensors has sha256 `pretrained_sha256`), rebuilt
/// from its own payload and compared with `model` on `val` (no check where `val` is empty).
pub async fn make_link(
    pretrained: &Pretrained,
    pretrained_sha256: String,
    model: &SequenceClassifier,
    run: RunRecord<'_>,
    precision: Precision,
    val: &[TokenizedExample],
) -> Result<CheckedLink, Error> {
    let identity = ModelIdentity { name: pretrained.name.clone(), sha256: pretrained_sha256 };
    let meta = LinkMeta::for_run(identity, run.labels, run.result, run.config, run.dataset);
    Ok(make_checked(pretrained, model, &meta, precision, val).await?)
}
