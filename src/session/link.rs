//! A share link for a trained run (a classifier or a decoder): its metadata recorded and the link checked against the
//! model it came from.

use super::Error;
use super::lm::{LmData, TrainedLm};
use crate::data::batch::TokenizedExample;
use crate::method::{CausalLm, SequenceClassifier, TunableModel};
use crate::model::Pretrained;
use crate::model::decoder::PretrainedDecoder;
use crate::share::link::{
    CheckedLink, LinkMeta, ModelIdentity, Precision, RecordedMetrics, make_checked, make_checked_lm,
};
use crate::train::{MethodResult, TrainConfig, trainable_percent};

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

/// The link of a trained decoder (on `pretrained`, whose weights file has sha256 `pretrained_sha256`), rebuilt from
/// its own payload; the perplexities of both on the held-out examples of `data`.
pub async fn make_lm_link(
    pretrained: &PretrainedDecoder,
    pretrained_sha256: String,
    trained: &TrainedLm,
    data: &LmData,
    config: TrainConfig,
    dataset: String,
    precision: Precision,
) -> Result<CheckedLink, Error> {
    let result = &trained.result;
    let last = result.evaluations.last().map(|(_, evaluation)| evaluation.metrics);
    let finite = |v: f64| Some(v).filter(|v| v.is_finite());
    let meta = LinkMeta {
        made_by: crate::share::made_by(),
        base_model: ModelIdentity { name: pretrained.name.clone(), sha256: pretrained_sha256 },
        task: CausalLm::TASK_TYPE.into(),
        labels: Vec::new(),
        method: result.config.clone(),
        learning_rate: result.learning_rate,
        train: config,
        dataset,
        metrics: RecordedMetrics {
            accuracy: None,
            macro_f1: None,
            val_loss: last.and_then(|m| finite(m.loss)),
            perplexity: last.and_then(|m| finite(m.perplexity)),
            trainable_params: result.trainable_params,
            trainable_percent: trainable_percent(result.trainable_params, result.total_params),
            steps: result.steps,
        },
    };
    Ok(make_checked_lm(pretrained, &trained.model, &meta, precision, &data.val).await?)
}
