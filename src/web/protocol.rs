//! The typed messages between the page and the training worker (serialised with serde-wasm-bindgen, so byte
//! buffers travel as `Uint8Array`s and NaN metrics stay NaN).

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Summary};
use crate::method::MethodConfig;
use crate::model::generate::GenerationSettings;
use crate::session::compare::{ComparePlan, SearchOutcome, Unit};
use crate::session::lm::LmResult;
use crate::session::memory::ModelShape;
use crate::share::link::{CheckedLink, LinkMeta, Precision};
/// Adapter files travel in messages as the engine writes them.
pub use crate::share::peft::AdapterFiles;
use crate::train::{MethodResult, TrainConfig, TrainEvent};

/// Where the model's three files come from: a URL prefix ending in `/` (the embedded default is
/// `models/<name>/`), or the files themselves when the user picked them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSource {
    pub name: String,
    pub base_url: String,
    pub files: Option<ModelFiles>,
}

/// config.json, model.safetensors and tokenizer.json, read from disk by the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFiles {
    #[serde(with = "serde_bytes")]
    pub config: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub weights: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub tokenizer: Vec<u8>,
}

/// Everything a comparison needs; the dataset is already parsed and labelled by the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareJob {
    /// The comparison's id (its start time): a share request for one of its runs gets the accuracy check on
    /// its validation split.
    pub comparison: u64,
    pub dataset: Dataset,
    pub val_fraction: f64,
    /// `None`: no test part, and the table reports validation figures.
    pub test_fraction: Option<f64>,
    /// The methods, seeds, budget and searches; the split is drawn with the budget's seed.
    pub plan: ComparePlan,
    /// How many units (a search, or one seed's run) may train at once, each in its own worker, when training on the
    /// CPU (one wasm thread a worker); WebGPU runs them one after another on its one device.
    pub parallel_workers: usize,
    /// Go on from the comparison's checkpoints (after a reload) rather than start afresh.
    #[serde(default)]
    pub resume: bool,
    /// Planned (and its memory checked) for the CPU: it trains there even where the worker has moved to WebGPU since
    /// (a GPU timed in the background).
    #[serde(default)]
    pub planned_on_cpu: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Load the model and pick the backend: with `Auto`, the CPU at once and a GPU, timed in the background, where it
    /// is the faster.
    Start {
        model: ModelSource,
        backend: BackendChoice,
        /// Test-only (`?test-gpu=`): the browser tests have no GPU.
        test_gpu: Option<TestGpu>,
    },
    /// Token-length statistics of a dataset under the loaded tokenizer.
    Summarize {
        request: u64,
        dataset: Dataset,
        max_length: usize,
    },
    Compare(CompareJob),
    /// One unit of a comparison, for a helper worker: a search, or a run at `learning_rate`.
    RunUnit {
        job: Box<CompareJob>,
        unit: Unit,
        learning_rate: f64,
    },
    /// Classify `text` with every method trained since the worker started.
    Predict {
        request: u64,
        text: String,
    },
    /// A share link for a finished run (rebuilt from its stored files).
    Share {
        request: u64,
        run: Box<RunToShare>,
        precision: Precision,
    },
    /// Rebuild the run a link carries on the loaded model and add it to "try it".
    OpenLink {
        request: u64,
        link: String,
    },
    /// Load adapter files (ours, or saved by Python's peft) on the loaded model and add them to "try it".
    Import {
        request: u64,
        name: String,
        config_json: String,
        #[serde(with = "serde_bytes")]
        weights: Vec<u8>,
        /// peft_lab.json, when the files come from peft-lab.
        run_info_json: Option<String>,
    },
    /// Fine-tune a decoder with one method on a dataset (text, prompt→completion or chat records): the decoder
    /// generation then uses.
    FineTuneDecoder(Box<DecoderJob>),
    /// Continue `prompt` with the fine-tuned decoder, the text streamed as it comes.
    Generate {
        request: u64,
        prompt: String,
        /// Put the prompt in the model's chat template as a user's message.
        chat: bool,
        settings: GenerationSettings,
    },
    /// Test-only: destroys the WebGPU device training runs on, as a driver reset would.
    LoseGpuForTest,
    /// LoRA or DoRA folded into the base weights, for download.
    Merge {
        request: u64,
        /// The model the run was trained on: it must be the loaded one.
        model: String,
        adapter: AdapterFiles,
    },
}

/// A decoder's files as the page read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DecoderFiles {
    /// One GGUF file: weights, tokenizer and chat template.
    Gguf {
        name: String,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// A Hugging Face folder's config.json, model.safetensors and tokenizer.json.
    HuggingFace {
        name: String,
        #[serde(with = "serde_bytes")]
        config: Vec<u8>,
        #[serde(with = "serde_bytes")]
        weights: Vec<u8>,
        #[serde(with = "serde_bytes")]
        tokenizer: Vec<u8>,
    },
}

/// One decoder fine-tuning: the model, the data file, the method and the budget; `val_fraction` of the examples is
/// held out (seeded by the budget's seed) for perplexity and samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecoderJob {
    pub request: u64,
    pub model: DecoderFiles,
    pub data_name: String,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    pub method: MethodConfig,
    pub learning_rate: f64,
    pub config: TrainConfig,
    pub val_fraction: f64,
    /// Make a share link of the trained adapter at this precision (checked on the held-out part).
    #[serde(default)]
    pub share_link: Option<Precision>,
}

/// A finished run as the page stored it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunToShare {
    pub comparison: u64,
    /// The model the run was trained on: it must be the loaded one.
    pub model: String,
    pub dataset: String,
    pub config: TrainConfig,
    pub result: MethodResult,
    pub adapter: AdapterFiles,
}

/// Which backend the person asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BackendChoice {
    /// The faster of WebGPU and the CPU, timed when the model loads.
    #[default]
    Auto,
    WebGpu,
    Cpu,
}

impl BackendChoice {
    /// The value in the page's address (`?backend=`) and its picker.
    pub const ALL: [(BackendChoice, &'static str, &'static str); 3] = [
        (BackendChoice::Auto, "auto", "the faster, timed"),
        (BackendChoice::WebGpu, "webgpu", "WebGPU"),
        (BackendChoice::Cpu, "cpu", "the CPU"),
    ];

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, k, _)| *k == key).map(|(c, ..)| *c)
    }
}

/// How the browser tests, which have only a software adapter, have it taken for a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum TestGpu {
    /// `?test-gpu=hardware`: timed in the background as a GPU is.
    Hardware,
    /// `?test-gpu=faster`: timed on the full batch only, and taken as the faster whatever its figure (to test the
    /// move to WebGPU).
    Faster,
}

impl TestGpu {
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "hardware" => Some(Self::Hardware),
            "faster" => Some(Self::Faster),
            _ => None,
        }
    }
}

/// One backend's timed training step: the CPU's when the model loaded, a GPU's in the background after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendTiming {
    /// "WebGPU" or "CPU".
    pub backend: String,
    /// Seconds per step after the first; `None` when the timing was stopped or failed (`note` says why).
    pub seconds_per_step: Option<f64>,
    pub note: Option<String>,
    /// Being timed in the background (or waiting to be, while training runs) while the CPU trains.
    pub pending: bool,
}

/// The compute backend the worker trains on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// "WebGPU" or "CPU (WebAssembly SIMD)".
    pub kind: String,
    pub gpu: bool,
    /// The adapter's name and driver, e.g. "SwiftShader Device (Subzero)".
    pub adapter: String,
    /// A software WebGPU adapter (the browser's fallback, e.g. SwiftShader): it runs on the CPU, slowly.
    pub software: bool,
    /// What was timed to choose (empty when the person chose, or only one backend was there) and how it was timed.
    pub timings: Vec<BackendTiming>,
    pub timed_shape: Option<String>,
    pub max_storage_binding_mib: Option<u64>,
    pub max_buffer_mib: Option<u64>,
    /// Why the CPU is used, when WebGPU was wanted.
    pub fallback_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub layers: usize,
    pub hidden_size: usize,
    pub vocab_size: usize,
    pub parameters: usize,
    pub weight_bytes: usize,
    /// What training memory follows, for the estimate before a comparison.
    pub shape: ModelShape,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelProbability {
    pub label: String,
    pub probability: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodPrediction {
    pub method: String,
    /// Every label, most probable first.
    pub ranked: Vec<LabelProbability>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    Backend(BackendInfo),
    ModelProgress {
        loaded: u64,
        total: Option<u64>,
    },
    ModelReady(ModelInfo),
    ModelFailed(String),
    /// The page keeps only the answer to its latest `Summarize` (the data or the max length changed since).
    Summary {
        request: u64,
        summary: Summary,
    },
    SummaryFailed {
        request: u64,
        error: String,
    },
    /// A unit of the comparison starts: a method's search or one seed's run (methods by their index in the plan).
    UnitStarted {
        unit: Unit,
        total_steps: usize,
    },
    Progress {
        unit: Unit,
        event: TrainEvent,
    },
    RunFinished {
        method: usize,
        result: MethodResult,
        adapter: AdapterFiles,
    },
    SearchFinished {
        method: usize,
        outcome: SearchOutcome,
    },
    UnitFailed {
        unit: Unit,
        error: String,
    },
    /// A run's checkpoint at `step` is stored: a reload goes on from there.
    CheckpointSaved {
        unit: Unit,
        step: usize,
    },
    /// The browser's storage refused it; the run goes on.
    CheckpointFailed {
        unit: Unit,
        step: usize,
        error: String,
    },
    /// Every unit of the comparison (or of a helper's unit) finished or failed.
    CompareFinished,
    Prediction {
        request: u64,
        predictions: Vec<MethodPrediction>,
    },
    Shared {
        request: u64,
        link: CheckedLink,
    },
    /// A link opened: its run is ready to try under `method`.
    LinkOpened {
        request: u64,
        method: String,
        meta: LinkMeta,
        precision: Precision,
    },
    /// Adapter files loaded: ready to try under `method`.
    Imported {
        request: u64,
        method: String,
        labels: Vec<String>,
    },
    Merged {
        request: u64,
        config_json: String,
        #[serde(with = "serde_bytes")]
        weights: Vec<u8>,
    },
    /// A decoder job's step, or its held-out figures and samples (the base model's first, at step 0).
    DecoderProgress {
        request: u64,
        event: TrainEvent,
    },
    DecoderTrained {
        request: u64,
        result: LmResult,
        adapter: AdapterFiles,
        /// The share link, where the job asked for one.
        link: Option<CheckedLink>,
    },
    /// A piece of generated text, whole characters only.
    GeneratedText {
        request: u64,
        text: String,
    },
    /// The generation ended: how many tokens it made and why it stopped.
    Generated {
        request: u64,
        new_tokens: usize,
        finish: String,
    },
    /// A request failed; nothing else changed.
    ShareFailed {
        request: u64,
        error: String,
    },
    DecoderFailed {
        request: u64,
        error: String,
    },
    GenerateFailed {
        request: u64,
        error: String,
    },
    LinkFailed {
        request: u64,
        error: String,
    },
    ImportFailed {
        request: u64,
        name: String,
        error: String,
    },
    MergeFailed {
        request: u64,
        error: String,
    },
    /// The WebGPU device was lost mid-run: the comparison stopped, its runs' checkpoints kept.
    GpuLost {
        reason: String,
    },
    /// Anything else that went wrong (a malformed message).
    Error(String),
    /// Something the person should know that went wrong without stopping anything (a run starts again).
    Notice(String),
    /// The worker panicked and cannot go on.
    Crashed(String),
}

/// The kinds of request the page asks the worker: of each, only the latest one's answer is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequestKind {
    Summary,
    Prediction,
    Share,
    OpenLink,
    Import,
    Merge,
}

impl FromWorker {
    /// The request this message answers, for those that answer one the page sent (the decoder's jobs are driven
    /// by their own caller).
    pub fn answers(&self) -> Option<(RequestKind, u64)> {
        use RequestKind as Kind;
        Some(match *self {
            Self::Summary { request, .. } | Self::SummaryFailed { request, .. } => (Kind::Summary, request),
            Self::Prediction { request, .. } => (Kind::Prediction, request),
            Self::Shared { request, .. } | Self::ShareFailed { request, .. } => (Kind::Share, request),
            Self::LinkOpened { request, .. } | Self::LinkFailed { request, .. } => (Kind::OpenLink, request),
            Self::Imported { request, .. } | Self::ImportFailed { request, .. } => (Kind::Import, request),
            Self::Merged { request, .. } | Self::MergeFailed { request, .. } => (Kind::Merge, request),
            _ => return None,
        })
    }
}
