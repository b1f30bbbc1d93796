//! Share links: a trained adapter with everything needed to use it (base model identity, labels, method,
//! settings, metrics) in a URL fragment, which browsers never send to a server. `codec.rs` holds the bytes.

pub mod codec;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SharedTensor;
pub use codec::{FRAGMENT_KEY, LinkError, Precision, payload_of};

use super::peft::{AdapterBase, ExportError, ImportError, RunInfo, read_back, safetensors_bytes, task_goes_on};
use crate::data::batch::TokenizedExample;
use crate::data::lm::LmExample;
use crate::method::{CausalLm, MethodConfig, SequenceClassifier, SidePaths, TunableModel};
use crate::model::decoder::PretrainedDecoder;
use crate::model::{Checkpoint, Pretrained};
use crate::train::lm::evaluate_lm;
use crate::train::metrics::argmax;
use crate::train::{MethodResult, TrainConfig, logits};

/// Chat tools cut or refuse longer messages (Slack: 40,000 characters; Discord: 4,000): above this the page
/// says so and points to the file export.
pub const CHAT_LIMIT_CHARS: usize = 40_000;
/// Longest URL Chromium accepts in its address bar (2 MB); beyond it a link cannot be opened by pasting.
pub const BROWSER_LIMIT_CHARS: usize = 2 * 1024 * 1024;

/// The base model a link was trained on: its name and the sha256 of its model.safetensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIdentity {
    pub name: String,
    pub sha256: String,
}

/// The metrics recorded when the run finished (None where there was no validation data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedMetrics {
    pub accuracy: Option<f64>,
    pub macro_f1: Option<f64>,
    pub val_loss: Option<f64>,
    /// A decoder's held-out perplexity (links made before decoders have none).
    #[serde(default)]
    pub perplexity: Option<f64>,
    pub trainable_params: usize,
    pub trainable_percent: f64,
    pub steps: usize,
}

impl RecordedMetrics {
    pub fn of(result: &MethodResult) -> Self {
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
        Self {
            accuracy: finite(result.accuracy),
            macro_f1: finite(result.macro_f1),
            val_loss: finite(result.val_loss),
            perplexity: None,
            trainable_params: result.trainable_params,
            trainable_percent: result.trainable_percent,
            steps: result.steps,
        }
    }
}

/// What a link carries besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkMeta {
    /// "peft-lab <version>"
    pub made_by: String,
    pub base_model: ModelIdentity,
    /// peft's task type: "SEQ_CLS" (a classifier) or "CAUSAL_LM" (a decoder); checked on opening.
    pub task: String,
    /// A classifier's labels; none for a decoder.
    pub labels: Vec<String>,
    pub method: MethodConfig,
    pub learning_rate: f64,
    pub train: TrainConfig,
    /// The dataset's file name (its rows stay with whoever trained).
    pub dataset: String,
    pub metrics: RecordedMetrics,
}

impl LinkMeta {
    /// What a link records of a finished run.
    pub fn for_run(
        base_model: ModelIdentity,
        labels: Vec<String>,
        result: &MethodResult,
        train: TrainConfig,
        dataset: String,
    ) -> Self {
        Self {
            made_by: super::made_by(),
            base_model,
            task: "SEQ_CLS".into(),
            labels,
            method: result.config.clone(),
            learning_rate: result.learning_rate,
            train,
            dataset,
            metrics: RecordedMetrics::of(result),
        }
    }

    pub fn run_info(&self) -> RunInfo {
        RunInfo { base_model: self.base_model.name.clone(), labels: self.labels.clone(), method: self.method.clone() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(
        "this link was made for the model {expected} (sha256 {expected_sha}…), but {found} (sha256 {found_sha}…) is loaded"
    )]
    WrongModel { expected: String, expected_sha: String, found: String, found_sha: String },
    #[error(
        "the link is for task {found}, made on {}; the model loaded here takes {expected} links",
        task_goes_on(found)
    )]
    Task { found: String, expected: &'static str },
    #[error("the link's labels are unusable: {0}")]
    Labels(String),
    #[error("the link's settings are unusable: {0}")]
    Settings(String),
    #[error("the link's tensors do not fit its method on this model: {0}")]
    Tensors(String),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("checking the link's accuracy failed: {0}")]
    Check(String),
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The link payload (what follows `#share=`) for a trained model.
pub async fn make<M: TunableModel<SidePaths>>(
    model: &M,
    meta: &LinkMeta,
    precision: Precision,
) -> Result<String, ShareError> {
    // Off autodiff, as in `peft::export`: no dropout in the shared tensors.
    let tensors = read_back(meta.method.tuner().adapter_tensors(&model.valid())).await?;
    Ok(codec::encode(meta, &tensors, precision)?)
}

/// Decodes a link (a URL, a fragment or a bare payload) and rebuilds its model on `base`, whose weights hash to
/// `base_sha256`.
pub fn open<B: AdapterBase>(
    base: &B,
    base_sha256: &str,
    link: &str,
    device: &burn::tensor::Device,
) -> Result<(B::Model, LinkMeta, Precision), ShareError> {
    let (meta, precision, tensors) = codec::decode::<LinkMeta>(link)?;
    // The task first: a link for another kind of model is that, whichever model it was made on.
    check_task::<B>(&meta)?;
    if meta.base_model.sha256 != base_sha256 {
        return Err(ShareError::WrongModel {
            expected: meta.base_model.name.clone(),
            expected_sha: meta.base_model.sha256.chars().take(12).collect(),
            found: base.name().to_string(),
            found_sha: base_sha256.chars().take(12).collect(),
        });
    }
    let model = rebuild(base, &meta, &tensors, device)?;
    Ok((model, meta, precision))
}

fn check_task<B: AdapterBase>(meta: &LinkMeta) -> Result<(), ShareError> {
    let expected = B::Model::TASK_TYPE;
    match meta.task == expected {
        true => Ok(()),
        false => Err(ShareError::Task { found: meta.task.clone(), expected }),
    }
}

/// The method of `meta` attached to a fresh model, its trainable tensors replaced by `tensors`, which must be exactly
/// the ones the method saves (names and shapes).
pub fn rebuild<B: AdapterBase>(
    base: &B,
    meta: &LinkMeta,
    tensors: &[SharedTensor],
    device: &burn::tensor::Device,
) -> Result<B::Model, ShareError> {
    check_task::<B>(meta)?;
    base.check_labels(&meta.labels).map_err(ShareError::Labels)?;
    meta.train.check().map_err(ShareError::Settings)?;
    base.check_max_length(meta.train.max_length, meta.method.virtual_tokens()).map_err(ShareError::Settings)?;
    // Attaching checks the method's settings (sizes included) before allocating its tensors.
    let info = meta.run_info();
    let model = base.attach_fresh(&info, meta.train.max_length, device)?;
    let method = info.method.tuner();
    let expected: Vec<(String, Vec<usize>)> =
        method.adapter_tensors(&model).into_iter().map(|t| (t.name, t.shape)).collect();
    for tensor in tensors {
        match expected.iter().find(|(name, _)| *name == tensor.name) {
            None => return Err(ShareError::Tensors(format!("'{}' is not a tensor of this method", tensor.name))),
            Some((_, shape)) if *shape != tensor.shape => {
                return Err(ShareError::Tensors(format!(
                    "'{}' has shape {:?}; the model needs {shape:?}",
                    tensor.name, tensor.shape
                )));
            }
            Some(_) => {}
        }
    }
    if let Some((missing, _)) = expected.iter().find(|(name, _)| !tensors.iter().any(|t| t.name == *name)) {
        return Err(ShareError::Tensors(format!("'{missing}' is missing")));
    }
    if tensors.len() != expected.len() {
        return Err(ShareError::Tensors("a tensor appears more than once".into()));
    }
    let bytes = safetensors_bytes(tensors)?;
    let adapter = Checkpoint::parse_adapter(&bytes).map_err(ImportError::from)?;
    Ok(method.load(model, &adapter).map_err(ImportError::from)?)
}

/// A link with the check of what its precision costs: the rebuilt (dequantised) model against the trained one on
/// the validation examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckedLink {
    /// What follows `#share=`.
    pub payload: String,
    pub precision: Precision,
    /// Validation accuracy of the trained (f32) model and of the model rebuilt from the link; None without
    /// validation examples.
    pub full_accuracy: Option<f64>,
    pub link_accuracy: Option<f64>,
    /// Fraction of validation examples on which both predict the same label.
    pub agreement: Option<f64>,
    /// A decoder's held-out perplexity, trained and rebuilt from the link; None for a classifier or without held-out
    /// examples.
    #[serde(default)]
    pub full_perplexity: Option<f64>,
    #[serde(default)]
    pub link_perplexity: Option<f64>,
}

impl CheckedLink {
    /// A link whose check is still to come.
    fn new(payload: String, precision: Precision) -> Self {
        Self {
            payload,
            precision,
            full_accuracy: None,
            link_accuracy: None,
            agreement: None,
            full_perplexity: None,
            link_perplexity: None,
        }
    }
}

/// The link's payload, and the model a receiver rebuilds from it (on `model`'s device).
async fn make_and_rebuild<B: AdapterBase>(
    base: &B,
    model: &B::Model,
    meta: &LinkMeta,
    precision: Precision,
) -> Result<(String, B::Model), ShareError> {
    let payload = make(model, meta, precision).await?;
    let (_, _, tensors) = codec::decode::<LinkMeta>(&payload)?;
    let rebuilt = rebuild(base, meta, &tensors, &model.device())?;
    Ok((payload, rebuilt))
}

/// Makes the link, rebuilds the model from it as a receiver would, and compares both on `val`.
pub async fn make_checked(
    pretrained: &Pretrained,
    model: &SequenceClassifier,
    meta: &LinkMeta,
    precision: Precision,
    val: &[TokenizedExample],
) -> Result<CheckedLink, ShareError> {
    let (payload, rebuilt) = make_and_rebuild(pretrained, model, meta, precision).await?;
    let mut checked = CheckedLink::new(payload, precision);
    if !val.is_empty() {
        let pad = pretrained.tokenizer.pad_id();
        let predictions = async |m: &SequenceClassifier| -> Result<Vec<usize>, ShareError> {
            let logits = logits(m, val, pad, 16).await.map_err(|e| ShareError::Check(e.to_string()))?;
            Ok(logits.chunks(m.num_labels()).map(argmax).collect())
        };
        let (full, shared) = (predictions(model).await?, predictions(&rebuilt).await?);
        let fraction = |hits: usize| hits as f64 / val.len() as f64;
        checked.full_accuracy = Some(fraction(full.iter().zip(val).filter(|(p, e)| **p == e.label).count()));
        checked.link_accuracy = Some(fraction(shared.iter().zip(val).filter(|(p, e)| **p == e.label).count()));
        checked.agreement = Some(fraction(full.iter().zip(&shared).filter(|(a, b)| a == b).count()));
    }
    Ok(checked)
}

/// A decoder's link, made and rebuilt as a receiver would; both models' perplexities on `val` (none where it is empty).
pub async fn make_checked_lm(
    base: &PretrainedDecoder,
    model: &CausalLm,
    meta: &LinkMeta,
    precision: Precision,
    val: &[LmExample],
) -> Result<CheckedLink, ShareError> {
    let (payload, rebuilt) = make_and_rebuild(base, model, meta, precision).await?;
    let mut checked = CheckedLink::new(payload, precision);
    if !val.is_empty() {
        let (pad_id, batch) = (base.tokenizer.pad_id(), meta.train.batch_size);
        let perplexity = async |m| match evaluate_lm(m, val, pad_id, batch).await {
            Ok(metrics) => Ok(metrics.perplexity),
            Err(e) => Err(ShareError::Check(e.to_string())),
        };
        checked.full_perplexity = Some(perplexity(model).await?);
        checked.link_perplexity = Some(perplexity(&rebuilt).await?);
    }
    Ok(checked)
}
