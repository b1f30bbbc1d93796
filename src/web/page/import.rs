//! Adapter files picked to try (saved by peft-lab or by Python's peft): read in the page, loaded by the worker, and
//! loaded again by a restarted worker once its model is ready.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::status::picked_folder;
use super::try_it::TryIt;
use super::worker_link::WorkerLink;
use crate::web::buffer_bytes;
use crate::web::protocol::{RequestKind, ToWorker};

/// Adapter files larger than this are refused before reading (a fully fine-tuned MiniLM is 91 MB).
const MAX_ADAPTER_BYTES: f64 = 512.0 * 1024.0 * 1024.0;

/// An adapter as picked: what the worker needs to load it.
#[derive(Debug, Clone, PartialEq)]
struct AdapterPick {
    name: String,
    config_json: String,
    weights: Vec<u8>,
    run_info_json: Option<String>,
}

impl AdapterPick {
    fn message(&self, request: u64) -> ToWorker {
        ToWorker::Import {
            request,
            name: self.name.clone(),
            config_json: self.config_json.clone(),
            weights: self.weights.clone(),
            run_info_json: self.run_info_json.clone(),
        }
    }
}

#[derive(Clone, Copy)]
pub struct Imports {
    pub status: RwSignal<Option<Result<String, String>>>,
    /// The adapter being loaded now.
    loading: StoredValue<Option<AdapterPick>>,
    /// The adapters the worker loaded: a restarted worker loads them again.
    loaded: StoredValue<Vec<AdapterPick>>,
    worker: WorkerLink,
    try_it: TryIt,
}

impl Imports {
    pub fn new() -> Self {
        Self {
            status: RwSignal::new(None),
            loading: StoredValue::new(None),
            loaded: StoredValue::new(Vec::new()),
            worker: expect_context(),
            try_it: expect_context(),
        }
    }

    /// A new worker has none of them loaded yet, nor the one in flight (which is picked again if wanted).
    pub fn reset(&self) {
        if self.loading.try_update_value(Option::take).flatten().is_some() {
            self.status.set(None);
        }
    }

    /// Reads picked adapter files (or a folder) and asks the worker to load them.
    pub fn pick(&self, files: Vec<web_sys::File>) {
        self.status.set(None);
        let this = *self;
        spawn_local(async move {
            match read_adapter(&files).await {
                Ok(pick) => {
                    this.status.set(Some(Ok(format!("loading {}…", pick.name))));
                    let request = this.worker.request(RequestKind::Import);
                    this.worker.send(&pick.message(request));
                    this.loading.set_value(Some(pick));
                }
                Err(e) => this.status.set(Some(Err(e))),
            }
        });
    }

    /// Loads the adapters the previous worker had, as one request.
    pub fn import_again(&self) {
        let loaded = self.loaded.get_value();
        if loaded.is_empty() {
            return;
        }
        let request = self.worker.request(RequestKind::Import);
        for pick in &loaded {
            self.worker.send(&pick.message(request));
        }
    }

    pub fn imported(&self, method: String, labels: Vec<String>) {
        if let Some(pick) = self.loading.try_update_value(Option::take).flatten() {
            self.loaded.update_value(|loaded| loaded.push(pick));
        }
        self.try_it.keep(&method);
        self.status.set(Some(Ok(format!(
            "{method} is loaded ({} labels: {}): try it below",
            labels.len(),
            labels.join(", ")
        ))));
    }

    pub fn failed(&self, name: &str, error: String) {
        self.loading.set_value(None);
        self.status.set(Some(Err(format!("{name} could not be loaded: {error}"))));
    }
}

/// adapter_config.json and the weights (and peft_lab.json where there) among `files`.
async fn read_adapter(files: &[web_sys::File]) -> Result<AdapterPick, String> {
    let (mut config, mut weights, mut run_info, mut folder) = (None, None, None, None);
    for file in files {
        let name = file.name();
        folder = folder.or_else(|| picked_folder(file));
        let wanted = name == "adapter_config.json" || name == "peft_lab.json" || name.ends_with(".safetensors");
        if !wanted {
            continue;
        }
        if file.size() > MAX_ADAPTER_BYTES {
            return Err(format!(
                "{name} is {:.0} MiB; adapter files over {:.0} MiB are refused",
                file.size() / 1048576.0,
                MAX_ADAPTER_BYTES / 1048576.0
            ));
        }
        let bytes =
            buffer_bytes(Ok(file.array_buffer())).await.map_err(|e| format!("{name} could not be read: {e}"))?;
        let text = || String::from_utf8(bytes.clone()).map_err(|_| format!("{name} is not UTF-8 text"));
        match name.as_str() {
            "adapter_config.json" => config = Some(text()?),
            "peft_lab.json" => run_info = Some(text()?),
            _ => weights = Some(bytes),
        }
    }
    match (config, weights) {
        (Some(config_json), Some(weights)) => Ok(AdapterPick {
            name: folder.unwrap_or_else(|| "picked files".into()),
            config_json,
            weights,
            run_info_json: run_info,
        }),
        _ => {
            let picked: Vec<String> = files.iter().map(|f| f.name()).collect();
            Err(format!(
                "pick adapter_config.json and adapter_model.safetensors together (or their folder); picked: {}",
                if picked.is_empty() { "nothing".into() } else { picked.join(", ") }
            ))
        }
    }
}
