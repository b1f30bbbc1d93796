//! The worker's training device: WebGPU or the CPU. With `Auto` the CPU is timed on a LoRA step when the model loads
//! and the page is usable at once on it; a real GPU is timed in the background (a software adapter is not: it cannot
//! be faster than the CPU it runs on) and trained on from the first moment it is faster and nothing trains.

use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;
use std::rc::Rc;

use burn::tensor::Device;
use burn::tensor::wgpu::wgpu;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::protocol::{BackendChoice, BackendInfo, BackendTiming, FromWorker, TestGpu};
use super::to_page::{post, scope};
use crate::method::MethodConfig;
use crate::model::{Checkpoint, Pretrained};
use crate::session::{self, timing::time_steps};
use crate::train::{Host, TrainError, TrainEvent};

/// The backend, shared by the worker's tasks: the background timing switches its device.
pub type SharedBackend = Rc<RefCell<Backend>>;

pub struct Backend {
    pub device: Device,
    /// WebGPU's largest storage binding when training runs there; `None` on the CPU.
    pub gpu_buffer_limit: Option<u64>,
    /// The WebGPU device training runs on, if it does (for the test-only switch that loses it).
    pub webgpu: Option<wgpu::Device>,
    /// What the page is told.
    info: BackendInfo,
    /// A real GPU to time against the CPU while training runs on the CPU.
    candidate: Option<Candidate>,
    /// Training jobs running: the candidate is timed, and switched to, only while none runs.
    jobs: usize,
}

struct Candidate {
    gpu: Gpu,
    pretrained: Rc<Pretrained>,
    cpu_seconds: f64,
    /// Set while it is being timed: setting the flag stops the timing after its current step.
    stop: Option<Rc<Cell<bool>>>,
    test_gpu: Option<TestGpu>,
}

impl Backend {
    fn cpu(info: BackendInfo) -> Self {
        Self { device: crate::device::cpu(), gpu_buffer_limit: None, webgpu: None, info, candidate: None, jobs: 0 }
    }

    fn gpu(gpu: &Gpu, timings: Vec<BackendTiming>) -> Self {
        Self {
            device: gpu.device.clone(),
            gpu_buffer_limit: Some(gpu.max_storage_binding),
            webgpu: Some(gpu.wgpu.clone()),
            info: gpu.info(timings),
            candidate: None,
            jobs: 0,
        }
    }

    fn tell_page(&self) {
        post(&FromWorker::Backend(self.info.clone()));
    }

    /// What trains from now on, after the candidate's timing (`timings`) while no job ran: the candidate where it was
    /// the faster, else the CPU.
    fn timed(&mut self, gpu_faster: bool, timings: Vec<BackendTiming>) {
        let Some(Candidate { gpu, .. }) = self.candidate.take() else { return };
        let chosen = if gpu_faster { Self::gpu(&gpu, timings) } else { Self::cpu(cpu_info(None, timings)) };
        *self = Self { jobs: self.jobs, ..chosen };
        self.tell_page();
    }

    /// The candidate's line while it waits for its figure: `note` says why.
    fn waiting(&mut self, note: &str) {
        if let Some(row) = self.info.timings.iter_mut().find(|t| t.pending && t.note.as_deref() != Some(note)) {
            row.note = Some(note.into());
            self.tell_page();
        }
    }
}

/// Chooses the device for `choice` and tells the page; a real GPU under `Auto` is then timed in the background.
/// `test_gpu` has the browser tests' software adapter taken for a GPU.
pub async fn start(
    pretrained: &Rc<Pretrained>,
    choice: BackendChoice,
    gpu: Result<Gpu, String>,
    test_gpu: Option<TestGpu>,
) -> SharedBackend {
    let backend = Rc::new(RefCell::new(choose(pretrained, choice, gpu, test_gpu).await));
    backend.borrow().tell_page();
    resume(&backend);
    backend
}

async fn choose(
    pretrained: &Rc<Pretrained>,
    choice: BackendChoice,
    gpu: Result<Gpu, String>,
    test_gpu: Option<TestGpu>,
) -> Backend {
    let gpu = gpu.and_then(|gpu| match Checkpoint::parse(&pretrained.weights).ok().and_then(|c| c.largest_tensor()) {
        Some((name, bytes)) if bytes as u64 > gpu.max_storage_binding => Err(format!(
            "the model is too big for this GPU: tensor '{name}' needs {} MiB in one buffer and this GPU allows {} MiB",
            bytes >> 20,
            gpu.max_storage_binding >> 20
        )),
        _ => Ok(gpu),
    });
    let gpu = match (choice, gpu) {
        (_, Err(reason)) => return Backend::cpu(cpu_info(Some(reason), Vec::new())),
        (BackendChoice::Cpu, Ok(_)) => return Backend::cpu(cpu_info(Some(CPU_CHOSEN.into()), Vec::new())),
        (BackendChoice::WebGpu, Ok(gpu)) => return Backend::gpu(&gpu, Vec::new()),
        (BackendChoice::Auto, Ok(gpu)) => gpu,
    };
    let cpu_seconds = seconds_per_step(pretrained, &crate::device::cpu(), TIMED_BATCH, TIMED_LENGTH, None, None).await;
    let cpu_row = timing("CPU", &cpu_seconds);
    match cpu_seconds {
        Err(_) => {
            Backend::gpu(&gpu, vec![cpu_row, timing("WebGPU", &Err("not timed: the CPU's timing failed".into()))])
        }
        // A software adapter runs on the CPU through a GPU's interface: timing it (51 s of the page's start in
        // headless Chromium with SwiftShader) cannot find it faster than the CPU itself.
        Ok(_) if gpu.software && test_gpu.is_none() => {
            let why = format!("not timed: {} is a software adapter, slower than the CPU", gpu.adapter);
            Backend::cpu(cpu_info(None, vec![cpu_row, timing("WebGPU", &Err(why))]))
        }
        Ok(cpu_seconds) => {
            let waiting = BackendTiming { pending: true, ..timing("WebGPU", &Err(TIMING_IN_BACKGROUND.into())) };
            let pretrained = pretrained.clone();
            let candidate = Candidate { gpu, pretrained, cpu_seconds, stop: None, test_gpu };
            Backend { candidate: Some(candidate), ..Backend::cpu(cpu_info(None, vec![cpu_row, waiting])) }
        }
    }
}

const TIMING_IN_BACKGROUND: &str = "being timed in the background";

fn timing(backend: &str, seconds: &Result<f64, String>) -> BackendTiming {
    BackendTiming {
        backend: backend.into(),
        seconds_per_step: seconds.as_ref().ok().copied(),
        note: seconds.as_ref().err().cloned(),
        pending: false,
    }
}

/// Marks a training job running until dropped: a timing in the background stops (the job's work would count in its
/// figures, and the device must not change under it) and starts again when the last job ends.
pub struct Job(SharedBackend);

impl Job {
    pub fn start(backend: &SharedBackend) -> Job {
        backend.borrow_mut().jobs += 1;
        interrupt(backend);
        Job(backend.clone())
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.0.borrow_mut().jobs -= 1;
        resume(&self.0);
    }
}

/// Work on the worker's one thread (any message it handles) would count in a timing in the background: the timing
/// stops after its current step and starts again (once no job runs).
pub fn interrupt(backend: &SharedBackend) {
    if let Some(stop) = backend.borrow().candidate.as_ref().and_then(|c| c.stop.as_ref()) {
        stop.set(true);
    }
}

/// With no job running, times the candidate unless its timing runs already (a stopped one sees that it may go on
/// when its step ends). The timing's flag is set here, so that no second timing starts before the first runs.
fn resume(backend: &SharedBackend) {
    let mut b = backend.borrow_mut();
    let jobs = b.jobs;
    if let Some(c) = b.candidate.as_mut().filter(|c| jobs == 0 && c.stop.is_none()) {
        let stop = Rc::new(Cell::new(false));
        c.stop = Some(stop.clone());
        wasm_bindgen_futures::spawn_local(time_in_background(backend.clone(), stop));
    }
}

/// Times the candidate with `stop` (its flag while it runs); stopped, it times again unless a job runs, which starts
/// it again when it ends.
async fn time_in_background(backend: SharedBackend, mut stop: Rc<Cell<bool>>) {
    loop {
        let (device, pretrained, cpu_seconds, test_gpu) = {
            let mut b = backend.borrow_mut();
            b.waiting(TIMING_IN_BACKGROUND);
            let Some(c) = b.candidate.as_ref() else { return };
            (c.gpu.device.clone(), c.pretrained.clone(), c.cpu_seconds, c.test_gpu)
        };
        let taken_faster = test_gpu == Some(TestGpu::Faster);
        let seconds = gpu_seconds(&pretrained, &device, cpu_seconds, !taken_faster, &stop).await;
        let mut b = backend.borrow_mut();
        let jobs = b.jobs;
        let Some(c) = b.candidate.as_mut() else { return };
        if stop.get() {
            if jobs > 0 {
                c.stop = None;
                b.waiting("stopped while training runs; timed again when it ends");
                return;
            }
            stop = Rc::new(Cell::new(false));
            c.stop = Some(stop.clone());
            continue;
        }
        // Nothing ran on this thread while it was timed (it would have stopped the timing), and nothing trains now.
        let gpu_faster = seconds.as_ref().is_ok_and(|&gpu| gpu < cpu_seconds || taken_faster);
        b.timed(gpu_faster, vec![timing("CPU", &Ok(cpu_seconds)), timing("WebGPU", &seconds)]);
        return;
    }
}

/// WebGPU's seconds per step, first (with `tiny_first`) on a tiny batch: when even that is slower than the CPU's
/// full batch, the GPU cannot win.
async fn gpu_seconds(
    pretrained: &Pretrained,
    device: &Device,
    cpu_seconds: f64,
    tiny_first: bool,
    stop: &Rc<Cell<bool>>,
) -> Result<f64, String> {
    let (batch, length) = TINY_BATCH;
    let budget = Some(GPU_TIMING_BUDGET_SECONDS);
    if tiny_first {
        let tiny = seconds_per_step(pretrained, device, batch, length, budget, Some(stop.clone())).await?;
        if tiny >= cpu_seconds {
            return Err(format!(
                "{tiny:.2} s a step already at batch {batch} x {length}, slower than the CPU's whole batch"
            ));
        }
    }
    seconds_per_step(pretrained, device, TIMED_BATCH, TIMED_LENGTH, budget, Some(stop.clone())).await
}

/// A granted WebGPU adapter.
pub struct Gpu {
    device: Device,
    /// The WebGPU device under it (for the test-only switch that loses it).
    wgpu: wgpu::Device,
    adapter: String,
    software: bool,
    max_storage_binding: u64,
    max_buffer: u64,
}

impl Gpu {
    pub fn info(&self, timings: Vec<BackendTiming>) -> BackendInfo {
        BackendInfo {
            kind: "WebGPU".into(),
            gpu: true,
            adapter: self.adapter.clone(),
            software: self.software,
            timed_shape: (!timings.is_empty()).then(timed_shape),
            timings,
            max_storage_binding_mib: Some(self.max_storage_binding >> 20),
            max_buffer_mib: Some(self.max_buffer >> 20),
            fallback_reason: None,
        }
    }
}

pub fn cpu_info(fallback_reason: Option<String>, timings: Vec<BackendTiming>) -> BackendInfo {
    BackendInfo {
        kind: "CPU (WebAssembly SIMD)".into(),
        gpu: false,
        adapter: "one thread a worker".into(),
        software: false,
        timed_shape: (!timings.is_empty()).then(timed_shape),
        timings,
        max_storage_binding_mib: None,
        max_buffer_mib: None,
        fallback_reason,
    }
}

pub const CPU_CHOSEN: &str = "the CPU was chosen for this page";
/// The backends are timed on LoRA at this batch size and length (the page's default batch).
const TIMED_BATCH: usize = 16;
const TIMED_LENGTH: usize = 64;
/// WebGPU is timed first at this batch size and length: slower there than the CPU's whole batch, it cannot win.
const TINY_BATCH: (usize, usize) = (2, 16);
/// WebGPU's timing stops after the step that passes this many seconds (a software adapter can take minutes a step).
const GPU_TIMING_BUDGET_SECONDS: f64 = 60.0;

fn timed_shape() -> String {
    format!("LoRA, batch {TIMED_BATCH} x {TIMED_LENGTH} tokens")
}

/// WebGPU when the browser has it and grants an adapter, else why not.
pub async fn webgpu() -> Result<Gpu, String> {
    let has_webgpu = js_sys::Reflect::get(&scope().navigator(), &"gpu".into()).is_ok_and(|gpu| !gpu.is_undefined());
    if !has_webgpu {
        return Err("this browser does not offer WebGPU to workers".into());
    }
    let (device, setup) =
        Device::wgpu_options().init_with_setup_async().await.map_err(|e| format!("WebGPU could not start ({e})"))?;
    let adapter = setup.adapter.get_info();
    let limits = setup.adapter.limits();
    let (description, fallback) = webgpu_adapter_description().await;
    let name = description.unwrap_or_else(|| format!("{} {}", adapter.name, adapter.driver).trim().to_string());
    let name = if name.is_empty() { format!("{:?} adapter", adapter.backend) } else { name };
    Ok(Gpu {
        device: device.autodiff(),
        wgpu: setup.device.clone(),
        software: fallback || name.to_lowercase().contains("swiftshader"),
        adapter: name,
        max_storage_binding: limits.max_storage_buffer_binding_size,
        max_buffer: limits.max_buffer_size,
    })
}

/// Seconds per LoRA step after the first on `device`; stopped after the step that passes `budget` seconds, or when
/// `stop` is set.
async fn seconds_per_step(
    pretrained: &Pretrained,
    device: &Device,
    batch: usize,
    length: usize,
    budget: Option<f64>,
    stop: Option<Rc<Cell<bool>>>,
) -> Result<f64, String> {
    let lora = MethodConfig::from_name("lora").map_err(|e| e.to_string())?;
    let mut host = TimingHost { performance: scope().performance(), started: None, budget, stop };
    match time_steps(pretrained, &lora, batch, length, 1, device, &mut host).await {
        Ok(result) => Ok(result.seconds_per_step),
        Err(session::Error::Train(TrainError::Cancelled)) => {
            Err(format!("stopped: over {:.0} s at batch {batch} x {length}", budget.unwrap_or_default()))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Cancels a timing run after the step that passes its budget, or once asked to stop.
struct TimingHost {
    performance: Option<web_sys::Performance>,
    started: Option<f64>,
    budget: Option<f64>,
    stop: Option<Rc<Cell<bool>>>,
}

impl Host for TimingHost {
    fn now(&self) -> f64 {
        self.performance.as_ref().map_or(0.0, |p| p.now() / 1000.0)
    }

    fn event(&mut self, _method: &str, _event: &TrainEvent) -> ControlFlow<()> {
        let now = self.now();
        let started = *self.started.get_or_insert(now);
        let over_budget = self.budget.is_some_and(|budget| now - started > budget);
        let stopped = self.stop.as_ref().is_some_and(|stop| stop.get());
        if over_budget || stopped { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }
}

/// The browser's own description of its adapter (wgpu's adapter info is empty on WebGPU) and whether it is the
/// browser's fallback (software) adapter.
async fn webgpu_adapter_description() -> (Option<String>, bool) {
    use js_sys::Reflect;
    let Some(adapter) = requested_adapter().await else { return (None, false) };
    let info = Reflect::get(&adapter, &"info".into()).ok();
    // `info.isFallbackAdapter` since Chrome 136; `adapter.isFallbackAdapter` before.
    let fallback = [info.as_ref(), Some(&adapter)]
        .into_iter()
        .flatten()
        .any(|o| Reflect::get(o, &"isFallbackAdapter".into()).ok().and_then(|v| v.as_bool()).unwrap_or(false));
    let parts: Vec<String> = ["vendor", "architecture", "device", "description"]
        .iter()
        .filter_map(|key| Reflect::get(info.as_ref()?, &(*key).into()).ok()?.as_string().filter(|s| !s.is_empty()))
        .collect();
    ((!parts.is_empty()).then(|| parts.join(" · ")), fallback)
}

async fn requested_adapter() -> Option<JsValue> {
    use js_sys::Reflect;
    let gpu = Reflect::get(&scope().navigator(), &"gpu".into()).ok()?;
    let request: js_sys::Function = Reflect::get(&gpu, &"requestAdapter".into()).ok()?.dyn_into().ok()?;
    let adapter = JsFuture::from(js_sys::Promise::from(request.call0(&gpu).ok()?)).await.ok()?;
    (!adapter.is_null() && !adapter.is_undefined()).then_some(adapter)
}
