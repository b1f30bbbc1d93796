//! A comparison's methods trained side by side in helper workers, on the CPU path: each is an independent run with
//! the comparison's seed, so a helper per core gives the same results as one worker, sooner. The wasm has one thread
//! per worker; a helper is the same worker script, started by the training worker (nested workers), which forwards
//! what the helpers say to the page.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use super::js_error;
use super::protocol::*;

/// What a finished helper run leaves: its result is forwarded by the pool, its files are given to `on_finished`.
pub type OnFinished = Box<dyn FnMut(usize, &AdapterFiles)>;

struct Helper {
    worker: Worker,
    /// The method (its index in the job) the helper trains now.
    current: Option<usize>,
    alive: bool,
}

struct Pool {
    job: CompareJob,
    queue: VecDeque<usize>,
    helpers: Vec<Helper>,
    post: fn(&FromWorker),
    on_finished: OnFinished,
    resolve: Option<js_sys::Function>,
}

impl Pool {
    /// Gives helper `h` the next method, or stops it when none is left; resolves once every helper stopped.
    fn next(&mut self, h: usize) {
        let helper = &mut self.helpers[h];
        helper.current = self.queue.pop_front();
        match helper.current {
            Some(index) => {
                let job = CompareJob { methods: vec![self.job.methods[index].clone()], ..self.job.clone() };
                if let Err(e) = send(&helper.worker, &ToWorker::Compare(job)) {
                    self.fail(h, format!("the helper worker cannot be reached: {e}"));
                }
            }
            None => self.stop(h),
        }
    }

    fn stop(&mut self, h: usize) {
        let helper = &mut self.helpers[h];
        helper.worker.terminate();
        helper.alive = false;
        if self.helpers.iter().all(|h| !h.alive)
            && let Some(resolve) = self.resolve.take()
        {
            // Methods left when every helper failed fail with the last one's reason, which was already posted.
            let _ = resolve.call0(&JsValue::NULL);
        }
    }

    /// A helper that cannot go on: its method fails; the methods still queued go to the other helpers, or fail
    /// with the same reason when none is left.
    fn fail(&mut self, h: usize, error: String) {
        if let Some(index) = self.helpers[h].current.take() {
            (self.post)(&FromWorker::MethodFailed {
                method: self.job.methods[index].config.label(),
                error: error.clone(),
            });
        }
        self.stop(h);
        if self.helpers.iter().all(|h| !h.alive) {
            for index in std::mem::take(&mut self.queue) {
                let method = self.job.methods[index].config.label();
                (self.post)(&FromWorker::MethodFailed { method, error: error.clone() });
            }
        }
    }

    fn on_message(&mut self, h: usize, message: FromWorker) {
        if !self.helpers[h].alive {
            return;
        }
        let count = self.job.methods.len();
        match message {
            // The helper's own loading is not the page's business.
            FromWorker::Backend(_) | FromWorker::ModelProgress { .. } => {}
            FromWorker::ModelReady(_) => self.next(h),
            FromWorker::ModelFailed(error) => {
                self.fail(h, format!("a helper worker could not load the model: {error}"))
            }
            FromWorker::MethodStarted { method, total_steps, .. } => {
                let index = self.helpers[h].current.unwrap_or_default();
                (self.post)(&FromWorker::MethodStarted { method, index, count, total_steps });
            }
            FromWorker::MethodFinished { result, adapter } => {
                if let Some(index) = self.helpers[h].current {
                    (self.on_finished)(index, &adapter);
                }
                (self.post)(&FromWorker::MethodFinished { result, adapter });
            }
            FromWorker::CompareFinished => self.next(h),
            FromWorker::Crashed(error) => self.fail(h, format!("its helper worker stopped: {error}")),
            other => (self.post)(&other),
        }
    }
}

fn send(worker: &Worker, message: &ToWorker) -> Result<(), String> {
    let value = serde_wasm_bindgen::to_value(message).map_err(|e| e.to_string())?;
    worker.post_message(&value).map_err(|e| js_error(&e))
}

/// Trains `job`'s methods in `helpers` helper workers that load `source` on the CPU; each method's messages are
/// passed to `post` as one worker would send them (its index in the job, the job's method count), and each finished
/// run's files to `on_finished`. Returns when every method finished or failed.
pub async fn compare(
    job: CompareJob,
    source: ModelSource,
    helpers: usize,
    post: fn(&FromWorker),
    on_finished: OnFinished,
) -> Result<(), String> {
    let helpers = helpers.clamp(1, job.methods.len().max(1));
    let options = WorkerOptions::new();
    options.set_type(WorkerType::Module);
    let mut workers = Vec::new();
    for _ in 0..helpers {
        let worker = Worker::new_with_options("./worker.js", &options)
            .map_err(|e| format!("a helper worker cannot start: {}", js_error(&e)))?;
        workers.push(worker);
    }
    // The longest runs first, so that no helper is left with one at the end: full fine-tuning computes the weight
    // gradients of every layer; the head alone needs no backward pass through the encoder.
    let cost = |index: &usize| match job.methods[*index].config.key() {
        "full" => 0,
        "head" => 2,
        _ => 1,
    };
    let mut queue: Vec<usize> = (0..job.methods.len()).collect();
    queue.sort_by_key(cost);
    let pool = Rc::new(RefCell::new(Pool {
        queue: queue.into(),
        job,
        helpers: workers.iter().map(|w| Helper { worker: w.clone(), current: None, alive: true }).collect(),
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
        if let Err(e) = send(worker, &ToWorker::Start { model: source.clone(), backend: BackendChoice::Cpu }) {
            pool.borrow_mut().fail(h, format!("a helper worker cannot be reached: {e}"));
        }
    }
    JsFuture::from(done).await.map_err(|e| js_error(&e))?;
    // The handlers live until every helper stopped; the helpers are terminated, so nothing calls them again.
    drop(handlers);
    Ok(())
}
