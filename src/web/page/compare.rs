//! The comparison: started from the cards, the budget and the data, kept in the browser until it ends (a reload, a
//! crashed worker or a lost GPU goes on with it), cancelled.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};

use super::budget::{Budget, BudgetChoice};
use super::data::Data;
use super::methods::Cards;
use super::notices::Notices;
use super::runs::Runs;
use super::status::Status;
use super::try_it::TryIt;
use super::worker_link::WorkerLink;
use super::{now_ms, parallel_workers};
use crate::data::Columns;
use crate::session::compare::{ComparePlan, SearchOutcome, SearchSettings, Unit};
use crate::session::held_out_fractions;
use crate::session::results::iso_utc;
use crate::web::protocol::{CompareJob, ToWorker};
use crate::web::store;

/// The comparison in progress: what its finished runs are stored with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Running {
    pub comparison: u64,
    pub dataset: String,
    pub columns: Columns,
    pub val_fraction: f64,
    pub test_fraction: Option<f64>,
    pub model: String,
    pub backend: String,
    pub plan: ComparePlan,
    pub train_examples: usize,
    /// Optimiser steps of the whole plan: searches and runs.
    pub total_steps: usize,
}

/// The comparison in progress as kept in the browser until it finishes or is stopped: a reload goes on with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingComparison {
    running: Running,
    job: CompareJob,
}

/// Live curves of the running comparison's seed runs: losses per step, (epoch, accuracy) per evaluation.
pub type LiveCurves = Vec<(Unit, Vec<f32>, Vec<(usize, f64)>)>;

/// A unit of the running comparison that started: a search or one seed's run.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub unit: Unit,
    /// "lora r8 · seed 42", "lora r8 · learning-rate search".
    pub name: String,
    pub step: usize,
    pub total_steps: usize,
    pub seconds_per_step: f64,
    /// Finished or failed: counted as done, no longer shown.
    pub finished: bool,
    /// Steps timed in this page (a resumed run's earlier steps were not).
    pub timed_steps: usize,
    /// The step of its latest checkpoint the browser has stored.
    pub saved_step: Option<usize>,
    /// The step it went on from after a reload.
    pub resumed_from: Option<usize>,
}

#[derive(Clone, Copy)]
pub struct Comparison {
    pub running: RwSignal<Option<Running>>,
    /// The units of the running comparison that started, several at once with parallel workers.
    pub progress: RwSignal<Vec<Progress>>,
    pub live: RwSignal<LiveCurves>,
    pub error: RwSignal<Option<String>>,
    /// The running (or last) comparison's failed units (unit, its name, why), and its searches' outcomes.
    pub failures: RwSignal<Vec<(Unit, String, String)>>,
    pub searches: RwSignal<Vec<(usize, SearchOutcome)>>,
    /// The comparison `failures` and `searches` belong to: the last one started on this page.
    pub last_started: RwSignal<Option<u64>>,
    /// The link made of the shown comparison (reset when another starts).
    pub made_link: RwSignal<Option<Result<String, String>>>,
    pub first_step_marked: StoredValue<bool>,
    /// The comparisons a reload (or a worker's crash) interrupted, newest first, until one is resumed.
    interrupted: StoredValue<Vec<PendingComparison>>,
    /// The comparison running now, as kept for a reload.
    current: StoredValue<Option<PendingComparison>>,
    pub worker: WorkerLink,
    pub notices: Notices,
    pub results: Runs,
    pub try_it: TryIt,
    status: Status,
    data: Data,
    cards: Cards,
    budget: Budget,
}

impl Comparison {
    /// Built where the slices it works with are provided.
    pub fn new() -> Self {
        Self {
            running: RwSignal::new(None),
            progress: RwSignal::new(Vec::new()),
            live: RwSignal::new(Vec::new()),
            error: RwSignal::new(None),
            failures: RwSignal::new(Vec::new()),
            searches: RwSignal::new(Vec::new()),
            last_started: RwSignal::new(None),
            made_link: RwSignal::new(None),
            first_step_marked: StoredValue::new(false),
            interrupted: StoredValue::new(Vec::new()),
            current: StoredValue::new(None),
            worker: expect_context(),
            notices: expect_context(),
            results: expect_context(),
            try_it: expect_context(),
            status: expect_context(),
            data: expect_context(),
            cards: expect_context(),
            budget: expect_context(),
        }
    }

    /// Whether the model and a usable dataset are there (tracked).
    pub fn can_start(&self) -> bool {
        self.status.ready() && self.data.usable()
    }

    /// Whether a comparison runs (tracked).
    pub fn is_running(&self) -> bool {
        self.running.with(Option::is_some)
    }

    pub fn compare(&self) {
        self.error.set(None);
        let start = || -> Result<(), String> {
            let data = self.data.loaded.get_untracked().ok_or("load a dataset first")?;
            let dataset = data.dataset.clone().map_err(|e| format!("the dataset is not usable: {e}"))?;
            let BudgetChoice { config, val_fraction, test_fraction, seeds } = self.budget.choice()?;
            let methods = self.cards.planned()?;
            if methods.is_empty() {
                return Err("tick at least one method".into());
            }
            let fractions = held_out_fractions(Some(val_fraction), test_fraction).map_err(|e| e.to_string())?;
            let train_examples = dataset.train_size(&fractions);
            let plan = ComparePlan { methods, seeds, config, search: SearchSettings::default() };
            plan.check()?;
            self.status.memory_check(&plan)?;
            let (backend, on_gpu) = self.status.backend.get_untracked().map(|b| (b.kind, b.gpu)).unwrap_or_default();
            let running = Running {
                comparison: now_ms(),
                dataset: data.name.clone(),
                columns: dataset.columns.clone(),
                val_fraction,
                test_fraction,
                model: self.status.model_name(),
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
                planned_on_cpu: !on_gpu,
            };
            self.begin(running, job);
            Ok(())
        };
        if let Err(e) = start() {
            self.error.set(Some(e));
        }
    }

    /// Starts `job` (a new comparison, or one a reload interrupted) and keeps it in the browser until it finishes.
    fn begin(&self, running: Running, job: CompareJob) {
        let comparison = running.comparison;
        self.current.set_value(Some(PendingComparison { running: running.clone(), job: job.clone() }));
        self.running.set(Some(running.clone()));
        self.live.set(Vec::new());
        self.progress.set(Vec::new());
        self.made_link.set(None);
        self.failures.set(Vec::new());
        self.searches.set(Vec::new());
        self.last_started.set(Some(comparison));
        self.try_it.new_comparison();
        self.worker.send(&ToWorker::Compare(job.clone()));
        let this = *self;
        spawn_local(async move {
            store::hold(comparison).await;
            // Stopped or finished meanwhile: nothing to keep.
            if this.current.with_value(|c| c.as_ref().map(|c| c.running.comparison)) != Some(comparison) {
                return;
            }
            if let Err(e) = store::save_pending(comparison, &PendingComparison { running, job }).await {
                this.notices.push(format!(
                    "the browser's storage refused this comparison ({e}): a reload now would lose the runs in progress"
                ));
            }
        });
    }

    /// The comparisons a reload interrupted, read back as the page opens; resumed here if the model is ready.
    pub fn interrupted_found(&self, mut pending: Vec<PendingComparison>) {
        pending.sort_by_key(|p| std::cmp::Reverse(p.running.comparison));
        self.interrupted.set_value(pending);
        if self.status.ready_untracked() {
            self.resume_interrupted();
        }
    }

    /// Goes on with the comparison a reload (or a closed tab) interrupted, once its model is loaded again: finished
    /// runs are rebuilt from their last checkpoints, the one in progress goes on from its last, the rest start.
    pub fn resume_interrupted(&self) {
        if self.running.with_untracked(Option::is_some) {
            return;
        }
        let model = self.status.model_name();
        let interrupted = self.interrupted.get_value();
        let Some(at) = interrupted.iter().position(|p| p.running.model == model) else {
            // Kept: loading that model goes on with it.
            if let Some(other) = interrupted.first() {
                self.notices.push(format!(
                    "a comparison on {} was interrupted; load that model to go on with it (this page has {model})",
                    other.running.model
                ));
            }
            return;
        };
        let pending = self.interrupted.try_update_value(|i| i.remove(at)).expect("the page's state lives");
        // Every run stored: it had finished, and only its end was not recorded.
        let comparison = pending.running.comparison;
        let plan = &pending.running.plan;
        if self.results.stored_of(comparison) >= plan.methods.len() * plan.seeds.len() {
            return self.forget_pending(comparison);
        }
        let this = *self;
        spawn_local(async move {
            let PendingComparison { mut running, mut job } = pending;
            let started = iso_utc(running.comparison as f64 / 1000.0);
            if !store::hold_if_free(running.comparison).await {
                let dataset = &running.dataset;
                return this
                    .notices
                    .push(format!("the comparison on {dataset} started at {started} is running in another tab"));
            }
            this.notices.push(format!(
                "the comparison on {} started at {started} was interrupted; it goes on from its runs' last checkpoints",
                running.dataset
            ));
            this.data.show_resumed(&running.dataset, &job.dataset);
            job.resume = true;
            job.parallel_workers = parallel_workers();
            // On the backend the page has now (the CPU after a lost GPU).
            let (backend, on_gpu) = this.status.backend.get_untracked().map(|b| (b.kind, b.gpu)).unwrap_or_default();
            running.backend = backend;
            job.planned_on_cpu = !on_gpu;
            this.begin(running, job);
        });
    }

    /// The worker stopped: the restarted one goes on with the comparison from its checkpoints (once its model is
    /// loaded).
    pub fn interrupt(&self) {
        self.running.set(None);
        self.progress.set(Vec::new());
        if let Some(current) = self.current.try_update_value(Option::take).flatten() {
            store::release();
            self.interrupted.update_value(|i| i.insert(0, current));
        }
    }

    /// The comparison is over (finished or stopped): a reload no longer goes on with it.
    fn forget_pending(&self, comparison: u64) {
        self.current.set_value(None);
        store::release();
        let notices = self.notices;
        spawn_local(async move {
            if let Err(e) = store::clear_pending(comparison).await {
                notices.push(format!("the comparison's checkpoints could not be removed from the browser: {e}"));
            }
        });
    }

    /// Every unit finished or failed.
    pub fn finished(&self) {
        if let Some(running) = self.running.get_untracked() {
            self.forget_pending(running.comparison);
        }
        self.running.set(None);
        self.progress.set(Vec::new());
    }

    pub fn cancel(&self) {
        self.notices.push(format!("cancelled {}; the methods that had finished are kept", self.training_now()));
        self.finished();
        self.worker.start();
    }

    /// The methods training now, named for a notice.
    pub fn training_now(&self) -> String {
        self.progress.with_untracked(|p| {
            p.iter().filter(|p| !p.finished).map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
        })
    }
}
