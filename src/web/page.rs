//! The page: backend and model status, the dataset, a card per method, the comparison with live curves, the
//! results table and plots, and "try it". Every piece of work that takes time runs in the worker.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use super::charts::{Band, PALETTE, Series, chart};
use super::diagram::method_diagram;
use super::protocol::*;
use super::store::{self, StoredRun};
use super::{buffer_bytes, fetch, js_error};
use crate::data::{Columns, DataError, Dataset, Format, Remedy, Summary, Table, decode_utf8, parse};
use sharing::{LinkState, ShareState, next_request};

mod comparison_link;
mod sharing;
use crate::method::{Explanation, MethodConfig, apply_setting, catalog};
use crate::session::compare::{ComparePlan, MethodRuns, PlannedMethod, SearchOutcome, SearchSettings, SeedRun, Unit};
use crate::session::comparison_link::OpenedComparison;
use crate::session::held_out_fractions;
use crate::session::report::{AT_CHANCE, NOT_DISTINGUISHABLE, Part, Report, Verdict, at_chance, interval, percent};
use crate::session::results::{ComparisonInfo, iso_utc, results_csv, results_json};
use crate::stats::Spread;
use crate::train::{MethodResult, TrainConfig, TrainEvent};

/// Larger files are refused before they are read: parsing runs on the page's thread.
const MAX_FILE_BYTES: f64 = 50.0 * 1024.0 * 1024.0;
const DEFAULT_MODEL: (&str, &str) = ("all-MiniLM-L6-v2", "models/all-MiniLM-L6-v2/");
/// What transformers loads for the default model ("Continue in Python").
const DEFAULT_MODEL_HUB_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
const SAMPLES: [(&str, &str); 3] =
    [("Yelp reviews", "data/yelp.json"), ("Amazon reviews", "data/amazon.json"), ("IMDb reviews", "data/imdb.json")];
const PREVIEW_ROWS: usize = 5;

#[derive(Debug, Clone, PartialEq)]
enum ModelState {
    Loading { loaded: u64, total: Option<u64> },
    Ready(ModelInfo),
    Failed(String),
}

/// A parsed file: its table (for the preview and the column pickers) and the dataset for the chosen columns.
#[derive(Debug, Clone, PartialEq)]
struct LoadedData {
    name: String,
    format: Format,
    table: Table,
    text_column: String,
    label_column: String,
    /// Why the engine chose these columns (empty once the user picks them).
    column_reasons: Vec<String>,
    dataset: Result<Dataset, String>,
}

impl LoadedData {
    /// The file's columns as the data layer chooses them; where it cannot, the first two with its message.
    fn new(name: String, format: Format, table: Table, skip_bad_rows: bool) -> Self {
        let choice = Columns::choose(&table, None, None);
        let first = table.columns.first().cloned().unwrap_or_default();
        let (text, label, reasons) = match &choice {
            Ok(c) => (c.columns.text.clone(), c.columns.label.clone(), c.reasons.clone()),
            Err(_) => (first.clone(), table.columns.get(1).cloned().unwrap_or(first), Vec::new()),
        };
        let blank = Self {
            name,
            format,
            table,
            text_column: String::new(),
            label_column: String::new(),
            column_reasons: Vec::new(),
            dataset: Err(String::new()),
        };
        let loaded = Self { column_reasons: reasons, ..blank.with_columns(text, label, skip_bad_rows) };
        match choice {
            Err(e) => Self { dataset: Err(page_message(&e)), ..loaded },
            Ok(_) => loaded,
        }
    }

    fn with_columns(mut self, text: String, label: String, skip_bad_rows: bool) -> Self {
        self.dataset = if text == label {
            Err("the text and the label must be different columns".into())
        } else {
            Dataset::from_table(&self.table, Columns { text: text.clone(), label: label.clone() }, skip_bad_rows)
                .map_err(|e| page_message(&e))
        };
        self.text_column = text;
        self.label_column = label;
        self.column_reasons.clear();
        self
    }
}

/// A dataset error with the page's control for its fix.
fn page_message(error: &DataError) -> String {
    match error.remedy() {
        Some(Remedy::SkipBadRows) => format!("{error} (the \"skip bad rows\" box)"),
        Some(Remedy::NameColumn(_)) => format!("{error} (pick it below)"),
        None => error.to_string(),
    }
}

/// One method's card: on or off, its learning rate, its settings as editable peft-style fields.
#[derive(Clone, Copy)]
struct Card {
    key: &'static str,
    title: &'static str,
    description: &'static str,
    explanation: Explanation,
    enabled: RwSignal<bool>,
    learning_rate: RwSignal<String>,
    /// Search the learning rate on validation around the typed one.
    search: RwSignal<bool>,
    settings: RwSignal<serde_json::Value>,
    error: RwSignal<Option<String>>,
}

impl Card {
    fn method(&self) -> Result<PlannedMethod, String> {
        let config: MethodConfig = serde_json::from_value(self.settings.get_untracked())
            .map_err(|e| format!("{}: invalid settings ({e})", self.title))?;
        let learning_rate = self
            .learning_rate
            .get_untracked()
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|lr| lr.is_finite() && *lr > 0.0)
            .ok_or_else(|| format!("{}: the learning rate must be a positive number", self.title))?;
        Ok(PlannedMethod { config, learning_rate, search: self.search.get_untracked() })
    }
}

/// The budget every method shares, as typed (validated when a comparison starts).
#[derive(Clone, Copy)]
struct Budget {
    by_steps: RwSignal<bool>,
    amount: RwSignal<String>,
    batch_size: RwSignal<String>,
    max_length: RwSignal<String>,
    /// Batches of texts of similar lengths (less padding, shorter steps).
    group_by_length: RwSignal<bool>,
    seed: RwSignal<String>,
    /// Runs per method: seeds seed, seed + 1, ...
    runs: RwSignal<String>,
    /// Set once the person typed a number of runs: the estimate no longer chooses it.
    runs_chosen: RwSignal<bool>,
    val_percent: RwSignal<String>,
    test_percent: RwSignal<String>,
}

/// What the budget fields describe: the shared training settings, the held-out fractions and the seeds.
struct BudgetChoice {
    config: TrainConfig,
    val_fraction: f64,
    test_fraction: Option<f64>,
    seeds: Vec<u64>,
}

impl Budget {
    fn parse<T: std::str::FromStr + PartialOrd>(
        field: RwSignal<String>,
        name: &str,
        min: T,
        max: T,
    ) -> Result<T, String> {
        field
            .get_untracked()
            .trim()
            .parse::<T>()
            .ok()
            .filter(|v| *v >= min && *v <= max)
            .ok_or_else(|| format!("{name} must be a number in its allowed range"))
    }

    fn choice(&self) -> Result<BudgetChoice, String> {
        let amount: usize = Self::parse(self.amount, "the budget", 1, 100_000)?;
        let by_steps = self.by_steps.get_untracked();
        let config = TrainConfig {
            epochs: if by_steps { 1 } else { amount },
            max_steps: by_steps.then_some(amount),
            batch_size: Self::parse(self.batch_size, "batch size", 1, 512)?,
            max_length: Self::parse(self.max_length, "max length", 8, 512)?,
            seed: Self::parse(self.seed, "seed", 0, u64::MAX - 100)?,
            group_by_length: self.group_by_length.get_untracked(),
            ..TrainConfig::default()
        };
        let runs: u64 = Self::parse(self.runs, "runs per method", 1, 20)?;
        let val_percent: f64 = Self::parse(self.val_percent, "validation %", 1.0, 90.0)?;
        let test_percent: f64 = Self::parse(self.test_percent, "test %", 0.0, 90.0)?;
        let seeds = (config.seed..config.seed + runs).collect();
        let test_fraction = (test_percent > 0.0).then_some(test_percent / 100.0);
        Ok(BudgetChoice { config, val_fraction: val_percent / 100.0, test_fraction, seeds })
    }
}

/// A unit of the running comparison that started: a search or one seed's run.
#[derive(Debug, Clone, PartialEq)]
struct Progress {
    unit: Unit,
    /// "lora r8 · seed 42", "lora r8 · learning-rate search".
    name: String,
    step: usize,
    total_steps: usize,
    seconds_per_step: f64,
    /// Finished or failed: counted as done, no longer shown.
    finished: bool,
    /// Steps timed in this page (a resumed run's earlier steps were not).
    timed_steps: usize,
    /// The step of its latest checkpoint the browser has stored.
    saved_step: Option<usize>,
    /// The step it went on from after a reload.
    resumed_from: Option<usize>,
}

/// The comparison in progress: what its finished runs are stored with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Running {
    comparison: u64,
    dataset: String,
    columns: Columns,
    val_fraction: f64,
    test_fraction: Option<f64>,
    model: String,
    backend: String,
    plan: ComparePlan,
    train_examples: usize,
    /// Optimiser steps of the whole plan: searches and runs.
    total_steps: usize,
}

/// The comparison in progress as kept in the browser until it finishes or is stopped: a reload goes on with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PendingComparison {
    running: Running,
    job: CompareJob,
}

/// Live curves of the running comparison's seed runs: losses per step, (epoch, accuracy) per evaluation.
type LiveCurves = Vec<(Unit, Vec<f32>, Vec<(usize, f64)>)>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum SortKey {
    Run,
    Method,
    Trainable,
    Percent,
    AdapterBytes,
    MsPerStep,
    Memory,
    ValLoss,
    Accuracy,
    MacroF1,
}

#[derive(Clone, Copy)]
struct App {
    worker: StoredValue<Option<Worker>, LocalStorage>,
    backend_choice: RwSignal<BackendChoice>,
    page_has_webgpu: bool,
    model_source: RwSignal<ModelSource>,
    model_url_input: RwSignal<String>,
    backend: RwSignal<Option<BackendInfo>>,
    model: RwSignal<ModelState>,
    data: RwSignal<Option<LoadedData>>,
    last_file: StoredValue<Option<(String, Vec<u8>)>>,
    skip_bad_rows: RwSignal<bool>,
    data_error: RwSignal<Option<String>>,
    summary: RwSignal<Option<Result<Summary, String>>>,
    /// The latest `Summarize` sent; answers to earlier ones are dropped.
    summary_request: StoredValue<u64>,
    cards: StoredValue<Vec<Card>>,
    budget: Budget,
    running: RwSignal<Option<Running>>,
    /// The methods of the running comparison that started, several at once with parallel workers.
    progress: RwSignal<Vec<Progress>>,
    live: RwSignal<LiveCurves>,
    compare_error: RwSignal<Option<String>>,
    /// The running (or last) comparison's failed units, and its searches' outcomes, by method.
    /// (unit, its name, why).
    failures: RwSignal<Vec<(Unit, String, String)>>,
    searches: RwSignal<Vec<(usize, SearchOutcome)>>,
    /// The comparison `failures` and `searches` belong to: the last one started on this page.
    last_comparison: RwSignal<Option<u64>>,
    /// A comparison link opened from the address, or why it could not be.
    opened_comparison: RwSignal<Option<Result<OpenedComparison, String>>>,
    /// The link of the shown comparison, once asked for, or why there is none.
    comparison_link: RwSignal<Option<Result<String, String>>>,
    notices: RwSignal<Vec<String>>,
    runs: RwSignal<Vec<StoredRun>>,
    sort: RwSignal<(SortKey, bool)>,
    tryable: RwSignal<Vec<String>>,
    try_text: RwSignal<String>,
    try_request: StoredValue<u64>,
    predictions: RwSignal<Vec<MethodPrediction>>,
    link: RwSignal<LinkState>,
    share: RwSignal<ShareState>,
    share_request: StoredValue<u64>,
    link_request: StoredValue<u64>,
    /// Whether the worker is rebuilding the link's run now (a crash then is blamed on the link).
    link_in_flight: StoredValue<bool>,
    merge_request: StoredValue<u64>,
    /// The run being merged, while the worker merges it.
    merging: RwSignal<Option<String>>,
    import_status: RwSignal<Option<Result<String, String>>>,
    /// Runs in "try it" that came from a link or files: a new comparison keeps them.
    kept: StoredValue<Vec<String>>,
    first_step_marked: StoredValue<bool>,
    last_crash: StoredValue<f64>,
    /// The comparisons a reload (or a worker's crash) interrupted, newest first, until one is resumed.
    interrupted: StoredValue<Vec<PendingComparison>>,
    /// The comparison running now, as kept for a reload.
    current: StoredValue<Option<PendingComparison>>,
}

fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search).ok()?.get(name)
}

fn mark(name: &str) {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark(name);
    }
}

/// The most workers `?workers=N` starts: each holds a copy of the model.
const MAX_WORKERS: usize = 16;

/// Methods trained at once on the CPU path: `?workers=N` (at most [`MAX_WORKERS`]), else one per core up to 4 (each
/// worker holds a copy of the model and its own activations).
fn parallel_workers() -> usize {
    let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency()) as usize;
    query_param("workers").and_then(|n| n.parse().ok()).unwrap_or(cores.min(4)).clamp(1, MAX_WORKERS)
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

impl App {
    fn new() -> Self {
        let navigator = web_sys::window().expect("the page has a window").navigator();
        let page_has_webgpu = js_sys::Reflect::get(&navigator, &"gpu".into()).is_ok_and(|gpu| !gpu.is_undefined());
        let model_source = match query_param("model") {
            Some(url) => ModelSource {
                name: url.trim_end_matches('/').rsplit('/').next().unwrap_or(&url).into(),
                base_url: with_slash(&url),
                files: None,
            },
            None => ModelSource { name: DEFAULT_MODEL.0.into(), base_url: DEFAULT_MODEL.1.into(), files: None },
        };
        let cards = catalog()
            .into_iter()
            .map(|entry| Card {
                key: entry.key,
                title: entry.title,
                description: entry.description,
                explanation: entry.explanation,
                enabled: RwSignal::new(matches!(entry.key, "lora" | "prefix" | "head")),
                learning_rate: RwSignal::new(format!("{:e}", entry.config.default_learning_rate())),
                search: RwSignal::new(false),
                settings: RwSignal::new(serde_json::to_value(&entry.config).expect("plain data serialises")),
                error: RwSignal::new(None),
            })
            .collect();
        Self {
            worker: StoredValue::new_local(None),
            backend_choice: RwSignal::new(if !page_has_webgpu || query_param("cpu").is_some() {
                BackendChoice::Cpu
            } else {
                query_param("backend").as_deref().and_then(BackendChoice::from_key).unwrap_or_default()
            }),
            page_has_webgpu,
            model_url_input: RwSignal::new(model_source.base_url.clone()),
            model_source: RwSignal::new(model_source),
            backend: RwSignal::new(None),
            model: RwSignal::new(ModelState::Loading { loaded: 0, total: None }),
            data: RwSignal::new(None),
            last_file: StoredValue::new(None),
            skip_bad_rows: RwSignal::new(false),
            data_error: RwSignal::new(None),
            summary: RwSignal::new(None),
            summary_request: StoredValue::new(0),
            cards: StoredValue::new(cards),
            budget: Budget {
                by_steps: RwSignal::new(false),
                amount: RwSignal::new("3".into()),
                batch_size: RwSignal::new("16".into()),
                max_length: RwSignal::new("64".into()),
                group_by_length: RwSignal::new(TrainConfig::default().group_by_length),
                seed: RwSignal::new("42".into()),
                runs: RwSignal::new("3".into()),
                runs_chosen: RwSignal::new(false),
                val_percent: RwSignal::new("20".into()),
                test_percent: RwSignal::new("20".into()),
            },
            running: RwSignal::new(None),
            progress: RwSignal::new(Vec::new()),
            live: RwSignal::new(Vec::new()),
            compare_error: RwSignal::new(None),
            failures: RwSignal::new(Vec::new()),
            searches: RwSignal::new(Vec::new()),
            last_comparison: RwSignal::new(None),
            opened_comparison: RwSignal::new(None),
            comparison_link: RwSignal::new(None),
            notices: RwSignal::new(Vec::new()),
            runs: RwSignal::new(Vec::new()),
            sort: RwSignal::new((SortKey::Run, true)),
            tryable: RwSignal::new(Vec::new()),
            try_text: RwSignal::new("The food was great and the staff were friendly.".into()),
            try_request: StoredValue::new(0),
            predictions: RwSignal::new(Vec::new()),
            link: RwSignal::new(LinkState::None),
            share: RwSignal::new(ShareState::default()),
            share_request: StoredValue::new(0),
            link_request: StoredValue::new(0),
            link_in_flight: StoredValue::new(false),
            merge_request: StoredValue::new(0),
            merging: RwSignal::new(None),
            import_status: RwSignal::new(None),
            kept: StoredValue::new(Vec::new()),
            first_step_marked: StoredValue::new(false),
            last_crash: StoredValue::new(f64::NEG_INFINITY),
            interrupted: StoredValue::new(Vec::new()),
            current: StoredValue::new(None),
        }
    }

    fn notice(&self, message: String) {
        self.notices.update(|n| n.push(message));
    }

    fn send(&self, message: &ToWorker) {
        let value = match serde_wasm_bindgen::to_value(message) {
            Ok(value) => value,
            Err(e) => return self.notice(format!("cannot send a message to the worker: {e}")),
        };
        self.worker.with_value(|worker| {
            if let Some(worker) = worker
                && let Err(e) = worker.post_message(&value)
            {
                self.notice(format!("cannot reach the worker: {}", js_error(&e)));
            }
        });
    }

    /// (Re)starts the worker: it acquires the backend and loads the model. Trained runs stay in the table.
    fn start_worker(&self) {
        if let Some(old) = self.worker.try_update_value(|w| w.take()).flatten() {
            old.terminate();
        }
        self.backend.set(None);
        self.model.set(ModelState::Loading { loaded: 0, total: None });
        self.tryable.set(Vec::new());
        self.kept.set_value(Vec::new());
        // Requests the old worker was answering are lost with it; a pending link is asked again once ready.
        self.merging.set(None);
        self.predictions.set(Vec::new());
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = match Worker::new_with_options("./worker.js", &options) {
            Ok(worker) => worker,
            Err(e) => {
                return self
                    .model
                    .set(ModelState::Failed(format!("the training worker cannot start: {}", js_error(&e))));
            }
        };
        let app = *self;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            match serde_wasm_bindgen::from_value::<FromWorker>(event.data()) {
                Ok(message) => app.on_message(message),
                Err(e) => app.notice(format!("unreadable message from the worker: {e}")),
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |event: web_sys::ErrorEvent| {
            event.prevent_default();
            app.worker_crashed(event.message());
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        self.worker.set_value(Some(worker));
        self.send(&ToWorker::Start {
            model: self.model_source.get_untracked(),
            backend: self.backend_choice.get_untracked(),
        });
    }

    /// Restarts a crashed worker, unless it crashed moments ago too (then a restart would loop).
    fn worker_crashed(&self, message: String) {
        let during = match self.training_now() {
            names if names.is_empty() => String::new(),
            names => format!(" while training {names}"),
        };
        self.running.set(None);
        self.progress.set(Vec::new());
        // The restarted worker goes on with the comparison from its checkpoints (once its model is loaded).
        if let Some(current) = self.current.try_update_value(Option::take).flatten() {
            store::release();
            self.interrupted.update_value(|i| i.insert(0, current));
        }
        self.link_stopped_worker(&message);
        let now = js_sys::Date::now();
        let again = now - self.last_crash.get_value() < 60_000.0;
        self.last_crash.set_value(now);
        if again {
            self.model.set(ModelState::Failed(format!("the training worker stopped twice in a minute: {message}")));
        } else {
            self.notice(format!(
                "the training worker stopped{during}: {message}. It was restarted; finished runs are kept."
            ));
            self.start_worker();
        }
    }

    fn cancel(&self) {
        self.notice(format!("cancelled {}; the methods that had finished are kept", self.training_now()));
        if let Some(running) = self.running.get_untracked() {
            self.forget_pending(running.comparison);
        }
        self.running.set(None);
        self.progress.set(Vec::new());
        self.start_worker();
    }

    /// The methods training now, named for a notice.
    fn training_now(&self) -> String {
        self.progress.with_untracked(|p| {
            p.iter().filter(|p| !p.finished).map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
        })
    }

    fn unit_done(&self, unit: Unit) {
        self.progress.update(|p| {
            if let Some(p) = p.iter_mut().find(|p| p.unit == unit) {
                p.finished = true;
                p.step = p.total_steps;
            }
        });
    }

    fn on_message(&self, message: FromWorker) {
        match message {
            FromWorker::Backend(info) => self.backend.set(Some(info)),
            FromWorker::ModelProgress { loaded, total } => self.model.set(ModelState::Loading { loaded, total }),
            FromWorker::ModelReady(info) => {
                mark("peft-lab:model-ready");
                self.model.set(ModelState::Ready(info));
                self.reopen_link();
                self.resend_pending_share();
                self.resume_interrupted();
            }
            FromWorker::ModelFailed(error) => self.model.set(ModelState::Failed(error)),
            // An answer for earlier data or another max length arrives after the page asked again: dropped.
            FromWorker::Summary { request, summary } if request == self.summary_request.get_value() => {
                self.summary.set(Some(Ok(summary)))
            }
            FromWorker::SummaryFailed { request, error } if request == self.summary_request.get_value() => {
                self.summary.set(Some(Err(error)))
            }
            FromWorker::Summary { .. } | FromWorker::SummaryFailed { .. } => {}
            FromWorker::UnitStarted { unit, total_steps } => {
                let Some(name) = self.unit_name(unit) else { return };
                if let Unit::Run { .. } = unit {
                    self.live.update(|live| live.push((unit, Vec::new(), Vec::new())));
                }
                let started = Progress {
                    unit,
                    name,
                    step: 0,
                    total_steps,
                    seconds_per_step: 0.0,
                    finished: false,
                    timed_steps: 0,
                    saved_step: None,
                    resumed_from: None,
                };
                self.progress.update(|p| p.push(started));
            }
            FromWorker::Progress { unit, event } => self.on_progress(unit, event),
            FromWorker::RunFinished { method, result, adapter } => self.on_finished(method, result, adapter),
            FromWorker::SearchFinished { method, outcome } => {
                self.unit_done(Unit::Search { method });
                self.searches.update(|s| s.push((method, outcome)));
            }
            FromWorker::UnitFailed { unit, error } => {
                self.unit_done(unit);
                let name = self.unit_name(unit).unwrap_or_default();
                self.failures.update(|f| f.push((unit, name, error)))
            }
            FromWorker::CheckpointSaved { unit, step } => self.progress.update(|p| {
                if let Some(p) = p.iter_mut().find(|p| p.unit == unit) {
                    p.saved_step = Some(p.saved_step.map_or(step, |saved| saved.max(step)));
                }
            }),
            FromWorker::CheckpointFailed { unit, step, error } => {
                let name = self.unit_name(unit).unwrap_or_default();
                self.notice(format!(
                    "{name}: its checkpoint at step {step} could not be stored in the browser ({error}); training goes \
                     on, but a reload would start it again"
                ));
            }
            FromWorker::CompareFinished => {
                if let Some(running) = self.running.get_untracked() {
                    self.forget_pending(running.comparison);
                }
                self.running.set(None);
                self.progress.set(Vec::new());
            }
            FromWorker::Prediction { request, predictions } => {
                if request == self.try_request.get_value() {
                    self.predictions.set(predictions);
                }
            }
            FromWorker::Shared { request, link } => self.on_shared(request, Ok(link)),
            FromWorker::ShareFailed { request, error } => self.on_shared(request, Err(error)),
            FromWorker::LinkOpened { request, method, meta, precision } => {
                self.on_link_opened(request, method, meta, precision)
            }
            FromWorker::LinkFailed { request, error } => self.on_link_failed(request, error),
            FromWorker::Imported { method, labels } => self.on_imported(method, labels),
            FromWorker::ImportFailed { name, error } => {
                self.import_status.set(Some(Err(format!("{name} could not be loaded: {error}"))))
            }
            FromWorker::Merged { request, config_json, weights } => self.on_merged(request, Ok((config_json, weights))),
            FromWorker::MergeFailed { request, error } => self.on_merged(request, Err(error)),
            FromWorker::Error(error) => self.compare_error.set(Some(error)),
            FromWorker::Crashed(error) => self.worker_crashed(error),
            // The page has no decoder view yet; the worker's decoder jobs are driven by their browser test.
            FromWorker::DecoderProgress { .. }
            | FromWorker::DecoderTrained { .. }
            | FromWorker::DecoderFailed { .. }
            | FromWorker::GeneratedText { .. }
            | FromWorker::Generated { .. }
            | FromWorker::GenerateFailed { .. } => {}
        }
    }

    /// "lora r8 · seed 42" or "lora r8 · learning-rate search", for a unit of the running comparison.
    fn unit_name(&self, unit: Unit) -> Option<String> {
        let label =
            self.running.with_untracked(|r| r.as_ref()?.plan.methods.get(unit.method()).map(|m| m.config.label()))?;
        Some(match unit {
            Unit::Search { .. } => format!("{label} · learning-rate search"),
            Unit::Run { seed, .. } => format!("{label} · seed {seed}"),
        })
    }

    fn on_progress(&self, unit: Unit, event: TrainEvent) {
        match event {
            TrainEvent::Step { step, loss, seconds, .. } => {
                if !self.first_step_marked.get_value() {
                    self.first_step_marked.set_value(true);
                    mark("peft-lab:first-step");
                }
                self.live.update(|live| {
                    if let Some(curve) = live.iter_mut().find(|(u, _, _)| *u == unit) {
                        curve.1.push(loss);
                    }
                });
                self.progress.update(|p| {
                    if let Some(p) = p.iter_mut().find(|p| p.unit == unit) {
                        // The first step compiles GPU kernels; the ETA uses the mean of the later ones. A search's
                        // trials each start again at step 1, so its steps are counted across them.
                        p.timed_steps += 1;
                        p.seconds_per_step = match p.timed_steps {
                            1 | 2 => seconds,
                            n => (p.seconds_per_step * (n - 2) as f64 + seconds) / (n - 1) as f64,
                        };
                        p.step = match unit {
                            Unit::Search { .. } => p.step + 1,
                            Unit::Run { .. } => step,
                        };
                    }
                });
            }
            TrainEvent::Resumed { step, losses, .. } => {
                self.live.update(|live| {
                    if let Some(curve) = live.iter_mut().find(|(u, _, _)| *u == unit) {
                        curve.1 = losses;
                        curve.2.clear();
                    }
                });
                self.progress.update(|p| {
                    if let Some(p) = p.iter_mut().find(|p| p.unit == unit) {
                        match unit {
                            Unit::Search { .. } => p.step += step,
                            Unit::Run { .. } => p.step = step,
                        }
                        p.resumed_from = Some(step);
                        p.saved_step = Some(step);
                    }
                });
            }
            // The page compares classifiers; a decoder's view comes with its own page.
            TrainEvent::Started { .. } | TrainEvent::LmEvaluated { .. } => {}
            TrainEvent::Evaluated { epoch, metrics, .. } => self.live.update(|live| {
                if let Some(curve) = live.iter_mut().find(|(u, _, _)| *u == unit) {
                    curve.2.push((epoch, metrics.accuracy));
                }
            }),
        }
    }

    fn on_finished(&self, method: usize, result: crate::train::MethodResult, adapter: AdapterFiles) {
        let Some(running) = self.running.get_untracked() else { return };
        let unit = Unit::Run { method, seed: result.seed };
        self.unit_done(unit);
        // "Try it" has each method's run of the first seed.
        if running.plan.seeds.first() == Some(&result.seed) {
            self.tryable.update(|t| t.push(result.method.clone()));
        }
        let search = self.searches.with_untracked(|s| s.iter().find(|(m, _)| *m == method).map(|(_, o)| o.clone()));
        let run = StoredRun {
            comparison: running.comparison,
            index: method,
            dataset: running.dataset,
            columns: Some(running.columns),
            val_fraction: Some(running.val_fraction),
            test_fraction: running.test_fraction,
            train_examples: Some(running.train_examples),
            model: running.model,
            backend: running.backend,
            config: running.plan.config_for(result.seed),
            plan: Some(running.plan),
            search,
            finished_at: Some(now_ms()),
            result,
            adapter,
        };
        // The row appears once the run is stored, so what the table shows survives a reload.
        let app = *self;
        spawn_local(async move {
            match store::save(&run).await {
                Ok(()) => store::announce_change(),
                Err(e) => {
                    app.notice(format!("{} finished but could not be stored in the browser: {e}", run.result.method))
                }
            }
            // A resumed comparison finishes its finished runs again, from their last checkpoints: one row each.
            let key = (run.comparison, run.index, run.result.seed);
            app.runs.update(|runs| {
                runs.retain(|r| (r.comparison, r.index, r.result.seed) != key);
                runs.push(run);
            });
        });
    }

    /// Reads a dropped or picked file; a failure leaves the current dataset as it was.
    fn load_file(&self, name: String, bytes: Vec<u8>) {
        self.last_file.set_value(Some((name.clone(), bytes)));
        self.parse_last_file();
    }

    fn parse_last_file(&self) {
        let Some((name, bytes)) = self.last_file.get_value() else { return };
        let skip = self.skip_bad_rows.get_untracked();
        let parsed = (|| {
            if bytes.is_empty() {
                return Err("the file is empty".to_string());
            }
            let text = decode_utf8(&bytes).map_err(|e| page_message(&e))?;
            let format = Format::detect(&name, text);
            let table = parse(text, format, skip).map_err(|e| page_message(&e))?;
            Ok((format, table))
        })();
        match parsed {
            Ok((format, table)) => {
                self.data.set(Some(LoadedData::new(name, format, table, skip)));
                self.data_error.set(None);
                self.summary.set(None);
            }
            Err(e) => self.data_error.set(Some(format!("{name}: {e}"))),
        }
    }

    /// Loads a sample dataset; `unless_loaded` (on opening the page) leaves a file the user dropped meanwhile alone.
    fn load_sample(&self, url: &'static str, unless_loaded: bool) {
        let app = *self;
        spawn_local(async move {
            match fetch_bytes(url).await {
                Ok(_) if unless_loaded && app.last_file.with_value(Option::is_some) => {}
                Ok(bytes) => app.load_file(url.rsplit('/').next().unwrap_or(url).into(), bytes),
                Err(e) => app.data_error.set(Some(format!("the sample {url} did not load: {e}"))),
            }
        });
    }

    fn compare(&self) {
        self.compare_error.set(None);
        let start = || -> Result<(), String> {
            let data = self.data.get_untracked().ok_or("load a dataset first")?;
            let dataset = data.dataset.clone().map_err(|e| format!("the dataset is not usable: {e}"))?;
            let BudgetChoice { config, val_fraction, test_fraction, seeds } = self.budget.choice()?;
            let methods: Vec<PlannedMethod> = self
                .cards
                .get_value()
                .iter()
                .filter(|c| c.enabled.get_untracked())
                .map(Card::method)
                .collect::<Result<_, _>>()?;
            if methods.is_empty() {
                return Err("tick at least one method".into());
            }
            let fractions = held_out_fractions(Some(val_fraction), test_fraction).map_err(|e| e.to_string())?;
            let train_examples = dataset.train_size(&fractions);
            let plan = ComparePlan { methods, seeds, config, search: SearchSettings::default() };
            plan.check()?;
            let backend = self.backend.get_untracked().map(|b| b.kind).unwrap_or_default();
            let running = Running {
                comparison: now_ms(),
                dataset: data.name.clone(),
                columns: dataset.columns.clone(),
                val_fraction,
                test_fraction,
                model: self.model_source.with_untracked(|s| s.name.clone()),
                backend,
                total_steps: plan.total_steps(train_examples),
                train_examples,
                plan: plan.clone(),
            };
            let job = CompareJob {
                comparison: running.comparison,
                dataset,
                val_fraction,
                test_fraction,
                plan,
                parallel_workers: parallel_workers(),
                resume: false,
            };
            self.begin(running, job);
            Ok(())
        };
        if let Err(e) = start() {
            self.compare_error.set(Some(e));
        }
    }

    /// Starts `job` (a new comparison, or one a reload interrupted) and keeps it in the browser until it finishes.
    fn begin(&self, running: Running, job: CompareJob) {
        let comparison = running.comparison;
        self.current.set_value(Some(PendingComparison { running: running.clone(), job: job.clone() }));
        self.running.set(Some(running.clone()));
        self.live.set(Vec::new());
        self.progress.set(Vec::new());
        self.comparison_link.set(None);
        self.failures.set(Vec::new());
        self.searches.set(Vec::new());
        self.last_comparison.set(Some(comparison));
        // Runs opened from a link or loaded from files stay; the previous comparison's go.
        self.tryable.set(self.kept.get_value());
        self.predictions.set(Vec::new());
        self.send(&ToWorker::Compare(job.clone()));
        let app = *self;
        spawn_local(async move {
            store::hold(comparison).await;
            // Stopped or finished meanwhile: nothing to keep.
            if app.current.with_value(|c| c.as_ref().map(|c| c.running.comparison)) != Some(comparison) {
                return;
            }
            if let Err(e) = store::save_pending(comparison, &PendingComparison { running, job }).await {
                app.notice(format!(
                    "the browser's storage refused this comparison ({e}): a reload now would lose the runs in progress"
                ));
            }
        });
    }

    /// Goes on with the comparison a reload (or a closed tab) interrupted, once its model is loaded again: finished
    /// runs are rebuilt from their last checkpoints, the one in progress goes on from its last, the rest start.
    fn resume_interrupted(&self) {
        if self.running.with_untracked(Option::is_some) {
            return;
        }
        let model = self.model_source.with_untracked(|s| s.name.clone());
        let interrupted = self.interrupted.get_value();
        let Some(at) = interrupted.iter().position(|p| p.running.model == model) else {
            // Kept: loading that model goes on with it.
            if let Some(other) = interrupted.first() {
                self.notice(format!(
                    "a comparison on {} was interrupted; load that model to go on with it (this page has {model})",
                    other.running.model
                ));
            }
            return;
        };
        let pending = self.interrupted.try_update_value(|i| i.remove(at)).expect("the page's state lives");
        // Every run stored: it had finished, and only its end was not recorded.
        let comparison = pending.running.comparison;
        let stored = self.runs.with_untracked(|runs| runs.iter().filter(|r| r.comparison == comparison).count());
        let plan = &pending.running.plan;
        if stored >= plan.methods.len() * plan.seeds.len() {
            return self.forget_pending(comparison);
        }
        let app = *self;
        spawn_local(async move {
            let PendingComparison { running, mut job } = pending;
            let started = iso_utc(running.comparison as f64 / 1000.0);
            if !store::hold_if_free(running.comparison).await {
                let dataset = &running.dataset;
                return app
                    .notice(format!("the comparison on {dataset} started at {started} is running in another tab"));
            }
            app.notice(format!(
                "the comparison on {} started at {started} was interrupted; it goes on from its runs' last checkpoints",
                running.dataset
            ));
            job.resume = true;
            job.parallel_workers = parallel_workers();
            app.begin(running, job);
        });
    }

    /// The comparison is over (finished or stopped): a reload no longer goes on with it.
    fn forget_pending(&self, comparison: u64) {
        self.current.set_value(None);
        store::release();
        let app = *self;
        spawn_local(async move {
            if let Err(e) = store::clear_pending(comparison).await {
                app.notice(format!("the comparison's checkpoints could not be removed from the browser: {e}"));
            }
        });
    }

    /// The shown comparison as peft method_comparison-style JSON, with what it ran on.
    fn download_results(&self, plan: &ComparePlan, methods: &[MethodRuns], report: &Report, stored: &[StoredRun]) {
        let Some(first) = stored.first() else { return };
        let finished = stored.iter().filter_map(|r| r.finished_at).max();
        let info = ComparisonInfo {
            model: first.model.clone(),
            dataset: first.dataset.clone(),
            created_at: iso_utc(first.comparison as f64 / 1000.0),
            total_seconds: finished.map_or(0.0, |end| end.saturating_sub(first.comparison) as f64 / 1000.0),
            backend: first.backend.clone(),
            train_examples: first.train_examples.unwrap_or(0),
            validation_examples: first.result.evaluations.last().map_or(0, |(_, m)| m.examples),
            test_examples: first.result.test.as_ref().map_or(0, |t| t.examples),
        };
        let json = results_json(&info, plan, methods, report);
        self.download_text("peft-lab-results.json", &serde_json::to_string_pretty(&json).expect("JSON serialises"));
    }

    fn download_text(&self, name: &str, text: &str) {
        if let Err(e) = sharing::download(name, text.as_bytes()) {
            self.notice(format!("{name} could not be downloaded: {e}"));
        }
    }

    fn classify(&self) {
        let text = self.try_text.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        let request = self.try_request.get_value() + 1;
        self.try_request.set_value(request);
        self.send(&ToWorker::Predict { request, text });
    }
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') { url.to_string() } else { format!("{url}/") }
}

async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    buffer_bytes(fetch(url).await?.array_buffer()).await
}

fn take_file(app: App, file: web_sys::File) {
    let name = file.name();
    let size = file.size();
    if size > MAX_FILE_BYTES {
        app.data_error.set(Some(format!(
            "{name} is {:.0} MiB; the page reads files up to {:.0} MiB (the CLI has no limit). The current dataset is kept.",
            size / 1048576.0,
            MAX_FILE_BYTES / 1048576.0
        )));
        return;
    }
    spawn_local(async move {
        match buffer_bytes(Ok(file.array_buffer())).await {
            Ok(bytes) => app.load_file(name, bytes),
            Err(e) => app.data_error.set(Some(format!("{name} could not be read: {e}"))),
        }
    });
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

fn format_count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn optional(value: Option<f64>, scale: f64, digits: usize) -> String {
    value.filter(|v| v.is_finite()).map_or("n/a".into(), |v| format!("{:.*}", digits, v * scale))
}

pub fn mount() {
    leptos::mount::mount_to_body(|| {
        let app = App::new();
        app.link_from_location();
        app.comparison_from_location();
        app.start_worker();
        app.load_sample(SAMPLES[0].1, true);
        spawn_local(async move {
            match store::load().await {
                Ok(runs) => app.runs.set(runs),
                Err(e) => app.notice(format!("earlier runs could not be read from the browser's storage: {e}")),
            }
            // Runs another tab stores or clears show here too.
            store::watch_other_tabs(move || {
                spawn_local(async move {
                    match store::load().await {
                        Ok(runs) => app.runs.set(runs),
                        Err(e) => app.notice(format!("another tab's runs could not be read: {e}")),
                    }
                })
            });
            match store::load_pending::<PendingComparison>().await {
                Ok(mut pending) => {
                    pending.sort_by_key(|p: &PendingComparison| std::cmp::Reverse(p.running.comparison));
                    app.interrupted.set_value(pending)
                }
                Err(e) => app.notice(format!("an interrupted comparison could not be read back: {e}")),
            }
            // Resumed here if the model was ready first, else when it is.
            if matches!(app.model.get_untracked(), ModelState::Ready(_)) {
                app.resume_interrupted();
            }
        });
        // Three runs per method where the estimate says they fit, unless the person chose.
        Effect::new(move |_| {
            if app.budget.runs_chosen.get() {
                return;
            }
            let three = plan_size(app, 3).and_then(|(.., seconds)| seconds);
            let runs = if three.is_some_and(|s| s <= DEFAULT_RUNS_SECONDS) { "3" } else { "1" };
            if app.budget.runs.get_untracked() != runs {
                app.budget.runs.set(runs.into());
            }
        });
        // The token-length summary needs the tokenizer, which lives in the worker.
        Effect::new(move |_| {
            let ready = matches!(app.model.get(), ModelState::Ready(_));
            let dataset = app.data.with(|d| d.as_ref().and_then(|d| d.dataset.clone().ok()));
            let max_length = app.budget.max_length.get();
            if let (true, Some(dataset)) = (ready, dataset) {
                let max_length = max_length.trim().parse().unwrap_or(64);
                let request = next_request(app.summary_request);
                app.summary.set(None);
                app.send(&ToWorker::Summarize { request, dataset, max_length });
            }
        });
        view! {
            <header>
                <h1>"peft-lab"</h1>
                <p class="tagline">"Fine-tune a small transformer in your browser with parameter-efficient methods and compare them on your data."</p>
                {status_view(app)}
            </header>
            <main>
                {notices_view(app)}
                {sharing::opened_link_view(app)}
                {comparison_link::shared_comparison_view(app)}
                {data_view(app)}
                {methods_view(app)}
                {compare_view(app)}
                {results_view(app)}
                {try_view(app)}
                {sharing::share_view(app)}
            </main>
        }
    });
}

fn status_view(app: App) -> impl IntoView {
    let backend = move || match app.backend.get() {
        None => {
            let doing = match app.backend_choice.get() {
                BackendChoice::Auto if app.page_has_webgpu => "timing WebGPU against the CPU once the model is in…",
                _ => "starting the backend…",
            };
            view! { <span id="backend" class="badge">{doing}</span> }.into_any()
        }
        Some(b) => {
            let limits = b
                .max_storage_binding_mib
                .map(|m| format!(" · max storage binding {m} MiB, max buffer {} MiB", b.max_buffer_mib.unwrap_or(0)))
                .unwrap_or_default();
            let software = b.software.then_some(" (a software adapter: it runs on the CPU)");
            let notice = b.fallback_reason.clone().map(|reason| {
                view! { <p id="fallback-notice" class="warning">"Training runs on the CPU: " {reason} "."</p> }
            });
            let timings = (!b.timings.is_empty()).then(|| {
                let shape = b.timed_shape.clone().unwrap_or_default();
                let rows: Vec<String> = b
                    .timings
                    .iter()
                    .map(|t| match (t.seconds_per_step, &t.note) {
                        (Some(s), _) => format!("{} {:.0} ms/step", t.backend, s * 1000.0),
                        (None, note) => format!("{} {}", t.backend, note.clone().unwrap_or_default()),
                    })
                    .collect();
                view! {
                    <p id="backend-timings" class="hint">
                        "Chosen as the faster on a timed step (" {shape} "): " {rows.join(" · ")}
                        ". Change it under “Model and backend”."
                    </p>
                }
            });
            view! {
                <span id="backend" class=if b.gpu { "badge gpu" } else { "badge cpu" } data-kind=b.kind.clone()
                    data-software=b.software.to_string()>
                    {b.kind.clone()} " · " {b.adapter.clone()} {software} {limits}
                </span>
                {timings}
                {notice}
            }
            .into_any()
        }
    };
    let model = move || {
        match app.model.get() {
        ModelState::Loading { loaded, total } => {
            let (value, max) = (loaded as f64, total.unwrap_or(0).max(loaded).max(1) as f64);
            view! {
                <span id="model" data-state="loading">"Loading " {app.model_source.with(|s| s.name.clone())} "… " {mib(loaded)}
                    {total.map(|t| format!(" of {}", mib(t)))}</span>
                <progress id="model-progress" value=value max=max></progress>
            }
            .into_any()
        }
        ModelState::Ready(info) => view! {
            <span id="model" data-state="ready">
                {info.name.clone()} ": " {format_count(info.parameters)} " parameters, " {info.layers} " layers, hidden "
                {info.hidden_size} ", vocabulary " {format_count(info.vocab_size)} ", " {mib(info.weight_bytes as u64)} " of weights"
            </span>
        }
        .into_any(),
        ModelState::Failed(e) => view! { <span id="model" data-state="failed" class="error">"The model did not load: " {e}</span> }.into_any(),
    }
    };
    let webgpu_note = (!app.page_has_webgpu).then_some(" (this browser has no WebGPU)");
    view! {
        <div class="status">
            <div>{backend}</div>
            <div>{model}</div>
            <details class="model-picker">
                <summary>"Model and backend"</summary>
                <label>"Model files (config.json, model.safetensors, tokenizer.json) under "
                    <input id="model-url" type="text" size="48" prop:value=move || app.model_url_input.get()
                        on:input=move |ev| app.model_url_input.set(event_target_value(&ev)) />
                </label>
                <button on:click=move |_| {
                    let url = with_slash(app.model_url_input.get_untracked().trim());
                    let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or(&url).to_string();
                    app.model_source.set(ModelSource { name, base_url: url, files: None });
                    app.start_worker();
                } disabled=move || app.running.get().is_some()>"Load model"</button>
                " or " {sharing::model_files_picker(app, "model-files")}
                <label>"Train on "
                    <select id="backend-choice" disabled=!app.page_has_webgpu
                        on:change=move |ev| {
                            let choice = BackendChoice::from_key(&event_target_value(&ev)).unwrap_or_default();
                            app.backend_choice.set(choice);
                            app.start_worker();
                        }>
                        {BackendChoice::ALL.map(|(choice, key, label)| view! {
                            <option value=key selected=move || app.backend_choice.get() == choice>{label}</option>
                        })}
                    </select>
                    {webgpu_note}</label>
            </details>
        </div>
    }
}

fn notices_view(app: App) -> impl IntoView {
    view! {
        <Show when=move || !app.notices.get().is_empty()>
            <div id="notices" class="notices">
                {move || app.notices.get().into_iter().map(|n| view! { <p class="warning">{n}</p> }).collect_view()}
                <button on:click=move |_| app.notices.set(Vec::new())>"Dismiss"</button>
            </div>
        </Show>
    }
}

fn data_view(app: App) -> impl IntoView {
    let on_drop = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        if let Some(file) = ev.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) {
            take_file(app, file);
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            take_file(app, file);
        }
        input.set_value("");
    };
    let samples = SAMPLES
        .iter()
        .map(|&(title, url)| view! { <button class="sample" on:click=move |_| app.load_sample(url, false)>{title}</button> })
        .collect_view();
    view! {
        <section id="data-section">
            <h2>"1. Data"</h2>
            <div class="drop" id="drop-zone" on:dragover=|ev: web_sys::DragEvent| ev.prevent_default() on:drop=on_drop>
                <p>"Drop a CSV, TSV, JSONL or JSON file here, or "
                    <label class="file-button">"choose one"<input id="file-input" type="file"
                        accept=".csv,.tsv,.tab,.jsonl,.ndjson,.json,.txt,text/*,application/json" on:change=on_pick /></label>
                    ". Samples: " {samples}</p>
            </div>
            <Show when=move || app.data_error.get().is_some()>
                <p id="data-error" class="error" role="alert">{move || app.data_error.get()}</p>
            </Show>
            {move || app.data.get().map(|data| loaded_view(app, data))}
        </section>
    }
}

fn loaded_view(app: App, data: LoadedData) -> impl IntoView {
    let columns = data.table.columns.clone();
    let picker = move |id: &'static str, current: String, is_text: bool| {
        let options = columns
            .iter()
            .map(|c| view! { <option value=c.clone() selected=*c == current>{c.clone()}</option> })
            .collect_view();
        view! {
            <select id=id on:change=move |ev| {
                let chosen = event_target_value(&ev);
                app.data.update(|slot| {
                    if let Some(d) = slot.take() {
                        let (text, label) = if is_text { (chosen.clone(), d.label_column.clone()) } else { (d.text_column.clone(), chosen.clone()) };
                        *slot = Some(d.with_columns(text, label, app.skip_bad_rows.get_untracked()));
                    }
                });
                app.summary.set(None);
            }>{options}</select>
        }
    };
    let header = data.table.columns.iter().map(|c| view! { <th>{c.clone()}</th> }).collect_view();
    let rows = data
        .table
        .rows
        .iter()
        .take(PREVIEW_ROWS)
        .map(|row| view! { <tr>{row.iter().map(|cell| view! { <td>{truncate(cell, 120)}</td> }).collect_view()}</tr> })
        .collect_view();
    let dataset_view = match &data.dataset {
        Ok(dataset) => {
            let counts = dataset.class_counts();
            let classes = dataset
                .labels
                .iter()
                .zip(&counts)
                .take(20)
                .map(|(l, n)| view! { <li><b>{l.clone()}</b> " " {*n}</li> })
                .collect_view();
            let more = (dataset.labels.len() > 20).then(|| format!("… and {} more classes", dataset.labels.len() - 20));
            view! {
                <div id="class-counts" class="classes">
                    <span>{format!("{} examples, {} classes:", dataset.examples.len(), dataset.labels.len())}</span>
                    <ul>{classes}</ul>{more}
                    {(dataset.skipped_rows > 0).then(|| format!(" ({} bad rows skipped)", dataset.skipped_rows))}
                </div>
            }
            .into_any()
        }
        Err(e) => view! { <p id="dataset-error" class="error" role="alert">{e.clone()}</p> }.into_any(),
    };
    view! {
        <div class="loaded">
            <p><b id="data-name">{data.name.clone()}</b> {format!(" · {:?} · {} rows", data.format, data.table.rows.len())}</p>
            <div class="table-wrap"><table id="preview"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table></div>
            <div class="pickers">
                <label>"Text column " {picker("text-column", data.text_column.clone(), true)}</label>
                <label>"Label column " {picker("label-column", data.label_column.clone(), false)}</label>
                <label><input id="skip-bad-rows" type="checkbox" prop:checked=move || app.skip_bad_rows.get()
                    on:change=move |ev| { app.skip_bad_rows.set(event_target_checked(&ev)); app.parse_last_file(); } />
                    "skip bad rows"</label>
                <label>"Validation " <input id="val-percent" type="number" min="0" max="90" step="5" class="short"
                    prop:value=move || app.budget.val_percent.get() on:input=move |ev| app.budget.val_percent.set(event_target_value(&ev)) />" %"</label>
            </div>
            {(!data.column_reasons.is_empty())
                .then(|| view! { <p id="column-reasons" class="muted">"Columns: " {data.column_reasons.join("; ")}</p> })}
            {data.table.quoted_lines.map(|q| view! { <p id="quoted-lines" class="warning">{q.to_string()}</p> })}
            {dataset_view}
            {move || app.summary.get().map(|s| match s {
                Ok(s) => view! {
                    <p id="summary" class="muted">{format!(
                        "Tokens per text: median {}, 90th percentile {}, 99th {}, longest {}; {} of {} texts are cut to the max length {}.",
                        s.token_length_p50, s.token_length_p90, s.token_length_p99, s.token_length_max, s.truncated, s.rows, s.max_length
                    )}</p>
                }.into_any(),
                Err(e) => view! { <p id="summary" class="error">{e}</p> }.into_any(),
            })}
        </div>
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max { text.to_string() } else { text.chars().take(max).collect::<String>() + "…" }
}

fn methods_view(app: App) -> impl IntoView {
    let cards = app.cards.get_value().into_iter().map(card_view).collect_view();
    view! {
        <section id="methods-section">
            <h2>"2. Methods"</h2>
            <div class="cards">{cards}</div>
        </section>
    }
}

/// A card's settings fields come from its configuration's JSON, so a new method needs no page code.
fn card_view(card: Card) -> impl IntoView {
    let fields = card
        .settings
        .get_untracked()
        .as_object()
        .map(|o| o.iter().filter(|(k, _)| *k != "method").map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|(key, default)| field_view(card, key, default))
        .collect_view();
    view! {
        <article class="card" id=format!("method-{}", card.key) class:off=move || !card.enabled.get()>
            <label class="card-title"><input type="checkbox" class="enable" prop:checked=move || card.enabled.get()
                on:change=move |ev| card.enabled.set(event_target_checked(&ev)) /> {card.title}</label>
            <p class="muted">{card.description}</p>
            <details class="explain">
                <summary>"How it works"</summary>
                <div class="explain-body">
                    {method_diagram(card.explanation.sites)}
                    <p>{card.explanation.principle}</p>
                    <p><b>"Frozen: "</b>{card.explanation.frozen}</p>
                    <p><b>"At inference: "</b>{card.explanation.inference}</p>
                </div>
            </details>
            <label class="field">"learning rate" <input type="text" class="lr" prop:value=move || card.learning_rate.get()
                on:input=move |ev| card.learning_rate.set(event_target_value(&ev)) /></label>
            <label class="field" title="Tries 1/3, 1 and 3 times this rate on the validation part (successive halving on a short budget), then trains every run with the best">
                <input type="checkbox" class="search" prop:checked=move || card.search.get()
                    on:change=move |ev| card.search.set(event_target_checked(&ev)) />"search the learning rate"</label>
            {fields}
            <Show when=move || card.error.get().is_some()><p class="error">{move || card.error.get()}</p></Show>
        </article>
    }
}

fn field_view(card: Card, key: String, default: serde_json::Value) -> impl IntoView {
    use serde_json::Value;
    let label = key.replace('_', " ");
    let read_key = key.clone();
    let current = move || card.settings.with(|s| s.get(&read_key).cloned().unwrap_or(Value::Null));
    let set = move |key: &str, typed: &str| {
        let mut result = Ok(());
        card.settings.update(|s| result = apply_setting(s, key, typed).map(|_| ()));
        card.error.set(result.err().map(|e| format!("{}: {e}", key.replace('_', " "))));
    };
    if let Value::Bool(_) = default {
        return view! {
            <label class="field"><input type="checkbox" prop:checked=move || current().as_bool().unwrap_or(false)
                on:change=move |ev| set(&key, &event_target_checked(&ev).to_string()) />{label}</label>
        }
        .into_any();
    }
    let shown = move || match current() {
        Value::Null => String::new(),
        Value::String(s) => s,
        Value::Array(items) => {
            items.iter().map(|i| i.as_str().map(str::to_string).unwrap_or(i.to_string())).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    };
    view! {
        <label class="field">{label} " "
            <input type="text" data-field=key.clone() prop:value=shown on:change=move |ev| {
                set(&key, &event_target_value(&ev));
            } />
        </label>
    }
    .into_any()
}

fn compare_view(app: App) -> impl IntoView {
    let budget = app.budget;
    let number = move |id: &'static str, field: RwSignal<String>| {
        view! { <input id=id type="number" class="short" prop:value=move || field.get() on:input=move |ev| field.set(event_target_value(&ev)) /> }
    };
    let ready = move || {
        matches!(app.model.get(), ModelState::Ready(_))
            && app.data.with(|d| d.as_ref().is_some_and(|d| d.dataset.is_ok()))
    };
    let progress = move || {
        let units = app.progress.get();
        let total = app.running.with(|r| r.as_ref().map(|r| r.total_steps))?.max(1);
        let training: Vec<&Progress> = units.iter().filter(|p| !p.finished).collect();
        let done: usize = units.iter().map(|p| if p.finished { p.total_steps } else { p.step }).sum();
        // Units not started yet run as fast as those running now, as many at once.
        let timed: Vec<f64> = training.iter().filter(|p| p.step >= 2).map(|p| p.seconds_per_step).collect();
        let eta = if timed.is_empty() {
            "ETA after the first steps (the first compiles GPU kernels)".to_string()
        } else {
            let mean = timed.iter().sum::<f64>() / timed.len() as f64;
            format!("about {} left", duration(total.saturating_sub(done) as f64 * mean / training.len().max(1) as f64))
        };
        let lines = training
            .into_iter()
            .map(|p| {
                let line = format!("{}: step {}/{} · {:.2} s/step", p.name, p.step, p.total_steps, p.seconds_per_step);
                let resumed = p.resumed_from.map(|step| {
                    view! { <span class="resumed" data-step=step>{format!(" · went on from step {step}")}</span> }
                });
                let saved = p.saved_step.map(|step| {
                    view! { <span class="saved" data-step=step>{format!(" · saved at step {step}")}</span> }
                });
                view! { <li>{line}{resumed}{saved}</li> }
            })
            .collect_view();
        Some(view! {
            <div id="progress">
                <progress value=done.min(total) as f64 max=total as f64></progress>
                <span>{format!("{} of {} steps · ", format_count(done.min(total)), format_count(total))}{eta}</span>
                <ul class="running">{lines}</ul>
            </div>
        })
    };
    let estimate = move || plan_estimate(app);
    view! {
        <section id="compare-section">
            <h2>"3. Budget and compare"</h2>
            <div class="budget">
                <label><select id="budget-kind" on:change=move |ev| budget.by_steps.set(event_target_value(&ev) == "steps")>
                    <option value="epochs" selected=move || !budget.by_steps.get()>"epochs"</option>
                    <option value="steps" selected=move || budget.by_steps.get()>"steps"</option>
                </select> {number("budget", budget.amount)}</label>
                <label>"batch size " {number("batch-size", budget.batch_size)}</label>
                <label>"max length " {number("max-length", budget.max_length)}</label>
                <label title="Each batch holds texts of similar lengths, so it pads less and its step is shorter (transformers' group_by_length); the batches still come in a random order. Off: random batches.">
                    <input id="group-by-length" type="checkbox" prop:checked=move || budget.group_by_length.get()
                        on:change=move |ev| budget.group_by_length.set(event_target_checked(&ev)) />" group batches by length"</label>
                <label>"seed " {number("seed", budget.seed)}</label>
                <label>"runs per method " <input id="runs" type="number" min="1" max="20" class="short"
                    prop:value=move || budget.runs.get()
                    on:input=move |ev| { budget.runs_chosen.set(true); budget.runs.set(event_target_value(&ev)); } /></label>
                <label>"test " <input id="test-percent" type="number" min="0" max="90" step="5" class="short"
                    prop:value=move || budget.test_percent.get() on:input=move |ev| budget.test_percent.set(event_target_value(&ev)) />" %"</label>
            </div>
            <p class="muted">"Every method gets the same split, seeds, batch orders and budget: run k of every method uses seed + k (its head initialisation, batch order and dropout). AdamW with weight decay 0.01, 6% warm-up then linear decay, gradients clipped at 1. Learning rates are chosen on validation; the table reports the test part (test 0 %: validation figures)."</p>
            <p id="plan-estimate" class="hint">{estimate}</p>
            <div class="actions">
                <button id="compare" class="primary" on:click=move |_| app.compare() disabled=move || !ready() || app.running.get().is_some()>"Compare"</button>
                <button id="cancel" on:click=move |_| app.cancel() disabled=move || app.running.get().is_none()>"Cancel"</button>
            </div>
            <Show when=move || app.compare_error.get().is_some()><p id="compare-error" class="error" role="alert">{move || app.compare_error.get()}</p></Show>
            {progress}
            <Show when=move || !app.failures.get().is_empty()>
                <ul id="failures">{move || app.failures.get().into_iter().map(|(_, name, e)| view! { <li class="error">{name} " failed: " {e}</li> }).collect_view()}</ul>
            </Show>
        </section>
    }
}

/// The plan the budget and the ticked cards describe with `runs` runs per method: its optimiser steps, and its time
/// where the backend was timed when the model loaded (a LoRA step of 16 x 64 tokens, scaled to this budget's batch
/// and typical text length, shared by the parallel workers on the CPU). Tracks every field it reads.
fn plan_size(app: App, runs: u64) -> Option<(usize, usize, Option<f64>)> {
    let budget = app.budget;
    for field in
        [budget.amount, budget.batch_size, budget.max_length, budget.seed, budget.val_percent, budget.test_percent]
    {
        field.track();
    }
    budget.by_steps.track();
    budget.group_by_length.track();
    let dataset = app.data.with(|d| d.as_ref().and_then(|d| d.dataset.clone().ok()))?;
    let BudgetChoice { config, val_fraction, test_fraction, .. } = budget.choice().ok()?;
    let methods: Vec<PlannedMethod> = app
        .cards
        .get_value()
        .iter()
        .filter(|c| {
            // A search adds steps.
            c.search.track();
            c.enabled.get()
        })
        .filter_map(|c| c.method().ok())
        .collect();
    let fractions = held_out_fractions(Some(val_fraction), test_fraction).ok()?;
    let train_examples = dataset.train_size(&fractions);
    let seeds = (0..runs).collect();
    let plan = ComparePlan { methods, seeds, config, search: SearchSettings::default() };
    let steps = plan.total_steps(train_examples);
    let backend = app.backend.get()?;
    let timed = backend.timings.iter().find(|t| backend.kind.starts_with(&t.backend)).and_then(|t| t.seconds_per_step);
    let seconds = timed.map(|timed| {
        // A random batch pads to about its longest text; a batch grouped by length to about the typical one.
        let length = app.summary.with(|s| match s {
            Some(Ok(s)) if plan.config.group_by_length => s.token_length_p50.min(plan.config.max_length),
            Some(Ok(s)) => s.token_length_p90.min(plan.config.max_length),
            _ => plan.config.max_length,
        });
        let per_step = timed * (plan.config.batch_size * length) as f64 / (16 * 64) as f64;
        let workers = if backend.gpu { 1 } else { parallel_workers().min(plan.methods.len() * runs as usize).max(1) };
        steps as f64 * per_step / workers as f64
    });
    Some((plan.methods.len(), steps, seconds))
}

/// The longest default comparison, in seconds: three runs per method when they fit, else one.
const DEFAULT_RUNS_SECONDS: f64 = 600.0;

/// The plan's size and time before Compare, and why the runs per method were set to one when three would not fit.
fn plan_estimate(app: App) -> String {
    let runs: u64 = app.budget.runs.get().trim().parse().unwrap_or(1);
    let Some((methods, steps, seconds)) = plan_size(app, runs) else { return String::new() };
    let time = match seconds {
        Some(s) => format!(", roughly {} from the step timed when the model loaded", duration(s)),
        None => ", timed once the first steps ran".into(),
    };
    let note = if runs == 1 && !app.budget.runs_chosen.get() {
        match plan_size(app, 3).and_then(|(.., s)| s) {
            Some(three) => format!(
                " One run per method, because three would take about {}: one run says little on small data, raise \
                 the runs when you can wait.",
                duration(three)
            ),
            None => " One run per method, because the time of three is not known before the first steps (the \
                     backend was not timed when the model loaded): one run says little on small data, raise the runs \
                     when you can wait."
                .into(),
        }
    } else {
        String::new()
    };
    format!("Plan: {methods} method(s) × {runs} run(s), {} optimiser steps{time}.{note}", format_count(steps))
}

fn duration(seconds: f64) -> String {
    if seconds < 90.0 { format!("{seconds:.0} s") } else { format!("{:.0} min", seconds / 60.0) }
}

/// The comparison the results show (the running one, else the most recent stored): its plan where known, its stored
/// runs, and per method what the engine's report reads.
#[derive(Clone)]
struct Shown {
    plan: Option<ComparePlan>,
    /// The stored runs (none for a comparison opened from a link, which is read-only).
    stored: Vec<StoredRun>,
    methods: Vec<(usize, MethodRuns)>,
    /// The dataset's labels, for the confusion matrices.
    labels: Vec<String>,
}

fn shown_comparison(app: App) -> Option<Shown> {
    let running = app.running.get();
    let runs = app.runs.get();
    let comparison = running.as_ref().map(|r| r.comparison).or_else(|| runs.iter().map(|r| r.comparison).max())?;
    let mut stored: Vec<StoredRun> = runs.into_iter().filter(|r| r.comparison == comparison).collect();
    stored.sort_by_key(|r| (r.index, r.result.seed));
    let plan = running.map(|r| r.plan).or_else(|| stored.iter().find_map(|r| r.plan.clone()));
    // Failed units and searches are known for the comparison started on this page.
    let ours = app.last_comparison.get() == Some(comparison);
    let failures = if ours { app.failures.get() } else { Vec::new() };
    let searches = if ours { app.searches.get() } else { Vec::new() };
    let count = match &plan {
        Some(plan) => plan.methods.len(),
        None => stored.iter().map(|r| r.index + 1).max().unwrap_or(0),
    };
    let methods = (0..count)
        .filter_map(|i| {
            let mine: Vec<&StoredRun> = stored.iter().filter(|r| r.index == i).collect();
            let planned = plan.as_ref().map(|p| &p.methods[i]);
            let config = planned.map(|p| p.config.clone()).or_else(|| mine.first().map(|r| r.result.config.clone()))?;
            let searched = mine.iter().find_map(|r| r.search.clone());
            let searched = searched.or_else(|| searches.iter().find(|(m, _)| *m == i).map(|(_, o)| o.clone()));
            let search_failed =
                failures.iter().find(|(u, ..)| *u == Unit::Search { method: i }).map(|(.., e)| e.clone());
            let search = searched.map(Ok).or(search_failed.map(Err));
            let learning_rate = mine
                .first()
                .map(|r| r.result.learning_rate)
                .or(search.as_ref().and_then(|s| s.as_ref().ok()).map(|s| s.chosen))
                .or(planned.map(|p| p.learning_rate))?;
            let mut seed_runs: Vec<SeedRun> =
                mine.iter().map(|r| SeedRun { seed: r.result.seed, result: Ok(r.result.clone()) }).collect();
            seed_runs.extend(failures.iter().filter_map(|(u, _, e)| match *u {
                Unit::Run { method, seed } if method == i => Some(SeedRun { seed, result: Err(e.clone()) }),
                _ => None,
            }));
            seed_runs.sort_by_key(|r| r.seed);
            // A method with nothing finished yet is not in the table.
            (!seed_runs.is_empty() || search.as_ref().is_some_and(Result::is_err))
                .then(|| (i, MethodRuns { method: config, learning_rate, search, runs: seed_runs }))
        })
        .collect();
    let labels = stored
        .first()
        .and_then(|r| serde_json::from_str::<crate::share::peft::RunInfo>(&r.adapter.run_info_json).ok())
        .map(|info| info.labels)
        .unwrap_or_default();
    Some(Shown { plan, stored, methods, labels })
}

/// Per step (or epoch) of the runs' curves: the mean, and where two or more runs reach it their mean ± one standard
/// deviation.
fn mean_curve(curves: &[Vec<(f64, f64)>]) -> (Vec<(f64, f64)>, Band) {
    let longest = curves.iter().map(Vec::len).max().unwrap_or(0);
    let (mut mean, mut band) = (Vec::new(), Vec::new());
    for i in 0..longest {
        let values: Vec<f64> = curves.iter().filter_map(|c| c.get(i).map(|p| p.1)).collect();
        let x = curves.iter().find_map(|c| c.get(i).map(|p| p.0)).unwrap_or(0.0);
        if let Some(spread) = Spread::of(&values) {
            mean.push((x, spread.mean));
            if spread.n > 1 {
                band.push((x, spread.mean - spread.std, spread.mean + spread.std));
            }
        }
    }
    (mean, band)
}

/// A comparison's curves, a line per method: the mean over its runs (finished, and from `live` those training) with a
/// band of one standard deviation; the efficiency plot has the mean reported accuracy with an error bar.
fn series_of(shown: &Shown, live: &LiveCurves) -> (Vec<Series>, Vec<Series>, Vec<Series>) {
    // A method's colour is its place in the comparison, the same while it trains and once it finished, in whatever
    // order parallel workers finish them.
    let color = |index: usize| PALETTE[index % PALETTE.len()];
    let count = shown.plan.as_ref().map_or(shown.methods.len(), |p| p.methods.len());
    let (mut losses, mut accuracy, mut efficiency) = (Vec::new(), Vec::new(), Vec::new());
    for index in 0..count {
        let finished: Vec<&MethodResult> = shown
            .methods
            .iter()
            .filter(|(i, _)| *i == index)
            .flat_map(|(_, m)| m.runs.iter().filter_map(|r| r.result.as_ref().ok()))
            .collect();
        let training: Vec<_> = live
            .iter()
            .filter(|(unit, ..)| {
                matches!(*unit, Unit::Run { method, seed } if method == index
                    && !finished.iter().any(|r| r.seed == seed))
            })
            .collect();
        let Some(name) = finished
            .first()
            .map(|r| r.method.clone())
            .or_else(|| shown.plan.as_ref().map(|p| p.methods[index].config.label()))
        else {
            continue;
        };
        if finished.is_empty() && training.is_empty() {
            continue;
        }
        let c = color(index);
        let loss_curves: Vec<Vec<(f64, f64)>> = finished
            .iter()
            .map(|r| smooth(&r.losses))
            .chain(training.iter().map(|(_, curve, _)| smooth(curve)))
            .collect();
        let (points, band) = mean_curve(&loss_curves);
        let label = if training.is_empty() { name.clone() } else { format!("{name} (training)") };
        losses.push(Series { name: label, color: c, points, band });
        let epoch_curves: Vec<Vec<(f64, f64)>> = finished
            .iter()
            .map(|r| r.evaluations.iter().enumerate().map(|(i, (_, m))| ((i + 1) as f64, m.accuracy * 100.0)).collect())
            .chain(training.iter().map(|(_, _, evals)| evals.iter().map(|&(e, a)| (e as f64, a * 100.0)).collect()))
            .collect();
        let (points, band) = mean_curve(&epoch_curves);
        accuracy.push(Series { name: name.clone(), color: c, points, band });
        let reported: Vec<f64> = finished.iter().filter_map(|r| r.reported()).map(|m| m.accuracy * 100.0).collect();
        if let (Some(spread), Some(first)) = (Spread::of(&reported), finished.first()) {
            let x = first.trainable_percent;
            let band =
                if spread.n > 1 { vec![(x, spread.mean - spread.std, spread.mean + spread.std)] } else { vec![] };
            efficiency.push(Series { name, color: c, points: vec![(x, spread.mean)], band });
        }
    }
    (losses, accuracy, efficiency)
}

/// The three charts of a comparison.
fn charts_view(shown: &Shown, live: &LiveCurves) -> impl IntoView + use<> {
    let (losses, accuracy, efficiency) = series_of(shown, live);
    view! {
        <div class="charts">
            {chart("Training loss (moving average)", "step", losses, false, false)}
            {chart("Validation accuracy %", "epoch", accuracy, false, false)}
            {chart("Accuracy % against trainable % of the model", "trainable % (log scale)", efficiency, true, true)}
        </div>
    }
}

/// Raw loss per step plus a running mean would clutter the chart: an exponential moving average (0.8) is drawn.
fn smooth(losses: &[f32]) -> Vec<(f64, f64)> {
    // A chart is 520 px wide: more points only cost drawing time (a long run, or a link's stretched curve).
    let stride = losses.len().div_ceil(MAX_CURVE_POINTS).max(1);
    let mut average = None;
    losses
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            let a = average.map_or(l as f64, |a: f64| 0.8 * a + 0.2 * l as f64);
            average = Some(a);
            ((i + 1) as f64, a)
        })
        .filter(|(step, _)| (*step as usize).is_multiple_of(stride) || *step as usize == losses.len())
        .collect()
}

/// The most points a loss curve is drawn with.
const MAX_CURVE_POINTS: usize = 500;

/// Mean training loss of the first (or last) quarter of the steps, for tests and tooltips.
fn loss_mean(losses: &[f32], start: bool) -> String {
    let n = (losses.len() / 4).max(1).min(losses.len());
    let part = if start { &losses[..n] } else { &losses[losses.len() - n..] };
    format!("{:.5}", part.iter().map(|&l| l as f64).sum::<f64>() / n.max(1) as f64)
}

fn sort_value(run: &StoredRun, key: SortKey) -> f64 {
    let r = &run.result;
    let v = match key {
        SortKey::Run | SortKey::Method => return 0.0,
        SortKey::Trainable => Some(r.trainable_params as f64),
        SortKey::Percent => Some(r.trainable_percent),
        SortKey::AdapterBytes => Some(r.adapter_bytes as f64),
        SortKey::MsPerStep => Some(r.seconds_per_step),
        SortKey::Memory => r.peak_memory_bytes.map(|b| b as f64),
        SortKey::ValLoss => r.val_loss,
        SortKey::Accuracy => r.accuracy,
        SortKey::MacroF1 => r.macro_f1,
    };
    v.filter(|v| v.is_finite()).unwrap_or(f64::NAN)
}

/// The shown comparison's table, a row per method over its runs: size and speed, then accuracy on the reported part
/// as mean ± std over the runs that learnt, its 95 % interval, macro-F1 and the mark against the best; what the marks
/// mean; runs at chance and failures; the downloads and the confusion matrices.
fn summary_view(app: App, shown: Shown) -> Option<impl IntoView + use<>> {
    {
        if shown.methods.is_empty() {
            return None;
        }
        let methods: Vec<MethodRuns> = shown.methods.iter().map(|(_, m)| m.clone()).collect();
        let report = Report::new(&methods);
        let part = report.part;
        let rows = report
            .methods
            .iter()
            .zip(&methods)
            .map(|(m, runs)| {
                let learnt = m.accuracy.map_or(0, |a| a.n);
                let runs_cell = format!("{learnt}/{}", runs.runs.len());
                let verdict = match &m.verdict {
                    Verdict::Best => "best",
                    Verdict::NotDistinguishable { .. } => "tied",
                    Verdict::Worse { .. } => "worse",
                    Verdict::TooFewRuns => "unknown",
                };
                let f1 = m.macro_f1.map_or("n/a".into(), |s| {
                    if s.n > 1 { format!("{:.3} ± {:.3}", s.mean, s.std) } else { format!("{:.3}", s.mean) }
                });
                view! {
                    <tr class="summary-row" data-method=m.method.clone() data-verdict=verdict>
                        <td class="method">{m.method.clone()}</td>
                        <td class="num" data-col="lr" title=if m.searched { "chosen by the search on validation" } else { "" }>
                            {format!("{:.1e}{}", m.learning_rate, if m.searched { "*" } else { "" })}</td>
                        <td class="num">{m.trainable_params.map(format_count)}</td>
                        <td class="num">{m.adapter_bytes.map(format_count)}</td>
                        <td class="num">{m.seconds_per_step.map(|s| format!("{:.0}", s * 1000.0))}</td>
                        <td class="num" data-col="runs">{runs_cell}{(!m.at_chance.is_empty()).then_some(" (at chance: see below)")}</td>
                        <td class="num" data-col="accuracy-mean">{percent(m.accuracy.as_ref())}</td>
                        <td class="num" data-col="interval">{interval(m.accuracy.as_ref())}</td>
                        <td class="num" data-col="macro-f1-mean">{f1}</td>
                        <td data-col="mark">{m.verdict.mark()}</td>
                    </tr>
                }
            })
            .collect_view();
        let notes = report
            .methods
            .iter()
            .flat_map(|m| {
                let chance = m.at_chance.iter().map(|c| {
                    format!(
                        "{}, seed {}: stayed at chance ({:.1} % accuracy; the most frequent class is {:.1} %)",
                        m.method,
                        c.seed,
                        100.0 * c.accuracy,
                        100.0 * c.majority_share
                    )
                });
                let failed = m.failed.iter().map(|(seed, e)| match seed {
                    Some(seed) => format!("{}, seed {seed}: failed: {e}", m.method),
                    None => format!("{}: {e}", m.method),
                });
                chance.chain(failed).collect::<Vec<_>>()
            })
            .map(|line| view! { <li>{line}</li> })
            .collect_view();
        let caption = match part {
            Part::Test => "Accuracy on the test part, which no choice looked at.",
            Part::Validation => {
                "No test part: these are validation figures, the same data the learning rates were chosen on."
            }
        };
        // Runs stored on this page can be downloaded and shared; a comparison opened from a link is read-only.
        let downloadable = shown
            .plan
            .clone()
            .filter(|_| !shown.stored.is_empty())
            .map(|plan| (plan, methods.clone(), report.clone(), shown.stored.clone()));
        let downloads = downloadable.map(|(plan, methods, report, stored)| {
            let (methods_csv, report_csv) = (methods.clone(), report.clone());
            view! {
                <div class="actions">
                    <button id="download-json" on:click=move |_| app.download_results(&plan, &methods, &report, &stored)>
                        "Download results (JSON)"</button>
                    <button id="download-csv" on:click=move |_| {
                        app.download_text("peft-lab-results.csv", &results_csv(&methods_csv, &report_csv))
                    }>"Download results (CSV)"</button>
                    {comparison_link::share_button(app)}
                </div>
                {comparison_link::made_link_view(app)}
            }
        });
        let confusions = confusion_view(&report, &shown.labels);
        Some(view! {
            <div class="table-wrap">
                <table id="summary-table" data-part=part.name()>
                    <caption>{caption}</caption>
                    <thead><tr>
                        <th>"method"</th><th>"learning rate"</th><th>"trainable"</th><th>"adapter bytes"</th>
                        <th>"ms/step"</th><th>"runs that learnt"</th>
                        <th>{format!("{} accuracy % (mean ± std)", part.name())}</th><th>"95 % interval"</th>
                        <th>"macro-F1"</th><th>"vs best"</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <p id="marks-note" class="muted">{NOT_DISTINGUISHABLE} " “-x [a, b]”: the best is x points better, [a, b] the 95 % interval of that gap; “?”: fewer than two seeds where both learnt. A run is " {AT_CHANCE} " *: learning rate chosen by the search."</p>
            <ul id="run-notes">{notes}</ul>
            {downloads}
            {confusions}
        })
    }
}

/// Each method's confusion matrix on the reported part, averaged over its runs (classes named from the runs' files;
/// only up to 20 classes).
fn confusion_view(report: &Report, labels: &[String]) -> impl IntoView + use<> {
    let labels = labels.to_vec();
    let shown = !labels.is_empty() && labels.len() <= 20;
    let tables = report
        .methods
        .iter()
        .filter(|m| shown && m.confusion.len() == labels.len())
        .map(|m| {
            let head = labels.iter().map(|l| view! { <th>{l.clone()}</th> }).collect_view();
            let rows = m
                .confusion
                .iter()
                .zip(&labels)
                .map(|(row, label)| {
                    let cells = row.iter().map(|c| view! { <td class="num">{format!("{c:.1}")}</td> }).collect_view();
                    view! { <tr><th>{label.clone()}</th>{cells}</tr> }
                })
                .collect_view();
            view! {
                <table class="confusion" data-method=m.method.clone()>
                    <caption>{m.method.clone()}</caption>
                    <thead><tr><th>"true \\ predicted"</th>{head}</tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }
        })
        .collect_view();
    view! {
        <details id="confusion">
            <summary>"Confusion matrices (true label by row, mean over each method's runs)"</summary>
            <div class="confusions">{tables}</div>
        </details>
    }
}

fn results_view(app: App) -> impl IntoView {
    let header = move |key: SortKey, title: &'static str| {
        let arrow = move || match app.sort.get() {
            (k, true) if k == key => " ▲",
            (k, false) if k == key => " ▼",
            _ => "",
        };
        view! {
            <th class="sortable" on:click=move |_| app.sort.update(|s| *s = if s.0 == key { (key, !s.1) } else { (key, true) })>
                {title}{arrow}
            </th>
        }
    };
    let rows = move || {
        let mut runs = app.runs.get();
        let comparisons: Vec<u64> = {
            let mut ids: Vec<u64> = runs.iter().map(|r| r.comparison).collect();
            ids.dedup();
            ids
        };
        let (key, ascending) = app.sort.get();
        runs.sort_by(|a, b| {
            let order = match key {
                SortKey::Run => (a.comparison, a.index, a.result.seed).cmp(&(b.comparison, b.index, b.result.seed)),
                SortKey::Method => a.result.method.cmp(&b.result.method),
                _ => {
                    let (x, y) = (sort_value(a, key), sort_value(b, key));
                    // Missing values sort last either way.
                    match (x.is_nan(), y.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => return std::cmp::Ordering::Greater,
                        (false, true) => return std::cmp::Ordering::Less,
                        _ => x.total_cmp(&y),
                    }
                }
            };
            if ascending { order } else { order.reverse() }
        });
        runs.into_iter()
            .map(|run| {
                let r = &run.result;
                let number = comparisons.iter().position(|&c| c == run.comparison).map_or(0, |i| i + 1);
                let memory = r.peak_memory_bytes.map_or("n/a".to_string(), mib);
                view! {
                    <tr class="result-row" class:at-chance=at_chance(r).is_some() data-method=r.method.clone() data-seed=r.seed data-loss-start=loss_mean(&r.losses, true)
                        data-loss-end=loss_mean(&r.losses, false)>
                        <td title=format!("{} on {} · {} · {}", run.model, run.dataset, run.backend, run.config.batch_size)>{format!("#{number}")}</td>
                        <td class="method">{r.method.clone()}</td>
                        <td class="num" data-col="seed">{r.seed}</td>
                        <td class="num" data-col="trainable">{format_count(r.trainable_params)}</td>
                        <td class="num">{format!("{:.3}", r.trainable_percent)}</td>
                        <td class="num" data-col="adapter-bytes">{format_count(r.adapter_bytes)}</td>
                        <td class="num" data-col="ms-per-step">{format!("{:.0}", r.seconds_per_step * 1000.0)}</td>
                        <td class="num" data-col="memory">{memory}</td>
                        <td class="num" data-col="val-loss">{optional(r.val_loss, 1.0, 4)}</td>
                        <td class="num" data-col="accuracy">{optional(r.accuracy, 100.0, 1)}</td>
                        <td class="num" data-col="macro-f1">{optional(r.macro_f1, 1.0, 3)}</td>
                        <td class="num" data-col="test-accuracy">{optional(r.test.as_ref().map(|t| t.accuracy), 100.0, 1)}</td>
                        <td class="chance" title=AT_CHANCE>{at_chance(r).map(|_| "at chance")}</td>
                        {sharing::run_actions(app, run.clone())}
                    </tr>
                }
            })
            .collect_view()
    };
    let charts = move || shown_comparison(app).map(|shown| charts_view(&shown, &app.live.get()));
    let summary = move || shown_comparison(app).and_then(|shown| summary_view(app, shown));
    let clear = move |_| {
        let (runs, comparisons) = app.runs.with_untracked(|runs| {
            let mut ids: Vec<u64> = runs.iter().map(|r| r.comparison).collect();
            ids.sort_unstable();
            ids.dedup();
            (runs.len(), ids.len())
        });
        let question = format!(
            "Remove the {runs} stored run(s) of {comparisons} comparison(s) from this browser, in every tab of this \
             page? Files you downloaded are not touched."
        );
        let window = web_sys::window().expect("the page has a window");
        if !window.confirm_with_message(&question).unwrap_or(false) {
            return;
        }
        spawn_local(async move {
            match store::clear().await {
                Ok(()) => {
                    store::announce_change();
                    app.runs.set(Vec::new());
                    app.live.set(Vec::new());
                }
                Err(e) => app.notice(format!("the stored runs could not be cleared: {e}")),
            }
        });
    };
    view! {
        <section id="results-section">
            <h2>"4. Results"</h2>
            {summary}
            {charts}
            <h3>"Every run"</h3>
            <div class="table-wrap">
                <table id="results">
                    <thead><tr>
                        {header(SortKey::Run, "run")}
                        {header(SortKey::Method, "method")}
                        <th>"seed"</th>
                        {header(SortKey::Trainable, "trainable")}
                        {header(SortKey::Percent, "% of model")}
                        {header(SortKey::AdapterBytes, "adapter bytes")}
                        {header(SortKey::MsPerStep, "ms/step")}
                        {header(SortKey::Memory, "peak GPU memory")}
                        {header(SortKey::ValLoss, "val loss")}
                        {header(SortKey::Accuracy, "val accuracy %")}
                        {header(SortKey::MacroF1, "val macro-F1")}
                        <th>"test accuracy %"</th>
                        <th></th>
                        <th>"share and export"</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <p class="muted">"Peak GPU memory is what burn's allocator reserved on WebGPU; browsers do not report CPU memory per task, so CPU runs show n/a. Runs are kept in this browser (IndexedDB) until cleared."</p>
            <button id="clear" on:click=clear disabled=move || app.running.get().is_some()>"Clear stored runs"</button>
        </section>
    }
}

fn try_view(app: App) -> impl IntoView {
    let predictions = move || {
        app.predictions
            .get()
            .into_iter()
            .map(|p| {
                let top = p.ranked.first().cloned();
                let others: BTreeMap<String, f64> =
                    p.ranked.iter().skip(1).take(3).map(|l| (l.label.clone(), l.probability)).collect();
                let others =
                    others.into_iter().map(|(l, p)| format!("{l} {:.0}%", p * 100.0)).collect::<Vec<_>>().join(", ");
                view! {
                    <tr class="prediction" data-method=p.method.clone()>
                        <td>{p.method.clone()}</td>
                        <td class="label">{top.as_ref().map(|t| t.label.clone())}</td>
                        <td class="num">{top.map(|t| format!("{:.1}%", t.probability * 100.0))}</td>
                        <td class="muted">{others}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <section id="try-section">
            <h2>"5. Try it"</h2>
            <p class="muted">"Classify your own sentence with every method trained since this page opened."</p>
            <textarea id="try-text" rows="2" prop:value=move || app.try_text.get() on:input=move |ev| app.try_text.set(event_target_value(&ev))
                on:keydown=move |ev: web_sys::KeyboardEvent| if ev.key() == "Enter" && !ev.shift_key() { ev.prevent_default(); app.classify(); }></textarea>
            <button id="try" on:click=move |_| app.classify()
                disabled=move || app.tryable.get().is_empty() || app.running.get().is_some()>"Classify"</button>
            <Show when=move || app.tryable.get().is_empty()>
                <p class="muted">"Run a comparison first (runs restored from an earlier visit are listed above but not loaded for prediction)."</p>
            </Show>
            <table id="predictions"><tbody>{predictions}</tbody></table>
        </section>
    }
}
