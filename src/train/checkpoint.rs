//! A run's checkpoint: what a run that stopped (a killed process, a reloaded tab, a lost GPU) needs to go on as if
//! it never had: the trainable tensors and AdamW's moments by their path in the module, the step, the permutation and
//! generator state its epoch drew batches from, and the curves so far. Dropout masks are seeded by the step
//! (`model::dropout`), so the steps after a resume are the steps the uninterrupted run took.
//!
//! One safetensors file: the tensors as `param/PATH`, `adam_m/PATH` and `adam_v/PATH`, the rest as JSON in the
//! metadata. It is read back asynchronously (the browser cannot read a tensor synchronously).

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use super::optim::{AdamW, Moments};
use super::param_path::{MapByPath, VisitByPath, map_by_path, visit_by_path};
use super::{TrainConfig, TrainError};
use crate::method::MethodConfig;

/// The file's format, written into it: a later layout gets a new number, and an older file is refused by name.
pub const FORMAT: u32 = 1;
const METADATA_KEY: &str = "peft_lab_checkpoint";

/// Where a run's checkpoints go and come from (a folder natively, the browser's storage in the page).
pub trait CheckpointStore {
    /// Steps between two checkpoints of a run of `total_steps`. An epoch's last step is saved after its evaluation
    /// (when that many steps have passed), and the run's end always is.
    fn every(&self, total_steps: usize) -> usize;
    /// The checkpoint to resume the run named `label` from, if it is to be resumed and one was saved; read when the
    /// run starts (in the page, from the browser's storage), so that only one run's is in memory at a time.
    fn load<'a>(&'a mut self, label: &'a str) -> Loading<'a>;
    /// A checkpoint of `label` that cannot resume its run (`why`: damaged, of other settings or another model):
    /// `true` starts the run afresh (where resuming was the store's own idea, as in the page after a reload; the store
    /// says so where it can), `false` fails the run with `why` (where a person asked to resume).
    fn start_afresh(&mut self, label: &str, why: &str) -> bool;
    /// Keeps `checkpoint` as the run's latest; the run waits for it (in the page, for the browser's storage). The
    /// store reports what happened: a failed save does not stop the run.
    fn save<'a>(&'a mut self, label: &'a str, checkpoint: TrainingCheckpoint) -> Saving<'a>;
}

/// A save in progress.
pub type Saving<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;
/// A checkpoint being read.
pub type Loading<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<TrainingCheckpoint>, String>> + 'a>>;

/// What a checkpoint must match to resume a run: the same run on the same training examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunIdentity {
    pub label: String,
    pub method: MethodConfig,
    pub learning_rate: f64,
    pub config: TrainConfig,
    pub examples: usize,
    /// FNV-1a of the training examples' tokens and labels, in hex.
    pub data_digest: String,
}

impl RunIdentity {
    /// Why a checkpoint of `saved` cannot resume this run, naming what differs; `None` when it can.
    pub fn mismatch(&self, saved: &RunIdentity) -> Option<String> {
        let differs = if saved.label != self.label {
            format!("it is of {}, not {}", saved.label, self.label)
        } else if saved.method != self.method {
            let json = |m: &MethodConfig| serde_json::to_string(m).expect("settings serialise");
            format!("its method's settings differ ({}; now {})", json(&saved.method), json(&self.method))
        } else if saved.config != self.config {
            format!("its budget differs ({:?}; now {:?})", saved.config, self.config)
        } else if saved.learning_rate != self.learning_rate {
            format!("its learning rate was {:.2e}, now {:.2e}", saved.learning_rate, self.learning_rate)
        } else if saved.examples != self.examples || saved.data_digest != self.data_digest {
            format!("it trained on other data ({} training examples; now {})", saved.examples, self.examples)
        } else {
            return None;
        };
        Some(format!("the checkpoint cannot resume this run: {differs}"))
    }
}

/// FNV-1a over 64-bit words: a fingerprint of the training data, not a cryptographic hash.
pub struct DataDigest(u64);

impl DataDigest {
    pub fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub fn add(&mut self, value: u64) {
        for byte in value.to_le_bytes() {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

impl Default for DataDigest {
    fn default() -> Self {
        Self::new()
    }
}

/// How far a run got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub step: usize,
    /// Epochs finished.
    pub epoch: usize,
    /// The permutation and the generator state the epoch in progress drew its batches from.
    pub epoch_order: Vec<usize>,
    pub epoch_rng: u64,
    /// Batches of that epoch already trained.
    pub batches_done: usize,
    pub losses: Vec<f32>,
    /// After each finished epoch: the step and the task's held-out figures, as JSON.
    pub evaluations: Vec<(usize, serde_json::Value)>,
    pub first_step_seconds: f64,
    pub later_seconds: f64,
}

impl Progress {
    /// A run that has not begun: the examples in `order`, the generator at `seed`.
    pub fn start(order: Vec<usize>, seed: u64) -> Self {
        Self {
            step: 0,
            epoch: 0,
            epoch_order: order,
            epoch_rng: seed,
            batches_done: 0,
            losses: Vec::new(),
            evaluations: Vec::new(),
            first_step_seconds: 0.0,
            later_seconds: 0.0,
        }
    }
}

/// A tensor read back: its path in the module, its shape and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedTensor {
    pub path: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A parameter's AdamW state read back.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedMoments {
    pub path: String,
    pub updates: u32,
    pub first: Vec<f32>,
    pub second: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainingCheckpoint {
    pub run: RunIdentity,
    pub progress: Progress,
    /// Every trainable parameter.
    pub params: Vec<SavedTensor>,
    pub moments: Vec<SavedMoments>,
}

#[derive(Serialize, Deserialize)]
struct Metadata {
    format: u32,
    run: RunIdentity,
    progress: Progress,
    /// AdamW's update count per parameter path.
    updates: BTreeMap<String, u32>,
}

async fn read_back(what: &str, tensor: Tensor<1>) -> Result<Vec<f32>, TrainError> {
    let data = tensor.into_data_async().await.map_err(|e| match TrainError::read_back("checkpoint read-back", e) {
        TrainError::Device(part, e) => TrainError::Device(part, format!("{what}: {e}")),
        lost => lost,
    })?;
    data.try_to_vec::<f32>().map_err(|e| TrainError::Device("checkpoint read-back", format!("{what}: {e:?}")))
}

/// The trainable parameters of a module, each with its path and shape, flattened.
struct Trainable(Vec<(String, Vec<usize>, Tensor<1>)>);

impl VisitByPath for Trainable {
    fn visit<const D: usize>(&mut self, path: &str, param: &Param<Tensor<D>>) {
        let value = param.val();
        if value.is_require_grad() {
            let shape = value.dims().to_vec();
            let flat = value.inner().reshape([shape.iter().product::<usize>()]);
            self.0.push((path.to_string(), shape, flat));
        }
    }
}

/// The path and shape of each trainable parameter of a module.
struct TrainableShapes(Vec<(String, Vec<usize>)>);

impl VisitByPath for TrainableShapes {
    fn visit<const D: usize>(&mut self, path: &str, param: &Param<Tensor<D>>) {
        let value = param.val();
        if value.is_require_grad() {
            self.0.push((path.to_string(), value.dims().to_vec()));
        }
    }
}

/// Replaces each trainable parameter by the saved tensor of its path (which [`TrainingCheckpoint::misfit`] checked).
struct Restore<'a> {
    saved: HashMap<&'a str, &'a SavedTensor>,
    device: Device,
}

impl MapByPath for Restore<'_> {
    fn map<const D: usize>(&mut self, path: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        match self.saved.get(path).filter(|_| tensor.is_require_grad()) {
            Some(saved) => {
                let data = TensorData::new(saved.values.clone(), saved.shape.clone());
                Param::from_mapped_value(id, Tensor::<D>::from_data(data, &self.device).require_grad(), mapper)
            }
            None => Param::from_mapped_value(id, tensor, mapper),
        }
    }
}

impl TrainingCheckpoint {
    /// Reads the model's trainable parameters and the optimiser's moments back from the device.
    pub async fn capture<M: Module>(
        run: RunIdentity,
        progress: Progress,
        model: &M,
        optimizer: &AdamW,
    ) -> Result<Self, TrainError> {
        let mut trainable = Trainable(Vec::new());
        visit_by_path(model, &mut trainable);
        let mut params = Vec::with_capacity(trainable.0.len());
        for (path, shape, tensor) in trainable.0 {
            let values = read_back(&path, tensor).await?;
            params.push(SavedTensor { path, shape, values });
        }
        params.sort_by(|a, b| a.path.cmp(&b.path));
        let mut moments = Vec::with_capacity(optimizer.moments().len());
        for (path, Moments { updates, first, second }) in optimizer.moments() {
            let first = read_back(path, first.clone()).await?;
            let second = read_back(path, second.clone()).await?;
            moments.push(SavedMoments { path: path.clone(), updates: *updates, first, second });
        }
        Ok(Self { run, progress, params, moments })
    }

    /// Why this checkpoint cannot restore `model`: tensors that do not match its trainable parameters one for one,
    /// or optimiser state that does not fit them; `None` when it can.
    pub fn misfit<M: Module>(&self, model: &M) -> Option<String> {
        let mut trainable = TrainableShapes(Vec::new());
        visit_by_path(model, &mut trainable);
        let mut saved: HashMap<&str, &SavedTensor> = self.params.iter().map(|t| (t.path.as_str(), t)).collect();
        let mut errors = Vec::new();
        for (path, shape) in &trainable.0 {
            match saved.remove(path.as_str()) {
                None => errors.push(format!("{path} is trained here but not in the checkpoint")),
                Some(t) if t.shape != *shape => {
                    errors.push(format!("{path} is {:?} in the checkpoint, {shape:?} here", t.shape))
                }
                Some(_) => {}
            }
        }
        errors.extend(saved.keys().map(|path| format!("{path} is in the checkpoint but not trained here")));
        let sizes: HashMap<&str, usize> = self.params.iter().map(|t| (t.path.as_str(), t.values.len())).collect();
        for m in &self.moments {
            if sizes.get(m.path.as_str()).is_none_or(|&n| m.first.len() != n || m.second.len() != n) {
                errors.push(format!("the optimiser's state of {} does not fit its tensor", m.path));
            }
        }
        errors.sort();
        (!errors.is_empty()).then(|| format!("the checkpoint does not fit this model: {}", errors.join("; ")))
    }

    /// `model` with its trainable parameters as saved, and the optimiser as it was, on `device`; refused (with the
    /// model given back) where [`Self::misfit`] says why.
    pub fn restore<M: Module>(&self, model: M, weight_decay: f64, device: &Device) -> Result<(M, AdamW), (M, String)> {
        if let Some(why) = self.misfit(&model) {
            return Err((model, why));
        }
        let saved = self.params.iter().map(|t| (t.path.as_str(), t)).collect();
        let model = map_by_path(model, &mut Restore { saved, device: device.clone() });
        let moments = self
            .moments
            .iter()
            .map(|m| {
                let tensor =
                    |values: &[f32]| Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), device);
                let moments = Moments { updates: m.updates, first: tensor(&m.first), second: tensor(&m.second) };
                (m.path.clone(), moments)
            })
            .collect();
        Ok((model, AdamW::with_moments(weight_decay, moments)))
    }

    /// The safetensors file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let updates = self.moments.iter().map(|m| (m.path.clone(), m.updates)).collect();
        let metadata = Metadata { format: FORMAT, run: self.run.clone(), progress: self.progress.clone(), updates };
        let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        let bytes = |values: &[f32]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        for t in &self.params {
            named.push((format!("param/{}", t.path), t.shape.clone(), bytes(&t.values)));
        }
        for m in &self.moments {
            named.push((format!("adam_m/{}", m.path), vec![m.first.len()], bytes(&m.first)));
            named.push((format!("adam_v/{}", m.path), vec![m.second.len()], bytes(&m.second)));
        }
        let views = named.iter().map(|(name, shape, data)| {
            (name.clone(), TensorView::new(Dtype::F32, shape.clone(), data).expect("the shape fits the values"))
        });
        let metadata = serde_json::to_string(&metadata).expect("plain data serialises");
        safetensors::tensor::serialize(views, Some(HashMap::from([(METADATA_KEY.to_string(), metadata)])))
            .expect("f32 tensors serialise")
    }

    /// Reads a file written by [`to_bytes`](Self::to_bytes), refusing anything else with what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let not_one = |why: String| format!("not a peft-lab checkpoint ({why})");
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| not_one(e.to_string()))?;
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| not_one("a safetensors file without the checkpoint's metadata".into()))?;
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let format: Format = serde_json::from_str(json).map_err(|e| not_one(e.to_string()))?;
        if format.format != FORMAT {
            return Err(format!(
                "the checkpoint is of format {}; this version reads format {FORMAT} (train again without resuming)",
                format.format
            ));
        }
        let metadata: Metadata = serde_json::from_str(json).map_err(|e| not_one(e.to_string()))?;
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| not_one(e.to_string()))?;
        let values = |name: &str| -> Result<(Vec<usize>, Vec<f32>), String> {
            let view = tensors.tensor(name).map_err(|_| format!("the checkpoint lacks {name}: the file is damaged"))?;
            if view.dtype() != Dtype::F32 {
                return Err(format!("{name} is {:?} in the checkpoint, not F32: the file is damaged", view.dtype()));
            }
            let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            Ok((view.shape().to_vec(), values))
        };
        let mut params = Vec::new();
        for name in tensors.names() {
            if let Some(path) = name.strip_prefix("param/") {
                let (shape, values) = values(name)?;
                params.push(SavedTensor { path: path.to_string(), shape, values });
            }
        }
        params.sort_by(|a, b| a.path.cmp(&b.path));
        let mut moments = Vec::with_capacity(metadata.updates.len());
        for (path, updates) in metadata.updates {
            let (_, first) = values(&format!("adam_m/{path}"))?;
            let (_, second) = values(&format!("adam_v/{path}"))?;
            moments.push(SavedMoments { path, updates, first, second });
        }
        Ok(Self { run: metadata.run, progress: metadata.progress, params, moments })
    }
}
