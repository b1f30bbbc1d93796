//! The training worker: owns the device, the model and the trained methods; answers the page's messages.
//! Cancelling is the page terminating this worker, which is immediate even in the middle of a GPU step.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::rc::Rc;

use burn::module::Module;
use burn::tensor::Device;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Response};

use super::pool;
use super::protocol::*;
use super::to_page::{post, scope};
use super::worker_backend::{self, CPU_CHOSEN, Job, SharedBackend, cpu_info, webgpu};
use super::worker_checkpoints::BrowserCheckpoints;
use super::worker_decoder;
use super::{MAX_MODEL_BYTES, buffer_bytes, fetch, js_error, model_too_big};
use crate::data::batch::TokenizedExample;
use crate::data::{Dataset, Summary};
use crate::method::SequenceClassifier;
use crate::model::Pretrained;
use crate::session::compare::{ComparePlan, SearchOutcome, Unit};
use crate::session::memory::ModelShape;
use crate::session::{self, ComparisonHost, HeldOut, OpenedRun, RunRecord, SeedUnit, TrainedMethod, predict};
use crate::share::link::{CheckedLink, LinkMeta, Precision, sha256_hex};
use crate::share::merged::{MergedModel, export_merged};
use crate::share::peft::RunInfo;
use crate::train::{CheckpointStore, Host, PreparedData, TrainEvent};

/// A method trained since the worker started, kept for "try it".
struct TrainedModel {
    /// Trained by a comparison (replaced by the next one), not opened from a link or files.
    from_comparison: bool,
    method: String,
    /// The run's seed, for a run of a comparison.
    seed: Option<u64>,
    model: SequenceClassifier,
    labels: Vec<String>,
    max_length: usize,
}

#[derive(Default)]
struct State {
    backend: Option<SharedBackend>,
    /// Where the model came from, for helper workers.
    source: Option<ModelSource>,
    pretrained: Option<Rc<Pretrained>>,
    /// sha256 of the loaded model.safetensors, computed when a link first needs it.
    model_sha256: Option<String>,
    trained: Vec<Rc<TrainedModel>>,
    /// The last comparison's id and validation examples, for checking its runs' links.
    validation: Option<(u64, Rc<Vec<TokenizedExample>>)>,
    /// In a helper worker: the id and data of the comparison whose units it runs, tokenised for its first unit.
    unit_data: Option<(u64, Rc<PreparedData>)>,
    /// The decoder the last decoder job fine-tuned, which generation uses.
    decoder: Option<Rc<worker_decoder::LoadedDecoder>>,
}

impl State {
    fn loaded(&self) -> Result<(Rc<Pretrained>, Device), String> {
        match (&self.pretrained, &self.backend) {
            (Some(pretrained), Some(backend)) => Ok((pretrained.clone(), backend.borrow().device.clone())),
            _ => Err("the model is not loaded yet".into()),
        }
    }

    /// Marks a training job running while the result lives (see [`Job`]).
    fn job(&self) -> Option<Job> {
        self.backend.as_ref().map(Job::start)
    }
}

/// Installs the message handler; each message runs as its own task.
pub fn run() {
    let state = Rc::new(RefCell::new(State::default()));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        match serde_wasm_bindgen::from_value::<ToWorker>(event.data()) {
            Ok(message) => wasm_bindgen_futures::spawn_local(handle(message, state.clone())),
            Err(e) => post(&FromWorker::Error(format!("the worker got an unreadable message: {e}"))),
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
}

async fn handle(message: ToWorker, state: Rc<RefCell<State>>) {
    if let Some(backend) = &state.borrow().backend {
        worker_backend::interrupt(backend);
    }
    match message {
        ToWorker::Start { model, backend, test_gpu } => {
            let gpu = match backend {
                BackendChoice::Cpu => Err(CPU_CHOSEN.to_string()),
                _ => webgpu().await,
            };
            state.borrow_mut().source = Some(model.clone());
            let pretrained = match load_model(model).await {
                Ok(pretrained) => Rc::new(pretrained),
                Err(e) => {
                    post(&FromWorker::Backend(match gpu {
                        Ok(gpu) => gpu.info(Vec::new()),
                        Err(reason) => cpu_info(Some(reason), Vec::new()),
                    }));
                    return post(&FromWorker::ModelFailed(e));
                }
            };
            let backend = worker_backend::start(&pretrained, backend, gpu, test_gpu).await;
            let mut state = state.borrow_mut();
            state.backend = Some(backend);
            post(&FromWorker::ModelReady(model_info(&pretrained)));
            state.pretrained = Some(pretrained);
        }
        ToWorker::Summarize { request, dataset, max_length } => {
            let message = match summarize(&state, &dataset, max_length) {
                Ok(summary) => FromWorker::Summary { request, summary },
                Err(error) => FromWorker::SummaryFailed { request, error },
            };
            post(&message);
        }
        ToWorker::Compare(job) => {
            let _job = state.borrow().job();
            if let Err(e) = compare(&state, job).await {
                post(&FromWorker::Error(e));
            }
            post(&FromWorker::CompareFinished);
        }
        ToWorker::RunUnit { job, unit, learning_rate } => {
            if let Err(error) = run_unit(&state, &job, unit, learning_rate).await {
                post(&FromWorker::UnitFailed { unit, error });
            }
            post(&FromWorker::CompareFinished);
        }
        ToWorker::LoseGpuForTest => {
            if let Some(gpu) = state.borrow().backend.as_ref().and_then(|b| b.borrow().webgpu.clone()) {
                gpu.destroy();
            }
        }
        ToWorker::Predict { request, text } => {
            let trained = state.borrow().trained.clone();
            let pretrained = state.borrow().pretrained.clone();
            let mut predictions = Vec::new();
            if let Some(pretrained) = pretrained {
                for t in trained {
                    match predict(&t.model, &pretrained.tokenizer, &[text.as_str()], t.max_length).await {
                        Ok(probabilities) => predictions.push(rank(&t.method, &t.labels, &probabilities[0])),
                        Err(e) => post(&FromWorker::Error(format!("{}: {e}", t.method))),
                    }
                }
            }
            post(&FromWorker::Prediction { request, predictions });
        }
        ToWorker::Share { request, run, precision } => {
            post(&match share(&state, *run, precision).await {
                Ok(link) => FromWorker::Shared { request, link },
                Err(error) => FromWorker::ShareFailed { request, error },
            });
        }
        ToWorker::OpenLink { request, link } => {
            post(&match open_link(&state, &link) {
                Ok((method, meta, precision)) => FromWorker::LinkOpened { request, method, meta, precision },
                Err(error) => FromWorker::LinkFailed { request, error },
            });
        }
        ToWorker::Import { request, name, config_json, weights, run_info_json } => {
            let imported = state.borrow().loaded().and_then(|(pretrained, device)| {
                session::open_files(&pretrained, &config_json, &weights, run_info_json.as_deref(), &device)
                    .map_err(|e| e.to_string())
            });
            post(&match imported {
                Ok(run) => {
                    let method = format!("{} ({name})", run.info.method.label());
                    let labels = run.info.labels.clone();
                    keep_for_trying(&state, &method, run);
                    FromWorker::Imported { request, method, labels }
                }
                Err(error) => FromWorker::ImportFailed { request, name, error },
            });
        }
        ToWorker::FineTuneDecoder(job) => {
            let request = job.request;
            // The backend chosen when a model was loaded, else the CPU.
            let device = state.borrow().backend.as_ref().map_or_else(crate::device::cpu, |b| b.borrow().device.clone());
            let _job = state.borrow().job();
            match worker_decoder::fine_tune(*job, device).await {
                Ok(decoder) => state.borrow_mut().decoder = Some(Rc::new(decoder)),
                Err(error) => post(&FromWorker::DecoderFailed { request, error }),
            }
        }
        ToWorker::Generate { request, prompt, chat, settings } => {
            let decoder = state.borrow().decoder.clone();
            let generated = match decoder {
                Some(decoder) => worker_decoder::generate(request, &decoder, &prompt, chat, settings).await,
                None => Err("no decoder is loaded: fine-tune one first".into()),
            };
            if let Err(error) = generated {
                post(&FromWorker::GenerateFailed { request, error });
            }
        }
        ToWorker::Merge { request, model, adapter } => {
            post(&match merge(&state, &model, adapter).await {
                Ok(merged) => FromWorker::Merged { request, config_json: merged.config_json, weights: merged.weights },
                Err(error) => FromWorker::MergeFailed { request, error },
            });
        }
    }
}

/// The stored files of a finished run, rebuilt on the loaded model, which must be the one it was trained on.
fn rebuild_run(
    state: &Rc<RefCell<State>>,
    model: &str,
    adapter: &AdapterFiles,
) -> Result<(SequenceClassifier, RunInfo), String> {
    let (pretrained, device) = state.borrow().loaded()?;
    if pretrained.name != model {
        return Err(format!("this run was trained on {model}, and {} is loaded: load {model} first", pretrained.name));
    }
    let run =
        session::open_files(&pretrained, &adapter.config_json, &adapter.weights, Some(&adapter.run_info_json), &device)
            .map_err(|e| e.to_string())?;
    Ok((run.model, run.info))
}

fn model_sha256(state: &Rc<RefCell<State>>, pretrained: &Pretrained) -> String {
    let known = state.borrow().model_sha256.clone();
    known.unwrap_or_else(|| {
        let sha = sha256_hex(&pretrained.weights);
        state.borrow_mut().model_sha256 = Some(sha.clone());
        sha
    })
}

async fn share(state: &Rc<RefCell<State>>, run: RunToShare, precision: Precision) -> Result<CheckedLink, String> {
    let (pretrained, _) = state.borrow().loaded()?;
    let validation = state.borrow().validation.clone();
    let val = validation.filter(|(comparison, _)| *comparison == run.comparison).map(|(_, val)| val);
    // A run of the comparison this worker holds is shared from the model in memory; others from their stored files.
    let held = val.as_ref().and_then(|_| {
        let state = state.borrow();
        let same = |t: &&Rc<TrainedModel>| t.method == run.result.method && t.seed == Some(run.result.seed);
        state.trained.iter().find(|t| t.from_comparison && same(t)).cloned()
    });
    let (model, labels) = match held {
        Some(trained) => (trained.model.clone(), trained.labels.clone()),
        None => rebuild_run(state, &run.model, &run.adapter).map(|(model, info)| (model, info.labels))?,
    };
    let record = RunRecord { labels, result: &run.result, config: run.config, dataset: run.dataset };
    let sha = model_sha256(state, &pretrained);
    session::make_link(&pretrained, sha, &model, record, precision, val.as_deref().map_or(&[], Vec::as_slice))
        .await
        .map_err(|e| e.to_string())
}

fn open_link(state: &Rc<RefCell<State>>, link: &str) -> Result<(String, LinkMeta, Precision), String> {
    let (pretrained, device) = state.borrow().loaded()?;
    let sha = model_sha256(state, &pretrained);
    let (run, meta, precision) = session::open_link(&pretrained, &sha, link, &device).map_err(|e| e.to_string())?;
    let method = format!("{} (shared)", meta.method.label());
    keep_for_trying(state, &method, run);
    Ok((method, meta, precision))
}

/// Adds a run opened from a link or files to "try it"; one of the same name (opened again) is replaced.
fn keep_for_trying(state: &Rc<RefCell<State>>, method: &str, run: OpenedRun) {
    let mut state = state.borrow_mut();
    state.trained.retain(|t| t.method != method);
    let OpenedRun { model, info, max_length } = run;
    let method = method.to_string();
    let trained = TrainedModel { from_comparison: false, method, seed: None, model, labels: info.labels, max_length };
    state.trained.push(Rc::new(trained));
}

async fn merge(state: &Rc<RefCell<State>>, model: &str, adapter: AdapterFiles) -> Result<MergedModel, String> {
    let (model, info) = rebuild_run(state, model, &adapter)?;
    export_merged(model, &info.labels).await.map_err(|e| e.to_string())
}

fn rank(method: &str, labels: &[String], probabilities: &[f64]) -> MethodPrediction {
    let mut ranked: Vec<LabelProbability> = labels
        .iter()
        .zip(probabilities)
        .map(|(label, &probability)| LabelProbability { label: label.clone(), probability })
        .collect();
    ranked.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    MethodPrediction { method: method.to_string(), ranked }
}

/// A model file from the browser's cache when it was fetched before, else from the network (then cached).
async fn cached_response(url: &str) -> Result<Response, String> {
    let cache = match scope().caches() {
        Ok(storage) => {
            JsFuture::from(storage.open("peft-lab-models")).await.ok().map(JsCast::unchecked_into::<web_sys::Cache>)
        }
        Err(_) => None,
    };
    if let Some(cache) = &cache
        && let Ok(hit) = JsFuture::from(cache.match_with_str(url)).await
        && !hit.is_undefined()
    {
        return Ok(hit.unchecked_into());
    }
    let response = fetch(url).await?;
    if let Some(cache) = cache
        && let Ok(copy) = response.clone()
    {
        // Caching is best-effort: a full quota only costs a download next time.
        let _ = JsFuture::from(cache.put_with_str(url, &copy)).await;
    }
    Ok(response)
}

/// Reads a response's body, posting progress for it.
async fn read_with_progress(response: Response, url: &str) -> Result<Vec<u8>, String> {
    let total = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
    let body = response.body().ok_or_else(|| format!("{url}: empty response"))?;
    if let Some(total) = total.filter(|&t| t > MAX_MODEL_BYTES) {
        return Err(model_too_big(url, total));
    }
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total.unwrap_or(0) as usize);
    let mut last_post = 0u64;
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| format!("{url}: {}", js_error(&e)))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).map(|d| d.is_truthy()).unwrap_or(true);
        if done {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(|e| js_error(&e))?;
        bytes.extend(js_sys::Uint8Array::new(&value).to_vec());
        let loaded = bytes.len() as u64;
        if loaded > MAX_MODEL_BYTES {
            return Err(model_too_big(url, loaded));
        }
        if loaded - last_post > 1 << 20 {
            last_post = loaded;
            post(&FromWorker::ModelProgress { loaded, total });
        }
    }
    post(&FromWorker::ModelProgress { loaded: bytes.len() as u64, total: Some(bytes.len() as u64) });
    Ok(bytes)
}

/// The model's files: as picked, or fetched (from the browser's cache when fetched before).
async fn model_files(source: ModelSource) -> Result<ModelFiles, String> {
    if let Some(files) = source.files {
        return Ok(files);
    }
    let url = |file: &str| format!("{}{file}", source.base_url);
    let small = |file: &'static str| {
        let url = url(file);
        async move {
            let response = cached_response(&url).await?;
            buffer_bytes(response.array_buffer()).await.map_err(|e| format!("{url}: {e}"))
        }
    };
    let config = small("config.json").await?;
    let tokenizer = small("tokenizer.json").await?;
    let weights_url = url("model.safetensors");
    let weights = read_with_progress(cached_response(&weights_url).await?, &weights_url).await?;
    Ok(ModelFiles { config, weights, tokenizer })
}

async fn load_model(source: ModelSource) -> Result<Pretrained, String> {
    let name = source.name.clone();
    let ModelFiles { config, weights, tokenizer } = model_files(source).await?;
    Pretrained::from_bytes(&name, &config, weights, &tokenizer).map_err(|e| e.to_string())
}

fn model_info(pretrained: &Pretrained) -> ModelInfo {
    // The shape parses the weights' header for their count; the rest reads it from there.
    let shape = ModelShape::of(pretrained);
    ModelInfo {
        name: pretrained.name.clone(),
        layers: shape.layers as usize,
        hidden_size: shape.hidden as usize,
        vocab_size: pretrained.config.vocab_size,
        parameters: shape.parameters as usize,
        weight_bytes: pretrained.weights.len(),
        shape,
    }
}

fn summarize(state: &Rc<RefCell<State>>, dataset: &Dataset, max_length: usize) -> Result<Summary, String> {
    let pretrained = state.borrow().pretrained.clone().ok_or("the model is not loaded yet")?;
    Ok(session::summarize(&pretrained, dataset, max_length))
}

/// Where a comparison's runs of its first seed go for "try it": the worker's state, with what a prediction needs.
struct Keeper {
    state: Rc<RefCell<State>>,
    plan: ComparePlan,
    labels: Vec<String>,
}

impl Keeper {
    /// Whether the run with `seed` is kept: the plan's first seed's (one run per method).
    fn wants(&self, seed: u64) -> bool {
        self.plan.seeds.first() == Some(&seed)
    }

    /// Keeps `model`, method `method`'s run with `seed`, when [`Self::wants`] it.
    fn keep(&self, method: usize, seed: u64, model: SequenceClassifier) {
        if !self.wants(seed) {
            return;
        }
        let trained = TrainedModel {
            from_comparison: true,
            method: self.plan.methods[method].config.label(),
            seed: Some(seed),
            // Off autodiff: it is only evaluated and shared from now on.
            model: model.valid(),
            labels: self.labels.clone(),
            max_length: self.plan.config.max_length,
        };
        self.state.borrow_mut().trained.push(Rc::new(trained));
    }

    /// The comparison's runs in its methods' order (parallel workers finish them in any order), after the others.
    fn sort(&self) {
        let names: Vec<String> = self.plan.methods.iter().map(|m| m.config.label()).collect();
        let position = |t: &TrainedModel| names.iter().position(|m| *m == t.method);
        self.state.borrow_mut().trained.sort_by_key(|t| (t.from_comparison, position(t)));
    }
}

/// Posts every unit, step and evaluation to the page (or, in a helper, to the training worker); GPU memory from
/// burn's allocator where there is one.
struct WorkerHost {
    performance: Option<web_sys::Performance>,
    keeper: Option<Keeper>,
    /// The run's checkpoints, with the unit running now (which the training events belong to too).
    checkpoints: BrowserCheckpoints,
}

impl WorkerHost {
    fn new(keeper: Option<Keeper>, checkpoints: BrowserCheckpoints) -> Self {
        Self { performance: scope().performance(), keeper, checkpoints }
    }
}

impl Host for WorkerHost {
    fn now(&self) -> f64 {
        self.performance.as_ref().map_or(0.0, |p| p.now() / 1000.0)
    }

    fn event(&mut self, _name: &str, event: &TrainEvent) -> ControlFlow<()> {
        if let Some(unit) = self.checkpoints.unit {
            post(&FromWorker::Progress { unit, event: event.clone() });
        }
        ControlFlow::Continue(())
    }

    fn peak_memory(&mut self, device: &Device) -> Option<u64> {
        device.memory_pool_usage().map(|usage| usage.bytes_reserved)
    }

    fn checkpoints(&mut self) -> Option<&mut dyn CheckpointStore> {
        Some(&mut self.checkpoints)
    }
}

impl ComparisonHost for WorkerHost {
    fn unit_started(&mut self, unit: Unit, total_steps: usize) {
        self.checkpoints.unit = Some(unit);
        post(&FromWorker::UnitStarted { unit, total_steps });
    }

    fn search_finished(&mut self, method: usize, outcome: &Result<SearchOutcome, session::Error>) {
        post(&match outcome {
            Ok(outcome) => FromWorker::SearchFinished { method, outcome: outcome.clone() },
            Err(e) => unit_failed(Unit::Search { method }, e),
        });
    }

    fn run_finished(&mut self, method: usize, seed: u64, outcome: &Result<TrainedMethod, session::Error>) {
        match outcome {
            Ok(trained) => {
                let (result, adapter) = (trained.result.clone(), trained.adapter.clone());
                post(&FromWorker::RunFinished { method, result, adapter });
                if let Some(keeper) = &self.keeper {
                    keeper.keep(method, seed, trained.model.clone());
                }
            }
            Err(e) => post(&unit_failed(Unit::Run { method, seed }, e)),
        }
    }
}

/// Why `unit` ended: a lost GPU ends the comparison here (the page goes on with it on the CPU).
fn unit_failed(unit: Unit, error: &session::Error) -> FromWorker {
    match error.device_lost() {
        Some(reason) => FromWorker::GpuLost { reason: reason.to_string() },
        None => FromWorker::UnitFailed { unit, error: error.to_string() },
    }
}

/// The job's data: its validation and test parts drawn with the budget's seed, every text tokenised.
fn prepare_job(pretrained: &Pretrained, job: &CompareJob) -> Result<PreparedData, String> {
    let validation = HeldOut::Split(job.val_fraction);
    let test = job.test_fraction.map(HeldOut::Split);
    let config = &job.plan.config;
    let (data, _) = session::prepare(pretrained, &job.dataset, validation, test, config.max_length, config.seed)
        .map_err(|e| e.to_string())?;
    Ok(data)
}

async fn compare(state: &Rc<RefCell<State>>, job: CompareJob) -> Result<(), String> {
    let (pretrained, device) = state.borrow().loaded()?;
    job.plan.check()?;
    let data = prepare_job(&pretrained, &job)?;
    state.borrow_mut().trained.retain(|t| !t.from_comparison);
    state.borrow_mut().validation = Some((job.comparison, Rc::new(data.val.clone())));
    let keeper = Keeper { state: state.clone(), plan: job.plan.clone(), labels: data.labels.clone() };
    let source = state.borrow().source.clone();
    let on_cpu =
        job.planned_on_cpu || state.borrow().backend.as_ref().is_some_and(|b| b.borrow().gpu_buffer_limit.is_none());
    let device = if on_cpu { crate::device::cpu() } else { device };
    let units = job.plan.methods.len() * job.plan.seeds.len();
    if let Some(source) = source.filter(|_| on_cpu && job.parallel_workers > 1 && units > 1) {
        return compare_in_helpers(job, source, keeper).await;
    }
    let mut host = WorkerHost::new(Some(keeper), BrowserCheckpoints::new(job.comparison, job.resume));
    session::compare(&pretrained, &job.plan, &data, &device, &mut host).await;
    if let Some(keeper) = &host.keeper {
        keeper.sort();
    }
    Ok(())
}

/// The data of `job` for its units in a helper: prepared for the first, kept for the others of the same comparison.
fn unit_data(
    state: &Rc<RefCell<State>>,
    pretrained: &Pretrained,
    job: &CompareJob,
) -> Result<Rc<PreparedData>, String> {
    if let Some((comparison, data)) = &state.borrow().unit_data
        && *comparison == job.comparison
    {
        return Ok(data.clone());
    }
    let data = Rc::new(prepare_job(pretrained, job)?);
    state.borrow_mut().unit_data = Some((job.comparison, data.clone()));
    Ok(data)
}

/// One unit of a comparison, in a helper worker; what it does is posted as it happens.
async fn run_unit(state: &Rc<RefCell<State>>, job: &CompareJob, unit: Unit, learning_rate: f64) -> Result<(), String> {
    let (pretrained, device) = state.borrow().loaded()?;
    let data = unit_data(state, &pretrained, job)?;
    let mut host = WorkerHost::new(None, BrowserCheckpoints::new(job.comparison, job.resume));
    // Failures are posted by the host as they end the unit.
    match unit {
        Unit::Search { method } => {
            let _ = session::search_unit(&pretrained, &job.plan, method, &data, &device, &mut host).await;
        }
        Unit::Run { method, seed } => {
            let run = SeedUnit { method, seed, learning_rate };
            let _ = session::seed_unit(&pretrained, &job.plan, run, &data, &device, &mut host).await;
        }
    }
    Ok(())
}

/// `compare` with its units spread over helper workers; the runs of the first seed are rebuilt here from their files
/// (exactly, as they are saved in f32) for "try it", in the plan's order.
async fn compare_in_helpers(job: CompareJob, source: ModelSource, keeper: Keeper) -> Result<(), String> {
    let keeper = Rc::new(keeper);
    let kept = keeper.clone();
    let on_finished = Box::new(move |method: usize, seed: u64, adapter: &AdapterFiles| {
        if !kept.wants(seed) {
            return;
        }
        // The helpers loaded this worker's model, so its name is the run's.
        let model = kept.state.borrow().pretrained.as_ref().map(|p| p.name.clone()).unwrap_or_default();
        match rebuild_run(&kept.state, &model, adapter) {
            Ok((model, _)) => kept.keep(method, seed, model),
            Err(e) => {
                let name = kept.plan.methods[method].config.label();
                post(&FromWorker::Error(format!("{name} cannot be tried here: {e}")))
            }
        }
    });
    let helpers = job.parallel_workers;
    pool::compare(job, source, helpers, post, on_finished).await?;
    keeper.sort();
    Ok(())
}
