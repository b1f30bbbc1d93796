//! A comparison's units (a method's learning-rate search, one seed's run of a method) trained side by side in helper
//! workers, on the CPU path: each is an independent run with its own seed, so a helper per core gives the same results
//! as one worker, sooner. The wasm has one thread per worker; a helper is the same worker script, started by the
//! training worker (nested workers), which forwards what the helpers say to the page.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use super::js_error;
use super::protocol::*;
use crate::session::compare::Unit;

/// What a finished helper run leaves: its result is forwarded by the pool, its files (method, seed) are given to
/// `on_finished`.
pub type OnFinished = Box<dyn FnMut(usize, u64, &AdapterFiles)>;

struct Helper {
    worker: Worker,
    /// Its model is loaded.
    ready: bool,
    /// The unit it trains now.
    current: Option<Unit>,
    alive: bool,
}

struct Pool {
    job: CompareJob,
    /// Units ready to run, with their learning rate; a method's runs join once its search chose the rate.
    queue: VecDeque<(Unit, f64)>,
    helpers: Vec<Helper>,
    post: fn(&FromWorker),
    on_finished: OnFinished,
    resolve: Option<js_sys::Function>,
}

impl Pool {
    fn searching(&self) -> bool {
        self.helpers.iter().any(|h| h.alive && matches!(h.current, Some(Unit::Search { .. })))
    }

    /// Gives every idle helper the next unit; stops the idle ones when nothing is queued and no search can add more.
    fn dispatch(&mut self) {
        for h in 0..self.helpers.len() {
            let helper = &self.helpers[h];
            if !(helper.alive && helper.ready && helper.current.is_none()) {
                continue;
            }
            match self.queue.pop_front() {
                Some((unit, learning_rate)) => {
                    self.helpers[h].current = Some(unit);
                    let job = Box::new(self.job.clone());
                    if let Err(e) = send(&self.helpers[h].worker, &ToWorker::RunUnit { job, unit, learning_rate }) {
                        self.fail(h, format!("the helper worker cannot be reached: {e}"));
                    }
                }
                None if !self.searching() => self.stop(h),
                None => {}
            }
        }
    }

    fn stop(&mut self, h: usize) {
        let helper = &mut self.helpers[h];
        helper.worker.terminate();
        helper.alive = false;
        if self.helpers.iter().all(|h| !h.alive)
            && let Some(resolve) = self.resolve.take()
        {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }

    /// A helper that cannot go on: its unit fails; the units still queued go to the other helpers, or fail with the
    /// same reason when none is left.
    fn fail(&mut self, h: usize, error: String) {
        if let Some(unit) = self.helpers[h].current.take() {
            (self.post)(&FromWorker::UnitFailed { unit, error: error.clone() });
        }
        self.stop(h);
        if self.helpers.iter().all(|h| !h.alive) {
            for (unit, _) in std::mem::take(&mut self.queue) {
                (self.post)(&FromWorker::UnitFailed { unit, error: error.clone() });
            }
        } else {
            // Idle helpers waiting for this one's search may have nothing left to wait for.
            self.dispatch();
        }
    }

    fn on_message(&mut self, h: usize, message: FromWorker) {
        if !self.helpers[h].alive {
            return;
        }
        match message {
            // The helper's own loading is not the page's business.
            FromWorker::Backend(_) | FromWorker::ModelProgress { .. } => {}
            FromWorker::ModelReady(_) => {
                self.helpers[h].ready = true;
                self.dispatch();
            }
            FromWorker::ModelFailed(error) => {
                self.fail(h, format!("a helper worker could not load the model: {error}"))
            }
            FromWorker::RunFinished { method, result, adapter } => {
                (self.on_finished)(method, result.seed, &adapter);
                (self.post)(&FromWorker::RunFinished { method, result, adapter });
            }
            FromWorker::SearchFinished { method, outcome } => {
                // The method's runs go first: its search is done, and they are all that is left of it.
                for &seed in self.job.plan.seeds.iter().rev() {
                    self.queue.push_front((Unit::Run { method, seed }, outcome.chosen));
                }
                (self.post)(&FromWorker::SearchFinished { method, outcome });
            }
            FromWorker::CompareFinished => {
                self.helpers[h].current = None;
                self.dispatch();
            }
            FromWorker::Crashed(error) => self.fail(h, format!("its helper worker stopped: {error}")),
            other => (self.post)(&other),
        }
    }
}

fn send(worker: &Worker, message: &ToWorker) -> Result<(), String> {
    let value = serde_wasm_bindgen::to_value(message).map_err(|e| e.to_string())?;
    worker.post_message(&value).map_err(|e| js_error(&e))
}

/// Trains `job`'s units (searches and seed runs) in `helpers` helper workers that load `source` on the CPU; their
/// messages are passed to `post` as one worker would send them, and each finished run's files to `on_finished`.
/// Returns when every unit finished or failed.
pub async fn compare(
    job: CompareJob,
    source: ModelSource,
    helpers: usize,
    post: fn(&FromWorker),
    on_finished: OnFinished,
) -> Result<(), String> {
    let plan = &job.plan;
    let helpers = helpers.clamp(1, (plan.methods.len() * plan.seeds.len()).max(1));
    let options = WorkerOptions::new();
    options.set_type(WorkerType::Module);
    let mut workers = Vec::new();
    for _ in 0..helpers {
        let worker = Worker::new_with_options("./worker.js", &options)
            .map_err(|e| format!("a helper worker cannot start: {}", js_error(&e)))?;
        workers.push(worker);
    }
    // The longest units first, so that no helper is left with one at the end: full fine-tuning computes the weight
    // gradients of every layer; the head alone needs no backward pass through the encoder. A searched method starts
    // with its search; its runs are queued when the search has chosen their rate.
    let cost = |method: usize| match plan.methods[method].config.key() {
        "full" => 0,
        "head" => 2,
        _ => 1,
    };
    let mut units: Vec<(Unit, f64)> = Vec::new();
    for (index, method) in plan.methods.iter().enumerate() {
        if method.search {
            units.push((Unit::Search { method: index }, method.learning_rate));
        } else {
            units.extend(plan.seeds.iter().map(|&seed| (Unit::Run { method: index, seed }, method.learning_rate)));
        }
    }
    units.sort_by_key(|(unit, _)| cost(unit.method()));
    let pool = Rc::new(RefCell::new(Pool {
        queue: units.into(),
        job,
        helpers: workers
            .iter()
            .map(|w| Helper { worker: w.clone(), ready: false, current: None, alive: true })
            .collect(),
        post,
        on_finished,
        resolve: None,
    }));
    let done = js_sys::Promise::new(&mut |resolve, _| pool.borrow_mut().resolve = Some(resolve));
    let mut handlers = Vec::new();
    for (h, worker) in workers.iter().enumerate() {
        let on_message = {
            let pool = pool.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let message = serde_wasm_bindgen::from_value::<FromWorker>(event.data())
                    .unwrap_or_else(|e| FromWorker::Crashed(format!("it sent an unreadable message: {e}")));
                pool.borrow_mut().on_message(h, message);
            })
        };
        let on_error = {
            let pool = pool.clone();
            Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |event: web_sys::ErrorEvent| {
                event.prevent_default();
                pool.borrow_mut().fail(h, format!("its helper worker stopped: {}", event.message()));
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        handlers.push((on_message, on_error));
        if let Err(e) =
            send(worker, &ToWorker::Start { model: source.clone(), backend: BackendChoice::Cpu, test_gpu: None })
        {
            pool.borrow_mut().fail(h, format!("a helper worker cannot be reached: {e}"));
        }
    }
    JsFuture::from(done).await.map_err(|e| js_error(&e))?;
    // The handlers live until every helper stopped; the helpers are terminated, so nothing calls them again.
    drop(handlers);
    Ok(())
}
