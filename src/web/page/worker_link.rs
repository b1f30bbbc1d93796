//! The training worker as the page sees it: started and restarted (each slice resets what the old worker held),
//! messages sent, and its answers handed to the slice they concern. Of each kind of request only the latest one's
//! answer is shown, and nothing from a worker that was replaced.

use std::collections::BTreeMap;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use super::{Page, mark};
use crate::web::js_error;
use crate::web::protocol::{BackendChoice, FromWorker, RequestKind, ToWorker};

#[derive(Clone, Copy)]
pub struct WorkerLink {
    worker: StoredValue<Option<Worker>, LocalStorage>,
    /// Counts the workers started: a message from a replaced one is dropped.
    generation: StoredValue<u64>,
    /// The latest request of each kind.
    latest: StoredValue<BTreeMap<RequestKind, u64>>,
    /// The slices the answers go to, set once the page is built.
    page: StoredValue<Option<Page>>,
    last_crash: StoredValue<f64>,
}

impl WorkerLink {
    pub fn new() -> Self {
        Self {
            worker: StoredValue::new_local(None),
            generation: StoredValue::new(0),
            latest: StoredValue::new(BTreeMap::new()),
            page: StoredValue::new(None),
            last_crash: StoredValue::new(f64::NEG_INFINITY),
        }
    }

    pub fn connect(&self, page: Page) {
        self.page.set_value(Some(page));
    }

    fn page(&self) -> Page {
        self.page.get_value().expect("the page connects its worker link before starting it")
    }

    /// The id of a new request of `kind`; from now on, answers to earlier ones of that kind are dropped.
    pub fn request(&self, kind: RequestKind) -> u64 {
        self.latest.update_value(|latest| *latest.entry(kind).or_default() += 1);
        self.latest.with_value(|latest| latest[&kind])
    }

    fn is_latest(&self, kind: RequestKind, request: u64) -> bool {
        self.latest.with_value(|latest| latest.get(&kind) == Some(&request))
    }

    pub fn send(&self, message: &ToWorker) {
        let notices = self.page().notices;
        let value = match serde_wasm_bindgen::to_value(message) {
            Ok(value) => value,
            Err(e) => return notices.push(format!("cannot send a message to the worker: {e}")),
        };
        self.worker.with_value(|worker| {
            if let Some(worker) = worker
                && let Err(e) = worker.post_message(&value)
            {
                notices.push(format!("cannot reach the worker: {}", js_error(&e)));
            }
        });
    }

    /// (Re)starts the worker: it acquires the backend and loads the model. What the old one held (runs to try,
    /// requests in flight) is reset; finished runs stay in the table, and links and imported adapters are applied
    /// again once the model is ready.
    pub fn start(&self) {
        if let Some(old) = self.worker.try_update_value(|w| w.take()).flatten() {
            old.terminate();
        }
        self.generation.update_value(|g| *g += 1);
        let generation = self.generation.get_value();
        let page = self.page();
        page.status.reset();
        page.try_it.reset();
        page.share.reset();
        page.imports.reset();
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = match Worker::new_with_options("./worker.js", &options) {
            Ok(worker) => worker,
            Err(e) => {
                let error = format!("the training worker cannot start: {}", js_error(&e));
                return page.status.model_failed(error);
            }
        };
        let link = *self;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if link.generation.get_value() != generation {
                return;
            }
            match serde_wasm_bindgen::from_value::<FromWorker>(event.data()) {
                Ok(message) => link.receive(message),
                Err(e) => link.page().notices.push(format!("unreadable message from the worker: {e}")),
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |event: web_sys::ErrorEvent| {
            event.prevent_default();
            if link.generation.get_value() == generation {
                link.crashed(event.message());
            }
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        self.worker.set_value(Some(worker));
        self.send(&page.status.start_message());
    }

    /// Restarts a crashed worker, unless it crashed moments ago too (then a restart would loop).
    fn crashed(&self, message: String) {
        let page = self.page();
        let during = match page.comparison.training_now() {
            names if names.is_empty() => String::new(),
            names => format!(" while training {names}"),
        };
        page.comparison.interrupt();
        page.link.stopped_worker(&message);
        let now = js_sys::Date::now();
        let again = now - self.last_crash.get_value() < 60_000.0;
        self.last_crash.set_value(now);
        if again {
            let error = format!("the training worker stopped twice in a minute: {message}");
            page.status.model_failed(error);
        } else {
            page.notices.push(format!(
                "the training worker stopped{during}: {message}. It was restarted; finished runs are kept."
            ));
            self.start();
        }
    }

    /// The GPU went away mid-run: the comparison goes on on the CPU from its runs' last checkpoints.
    fn gpu_lost(&self, reason: String) {
        let page = self.page();
        let during = page.comparison.training_now();
        page.comparison.interrupt();
        page.status.backend_choice.set(BackendChoice::Cpu);
        page.notices.push(format!(
            "The GPU was lost while training {during} ({reason}): the comparison goes on on the CPU from its runs' last \
             checkpoints."
        ));
        self.start();
    }

    /// Hands a message to the slice it concerns; an answer to anything but the latest request of its kind is
    /// dropped (the data, the text or the link changed since it was asked).
    fn receive(&self, message: FromWorker) {
        if let Some((kind, request)) = message.answers()
            && !self.is_latest(kind, request)
        {
            return;
        }
        let page = self.page();
        let comparison = page.comparison;
        match message {
            FromWorker::Backend(info) => {
                let was_timing =
                    page.status.backend.with_untracked(|b| b.iter().flat_map(|b| &b.timings).any(|t| t.pending));
                if was_timing && info.gpu {
                    page.notices.push("WebGPU was timed faster than the CPU: training runs on it from now on.".into());
                }
                page.status.backend.set(Some(info));
            }
            FromWorker::ModelProgress { loaded, total } => page.status.model_loading(loaded, total),
            FromWorker::ModelReady(info) => {
                mark("peft-lab:model-ready");
                page.status.model_ready(info);
                page.link.reopen();
                page.share.resend_pending();
                page.imports.import_again();
                comparison.resume_interrupted();
            }
            FromWorker::ModelFailed(error) => page.status.model_failed(error),
            FromWorker::Summary { summary, .. } => page.data.summary.set(Some(Ok(summary))),
            FromWorker::SummaryFailed { error, .. } => page.data.summary.set(Some(Err(error))),
            FromWorker::UnitStarted { unit, total_steps } => comparison.unit_started(unit, total_steps),
            FromWorker::Progress { unit, event } => comparison.on_progress(unit, event),
            FromWorker::RunFinished { method, result, adapter } => comparison.run_finished(method, result, adapter),
            FromWorker::SearchFinished { method, outcome } => comparison.search_finished(method, outcome),
            FromWorker::UnitFailed { unit, error } => comparison.unit_failed(unit, error),
            FromWorker::CheckpointSaved { unit, step } => comparison.checkpoint_saved(unit, step),
            FromWorker::CheckpointFailed { unit, step, error } => comparison.checkpoint_failed(unit, step, error),
            FromWorker::CompareFinished => comparison.finished(),
            FromWorker::Error(error) => comparison.error.set(Some(error)),
            FromWorker::Notice(notice) => page.notices.push(notice),
            FromWorker::Prediction { predictions, .. } => page.try_it.predictions.set(predictions),
            FromWorker::Shared { link, .. } => page.share.answered(Ok(link)),
            FromWorker::ShareFailed { error, .. } => page.share.answered(Err(error)),
            FromWorker::LinkOpened { method, meta, precision, .. } => page.link.opened(method, meta, precision),
            FromWorker::LinkFailed { error, .. } => page.link.failed(error),
            FromWorker::Imported { method, labels, .. } => page.imports.imported(method, labels),
            FromWorker::ImportFailed { name, error, .. } => page.imports.failed(&name, error),
            FromWorker::Merged { config_json, weights, .. } => page.share.merged(Ok((config_json, weights))),
            FromWorker::MergeFailed { error, .. } => page.share.merged(Err(error)),
            FromWorker::Crashed(error) => self.crashed(error),
            FromWorker::GpuLost { reason } => self.gpu_lost(reason),
            // The page has no decoder view yet; the worker's decoder jobs are driven by their browser test.
            FromWorker::DecoderProgress { .. }
            | FromWorker::DecoderTrained { .. }
            | FromWorker::DecoderFailed { .. }
            | FromWorker::GeneratedText { .. }
            | FromWorker::Generated { .. }
            | FromWorker::GenerateFailed { .. } => {}
        }
    }
}
