//! The backend and the model: which backend trains (and why), the model loading or loaded, and the picker that
//! changes either (a URL, or files picked from disk).

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::format::{format_count, mib};
use super::notices::Notices;
use super::worker_link::WorkerLink;
use super::{DEFAULT_MODEL, query_param};
use crate::session::compare::ComparePlan;
use crate::session::memory::MemoryLimits;
use crate::web::protocol::{BackendChoice, BackendInfo, ModelFiles, ModelInfo, ModelSource, TestGpu, ToWorker};
use crate::web::{MAX_MODEL_BYTES, buffer_bytes, model_too_big};

/// What a worker's run may hold on the CPU: wasm32's 4 GiB, less a quarter for the allocator's slack and the data.
const WORKER_MEMORY: u64 = 3 << 30;

#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    Loading { loaded: u64, total: Option<u64> },
    Ready(ModelInfo),
    Failed(String),
}

#[derive(Clone, Copy)]
pub struct Status {
    pub backend_choice: RwSignal<BackendChoice>,
    pub page_has_webgpu: bool,
    pub model_source: RwSignal<ModelSource>,
    /// The backend the worker acquired, with its timings.
    pub backend: RwSignal<Option<BackendInfo>>,
    pub model: RwSignal<ModelState>,
    /// Test-only (`?test-gpu=hardware|faster`): the software adapter taken for a GPU.
    test_gpu: Option<TestGpu>,
    worker: WorkerLink,
}

impl Status {
    /// The model of `?model=` (else the default) on the backend of `?backend=` (`?cpu`, or no WebGPU: the CPU).
    pub fn new() -> Self {
        let navigator = web_sys::window().expect("the page has a window").navigator();
        let page_has_webgpu = js_sys::Reflect::get(&navigator, &"gpu".into()).is_ok_and(|gpu| !gpu.is_undefined());
        let model_source = match query_param("model") {
            Some(url) => ModelSource { name: url_name(&url), base_url: with_slash(&url), files: None },
            None => ModelSource { name: DEFAULT_MODEL.0.into(), base_url: DEFAULT_MODEL.1.into(), files: None },
        };
        let backend_choice = if !page_has_webgpu || query_param("cpu").is_some() {
            BackendChoice::Cpu
        } else {
            query_param("backend").as_deref().and_then(BackendChoice::from_key).unwrap_or_default()
        };
        Self {
            backend_choice: RwSignal::new(backend_choice),
            page_has_webgpu,
            model_source: RwSignal::new(model_source),
            backend: RwSignal::new(None),
            model: RwSignal::new(ModelState::Loading { loaded: 0, total: None }),
            test_gpu: query_param("test-gpu").as_deref().and_then(TestGpu::from_key),
            worker: expect_context(),
        }
    }

    pub fn model_loading(&self, loaded: u64, total: Option<u64>) {
        self.model.set(ModelState::Loading { loaded, total });
    }

    pub fn model_ready(&self, info: ModelInfo) {
        self.model.set(ModelState::Ready(info));
    }

    pub fn model_failed(&self, error: String) {
        self.model.set(ModelState::Failed(error));
    }

    /// A new worker acquires the backend and loads the model again.
    pub fn reset(&self) {
        self.backend.set(None);
        self.model.set(ModelState::Loading { loaded: 0, total: None });
    }

    pub fn start_message(&self) -> ToWorker {
        ToWorker::Start {
            model: self.model_source.get_untracked(),
            backend: self.backend_choice.get_untracked(),
            test_gpu: self.test_gpu,
        }
    }

    /// Whether the model is loaded (tracked).
    pub fn ready(&self) -> bool {
        self.model.with(|m| matches!(m, ModelState::Ready(_)))
    }

    pub fn ready_untracked(&self) -> bool {
        self.model.with_untracked(|m| matches!(m, ModelState::Ready(_)))
    }

    pub fn model_name(&self) -> String {
        self.model_source.with_untracked(|s| s.name.clone())
    }

    /// Whether each method of `plan` fits in memory at its batch and length, on the backend chosen: a worker's wasm
    /// memory on the CPU, the largest buffer on a GPU.
    pub fn memory_check(&self, plan: &ComparePlan) -> Result<(), String> {
        let (Some(backend), ModelState::Ready(model)) = (self.backend.get_untracked(), self.model.get_untracked())
        else {
            return Ok(());
        };
        let limits = if backend.gpu {
            MemoryLimits { total: None, largest_tensor: backend.max_storage_binding_mib.map(|m| m << 20) }
        } else {
            MemoryLimits { total: Some(WORKER_MEMORY), largest_tensor: None }
        };
        let config = &plan.config;
        for method in &plan.methods {
            limits.check(&model.shape, &method.config, config.batch_size, config.max_length)?;
        }
        Ok(())
    }

    fn load(&self, source: ModelSource) {
        self.model_source.set(source);
        self.worker.start();
    }
}

fn url_name(url: &str) -> String {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url).into()
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') { url.to_string() } else { format!("{url}/") }
}

#[component]
pub fn StatusBar(#[prop(into)] training: Signal<bool>) -> impl IntoView {
    let status = expect_context::<Status>();
    let url_input = RwSignal::new(status.model_source.with_untracked(|s| s.base_url.clone()));
    let webgpu_note = (!status.page_has_webgpu).then_some(" (this browser has no WebGPU)");
    view! {
        <div class="status">
            <div>{move || backend_view(status)}</div>
            <div>{move || model_view(status)}</div>
            <details class="model-picker">
                <summary>"Model and backend"</summary>
                <label>"Model files (config.json, model.safetensors, tokenizer.json) under "
                    <input id="model-url" type="text" size="48" prop:value=move || url_input.get()
                        on:input=move |ev| url_input.set(event_target_value(&ev)) />
                </label>
                <button on:click=move |_| {
                    let url = with_slash(url_input.get_untracked().trim());
                    status.load(ModelSource { name: url_name(&url), base_url: url, files: None });
                } disabled=move || training.get()>"Load model"</button>
                " or " <ModelFilesPicker id="model-files" />
                <label>"Train on "
                    <select id="backend-choice" disabled=!status.page_has_webgpu
                        on:change=move |ev| {
                            let choice = BackendChoice::from_key(&event_target_value(&ev)).unwrap_or_default();
                            status.backend_choice.set(choice);
                            status.worker.start();
                        }>
                        {BackendChoice::ALL.map(|(choice, key, label)| view! {
                            <option value=key selected=move || status.backend_choice.get() == choice>{label}</option>
                        })}
                    </select>
                    {webgpu_note}</label>
            </details>
        </div>
    }
}

fn backend_view(status: Status) -> AnyView {
    let Some(b) = status.backend.get() else {
        let doing = match status.backend_choice.get() {
            BackendChoice::Auto if status.page_has_webgpu => "timing the CPU once the model is in…",
            _ => "starting the backend…",
        };
        return view! { <span id="backend" class="badge">{doing}</span> }.into_any();
    };
    let limits = b
        .max_storage_binding_mib
        .map(|m| format!(" · max storage binding {m} MiB, max buffer {} MiB", b.max_buffer_mib.unwrap_or(0)))
        .unwrap_or_default();
    let software = b.software.then_some(" (a software adapter: it runs on the CPU)");
    let notice = b.fallback_reason.clone().map(|reason| {
        view! { <p id="fallback-notice" class="warning">"Training runs on the CPU: " {reason} "."</p> }
    });
    let pending = b.timings.iter().any(|t| t.pending);
    let timings = (!b.timings.is_empty()).then(|| {
        let shape = b.timed_shape.clone().unwrap_or_default();
        let (lead, close) = if pending {
            (
                "On the CPU while WebGPU is timed (",
                ". Training moves to WebGPU if it is the faster, once nothing trains; change it under “Model and backend”.",
            )
        } else {
            ("Chosen as the faster on a timed step (", ". Change it under “Model and backend”.")
        };
        let rows: Vec<String> = b
            .timings
            .iter()
            .map(|t| match (t.seconds_per_step, &t.note) {
                (Some(s), _) => format!("{} {:.0} ms/step", t.backend, s * 1000.0),
                (None, note) => format!("{} {}", t.backend, note.clone().unwrap_or_default()),
            })
            .collect();
        view! {
            <p id="backend-timings" class="hint" data-pending=pending.to_string()>
                {lead} {shape} "): " {rows.join(" · ")} {close}
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

fn model_view(status: Status) -> AnyView {
    match status.model.get() {
        ModelState::Loading { loaded, total } => {
            let (value, max) = (loaded as f64, total.unwrap_or(0).max(loaded).max(1) as f64);
            view! {
                <span id="model" data-state="loading">"Loading " {status.model_source.with(|s| s.name.clone())} "… "
                    {mib(loaded)} {total.map(|t| format!(" of {}", mib(t)))}</span>
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
        ModelState::Failed(e) => {
            view! { <span id="model" data-state="failed" class="error">"The model did not load: " {e}</span> }.into_any()
        }
    }
}

/// "pick its files…": config.json, model.safetensors and tokenizer.json (or their folder) load as the model.
#[component]
pub fn ModelFilesPicker(id: &'static str) -> impl IntoView {
    let status = expect_context::<Status>();
    let notices = expect_context::<Notices>();
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let files: Vec<web_sys::File> =
            input.files().map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect()).unwrap_or_default();
        input.set_value("");
        spawn_local(async move {
            match read_model_files(&files).await {
                Ok((name, files)) => status.load(ModelSource { name, base_url: String::new(), files: Some(files) }),
                Err(e) => notices.push(format!("the model was not changed: {e}")),
            }
        });
    };
    view! {
        <label class="file-button">"pick its files…"<input id=id type="file" multiple accept=".json,.safetensors" on:change=on_pick /></label>
    }
}

/// The three model files among `files`, and a name for the model (their folder's, when a folder was picked).
async fn read_model_files(files: &[web_sys::File]) -> Result<(String, ModelFiles), String> {
    let find = |wanted: &str| files.iter().find(|f| f.name() == wanted);
    let names: Vec<String> = files.iter().map(|f| f.name()).collect();
    let (Some(config), Some(weights), Some(tokenizer)) =
        (find("config.json"), find("model.safetensors"), find("tokenizer.json"))
    else {
        return Err(format!(
            "pick the model's config.json, model.safetensors and tokenizer.json together; picked: {}",
            if names.is_empty() { "nothing".into() } else { names.join(", ") }
        ));
    };
    if weights.size() > MAX_MODEL_BYTES as f64 {
        return Err(model_too_big("model.safetensors", weights.size() as u64));
    }
    let read = async |file: &web_sys::File| {
        buffer_bytes(Ok(file.array_buffer())).await.map_err(|e| format!("{} could not be read: {e}", file.name()))
    };
    let folder = picked_folder(weights);
    let files =
        ModelFiles { config: read(config).await?, weights: read(weights).await?, tokenizer: read(tokenizer).await? };
    Ok((folder.unwrap_or_else(|| "picked model".into()), files))
}

/// The folder a file was picked in (with a folder picker), from its `webkitRelativePath` "folder/file".
pub fn picked_folder(file: &web_sys::File) -> Option<String> {
    let path = js_sys::Reflect::get(file, &"webkitRelativePath".into()).ok()?.as_string()?;
    let (folder, _) = path.split_once('/')?;
    (!folder.is_empty()).then(|| folder.to_string())
}
