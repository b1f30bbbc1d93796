//! The page's side of sharing: links (made, shown, opened), downloads of PEFT files, merged models and the
//! Python hand-over, and adapter files picked to try. The worker does the work; this shows it.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::{App, ModelState, StoredRun, format_count, optional};
use crate::data::Columns;
use crate::method::MethodConfig;
use crate::share::link::{
    BROWSER_LIMIT_CHARS, CHAT_LIMIT_CHARS, CheckedLink, FRAGMENT_KEY, LinkMeta, Precision, codec,
};
use crate::share::python::{DataSettings, HandoverConfig};
use crate::share::zip;
use crate::web::protocol::{ModelFiles, ModelSource, RunToShare, ToWorker};
use crate::web::{MAX_MODEL_BYTES, buffer_bytes, model_too_big};

/// Adapter files larger than this are refused before reading (a fully fine-tuned MiniLM is 91 MB).
const MAX_ADAPTER_BYTES: f64 = 512.0 * 1024.0 * 1024.0;

/// A link being opened: decoded in the page at once (to show what it holds), rebuilt by the worker when the
/// model is ready (again after the worker restarts).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum LinkState {
    None,
    Opening {
        link: String,
        meta: LinkMeta,
        precision: Precision,
    },
    Opened {
        link: String,
        method: String,
        meta: LinkMeta,
        precision: Precision,
    },
    /// The worker stopped while rebuilding this link's run: it is not opened again by itself (after the restart, or
    /// when the page is reloaded with it in the address), so that one bad link cannot stop the page over and over.
    Stopped {
        link: String,
        meta: LinkMeta,
        precision: Precision,
        error: String,
    },
    /// `link` is kept when another model may fit it (it is tried again when a model loads).
    Failed {
        link: Option<String>,
        meta: Option<(LinkMeta, Precision)>,
        error: String,
    },
}

impl LinkState {
    /// The link with what it holds, while it may still be rebuilt (a stopped link waits for "Open it again").
    fn link_and_meta(self) -> Option<(String, LinkMeta, Precision)> {
        match self {
            Self::Opening { link, meta, precision }
            | Self::Opened { link, meta, precision, .. }
            | Self::Failed { link: Some(link), meta: Some((meta, precision)), .. } => Some((link, meta, precision)),
            Self::None | Self::Stopped { .. } | Self::Failed { .. } => None,
        }
    }
}

/// The run being shared, the precision asked for and the worker's answer (None while it works).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ShareState {
    pub run: Option<StoredRun>,
    pub precision: Precision,
    pub result: Option<Result<CheckedLink, String>>,
}

impl Default for ShareState {
    fn default() -> Self {
        Self { run: None, precision: Precision::Int8, result: None }
    }
}

/// Adds a run opened from a link or files to "try it" (and to what a new comparison keeps), once.
fn add_once(tryable: RwSignal<Vec<String>>, kept: StoredValue<Vec<String>>, method: &str) {
    tryable.update(|t| {
        if !t.iter().any(|m| m == method) {
            t.push(method.to_string());
        }
    });
    kept.update_value(|k| {
        if !k.iter().any(|m| m == method) {
            k.push(method.to_string());
        }
    });
}

pub(super) fn scroll_to(id: &str) {
    if let Some(element) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(id)) {
        element.scroll_into_view();
    }
}

/// The id of a new request of the kind `counter` counts: the latest, whose answer alone is kept.
pub(super) fn next_request(counter: StoredValue<u64>) -> u64 {
    counter.update_value(|n| *n += 1);
    counter.get_value()
}

/// Where the page remembers, for this tab, the link that stopped the worker (a reload must not open it again).
const STOPPED_LINK_KEY: &str = "peft-lab:link-that-stopped-the-worker";

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// A link as remembered there: from its `share=` on, the same whether it came from the address or was pasted.
fn stopped_key(link: &str) -> &str {
    link.find(FRAGMENT_KEY).map_or(link, |at| &link[at..])
}

/// The page's address without its fragment: a link opens the same page with the same `?model=`, and nothing else of
/// the query (the sharer's `?backend=` is theirs: the recipient's page times its own).
pub(super) fn page_address() -> String {
    let location = web_sys::window().expect("the page has a window").location();
    let part = |r: Result<String, _>| r.unwrap_or_default();
    let search = part(location.search());
    let model = search.trim_start_matches('?').split('&').find(|pair| pair.starts_with("model="));
    let query = model.map(|pair| format!("?{pair}")).unwrap_or_default();
    format!("{}{}{query}", part(location.origin()), part(location.pathname()))
}

impl App {
    /// A link in the address (`#share=…`) is opened as the page starts.
    pub(super) fn link_from_location(&self) {
        let hash = web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default();
        if !hash.contains(FRAGMENT_KEY) {
            return;
        }
        let stopped_before = session_storage().and_then(|s| s.get_item(STOPPED_LINK_KEY).ok().flatten());
        match codec::decode::<LinkMeta>(&hash) {
            Ok((meta, precision, _)) if stopped_before.as_deref() == Some(stopped_key(&hash)) => {
                let error = "the training worker stopped when this page last opened this link, so it was not opened \
                             again"
                    .to_string();
                self.link.set(LinkState::Stopped { link: hash, meta, precision, error });
            }
            _ => self.begin_opening(hash),
        }
    }

    /// Called when the worker crashed: if it was rebuilding the link's run, the link is blamed and kept from opening
    /// again by itself (here and after a reload); "Open it again" tries anyway.
    pub(super) fn link_stopped_worker(&self, message: &str) {
        if !self.link_in_flight.get_value() {
            return;
        }
        self.link_in_flight.set_value(false);
        let Some((link, meta, precision)) = self.link.get_untracked().link_and_meta() else { return };
        if let Some(storage) = session_storage() {
            // Best effort: without storage only a reload opens the link again.
            let _ = storage.set_item(STOPPED_LINK_KEY, stopped_key(&link));
        }
        let error = format!(
            "the training worker stopped while applying this link's adapter ({message}); it was restarted without \
             the link, so that the link cannot stop the page again"
        );
        self.link.set(LinkState::Stopped { link, meta, precision, error });
    }

    fn open_stopped_link_again(&self, link: String) {
        if let Some(storage) = session_storage() {
            let _ = storage.remove_item(STOPPED_LINK_KEY);
        }
        self.begin_opening(link);
    }

    pub(super) fn begin_opening(&self, text: String) {
        // An answer still on its way for an earlier link is ignored from now on.
        next_request(self.link_request);
        self.link_in_flight.set_value(false);
        match codec::decode::<LinkMeta>(&text) {
            Ok((meta, precision, _)) => {
                self.link.set(LinkState::Opening { link: text, meta, precision });
                if matches!(self.model.get_untracked(), ModelState::Ready(_)) {
                    self.reopen_link();
                }
            }
            Err(e) => self.link.set(LinkState::Failed { link: None, meta: None, error: e.to_string() }),
        }
    }

    /// Asks the (possibly restarted) worker to rebuild the link's run.
    pub(super) fn reopen_link(&self) {
        match self.link.get_untracked() {
            LinkState::Opening { link, .. }
            | LinkState::Opened { link, .. }
            | LinkState::Failed { link: Some(link), .. } => {
                let request = next_request(self.link_request);
                self.link_in_flight.set_value(true);
                self.send(&ToWorker::OpenLink { request, link })
            }
            LinkState::None | LinkState::Failed { link: None, .. } | LinkState::Stopped { .. } => {}
        }
    }

    pub(super) fn on_link_opened(&self, request: u64, method: String, meta: LinkMeta, precision: Precision) {
        if request != self.link_request.get_value() {
            return;
        }
        self.link_in_flight.set_value(false);
        let link = match self.link.get_untracked() {
            LinkState::Opening { link, .. }
            | LinkState::Opened { link, .. }
            | LinkState::Failed { link: Some(link), .. } => link,
            _ => return,
        };
        add_once(self.tryable, self.kept, &method);
        self.link.set(LinkState::Opened { link, method, meta, precision });
    }

    pub(super) fn on_link_failed(&self, request: u64, error: String) {
        if request != self.link_request.get_value() {
            return;
        }
        self.link_in_flight.set_value(false);
        let (link, meta) = match self.link.get_untracked().link_and_meta() {
            Some((link, meta, precision)) => (Some(link), Some((meta, precision))),
            None => (None, None),
        };
        self.link.set(LinkState::Failed { link, meta, error });
    }

    /// Fills the method cards and the budget with the link's settings, for training on new data.
    fn train_again(&self, meta: &LinkMeta) {
        let key = meta.method.key();
        for card in self.cards.get_value() {
            card.enabled.set(card.key == key);
            if card.key == key {
                card.settings.set(serde_json::to_value(&meta.method).expect("plain data serialises"));
                card.learning_rate.set(format!("{:e}", meta.learning_rate));
                card.error.set(None);
            }
        }
        let train = &meta.train;
        self.budget.by_steps.set(train.max_steps.is_some());
        self.budget.amount.set(train.max_steps.unwrap_or(train.epochs).to_string());
        self.budget.batch_size.set(train.batch_size.to_string());
        self.budget.max_length.set(train.max_length.to_string());
        self.budget.seed.set(train.seed.to_string());
        self.notice(format!(
            "The shared run's settings are set ({} only, its learning rate, budget and seed): drop your data and press Compare.",
            meta.method.label()
        ));
        scroll_to("data-section");
    }

    pub(super) fn share_run(&self, run: StoredRun) {
        self.share.update(|s| {
            s.run = Some(run);
            s.result = None;
        });
        self.request_link();
        scroll_to("share-section");
    }

    /// A link asked of a worker that restarted before answering is asked of the new one.
    pub(super) fn resend_pending_share(&self) {
        if self.share.with_untracked(|s| s.run.is_some() && s.result.is_none()) {
            self.request_link();
        }
    }

    fn request_link(&self) {
        let state = self.share.get_untracked();
        let Some(run) = state.run else { return };
        self.share.update(|s| s.result = None);
        let request = next_request(self.share_request);
        self.send(&ToWorker::Share {
            request,
            precision: state.precision,
            run: Box::new(RunToShare {
                comparison: run.comparison,
                model: run.model,
                dataset: run.dataset,
                config: run.config,
                result: run.result,
                adapter: run.adapter,
            }),
        });
    }

    pub(super) fn on_shared(&self, request: u64, result: Result<CheckedLink, String>) {
        if request == self.share_request.get_value() {
            self.share.update(|s| s.result = Some(result));
        }
    }

    pub(super) fn merge_run(&self, run: &StoredRun) {
        let request = next_request(self.merge_request);
        self.merging.set(Some(run.result.method.clone()));
        self.send(&ToWorker::Merge { request, model: run.model.clone(), adapter: run.adapter.clone() });
    }

    /// Downloads the merged model with the base model's tokenizer as one zip.
    pub(super) fn on_merged(&self, request: u64, result: Result<(String, Vec<u8>), String>) {
        if request != self.merge_request.get_value() {
            return;
        }
        let method = self.merging.get_untracked().unwrap_or_default();
        self.merging.set(None);
        let (config_json, weights) = match result {
            Ok(merged) => merged,
            Err(e) => return self.notice(format!("merging {method} failed: {e}")),
        };
        let app = *self;
        // The tokenizer of the loaded model: picked with it, or fetched again (from the browser's cache).
        let (base_url, picked) =
            self.model_source.with_untracked(|s| (s.base_url.clone(), s.files.as_ref().map(|f| f.tokenizer.clone())));
        spawn_local(async move {
            let tokenizer = match picked {
                Some(tokenizer) => tokenizer,
                None => match super::fetch_bytes(&format!("{base_url}tokenizer.json")).await {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        return app.notice(format!("the merged model needs the tokenizer, which did not load: {e}"));
                    }
                },
            };
            let files = [
                ("config.json", config_json.as_bytes()),
                ("model.safetensors", weights.as_slice()),
                ("tokenizer.json", tokenizer.as_slice()),
            ];
            app.download_zip(&format!("{}-merged.zip", file_stem(&method)), &files);
        });
    }

    fn download_zip(&self, name: &str, files: &[(&str, &[u8])]) {
        let result = zip::archive(files).map_err(|e| e.to_string()).and_then(|bytes| download(name, &bytes));
        if let Err(e) = result {
            self.notice(format!("{name} could not be downloaded: {e}"));
        }
    }

    /// adapter_config.json + adapter_model.safetensors (+ peft_lab.json), as `save_pretrained` writes them.
    fn download_peft(&self, run: &StoredRun) {
        let a = &run.adapter;
        let files = [
            ("adapter_config.json", a.config_json.as_bytes()),
            ("adapter_model.safetensors", a.weights.as_slice()),
            ("peft_lab.json", a.run_info_json.as_bytes()),
        ];
        self.download_zip(&format!("{}-adapter.zip", file_stem(&run.result.method)), &files);
    }

    fn download_python(&self, run: &StoredRun) {
        let columns = run.columns.clone().unwrap_or_else(|| Columns { text: "text".into(), label: "label".into() });
        let base_model = if run.model == super::DEFAULT_MODEL.0 {
            super::DEFAULT_MODEL_HUB_ID.to_string()
        } else {
            run.model.clone()
        };
        let data = DataSettings {
            file: run.dataset.clone(),
            text_column: columns.text,
            label_column: columns.label,
            val_fraction: run.val_fraction.unwrap_or(0.2),
        };
        let a = &run.adapter;
        match HandoverConfig::new(
            base_model,
            &a.config_json,
            &a.run_info_json,
            data,
            &run.config,
            run.result.learning_rate,
        ) {
            Ok(config) => {
                let files = config.files();
                let files: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_bytes())).collect();
                self.download_zip(&format!("{}-python.zip", file_stem(&run.result.method)), &files);
            }
            Err(e) => self.notice(format!("the Python hand-over for {} could not be written: {e}", run.result.method)),
        }
    }

    /// Reads picked adapter files (or a folder) and asks the worker to load them.
    fn import_files(&self, files: Vec<web_sys::File>) {
        self.import_status.set(None);
        let app = *self;
        spawn_local(async move {
            let mut config = None;
            let mut weights = None;
            let mut run_info = None;
            let mut folder = None;
            for file in &files {
                let name = file.name();
                folder = folder.or_else(|| picked_folder(file));
                let wanted = name == "adapter_config.json" || name == "peft_lab.json" || name.ends_with(".safetensors");
                if !wanted {
                    continue;
                }
                if file.size() > MAX_ADAPTER_BYTES {
                    return app.import_status.set(Some(Err(format!(
                        "{name} is {:.0} MiB; adapter files over {:.0} MiB are refused",
                        file.size() / 1048576.0,
                        MAX_ADAPTER_BYTES / 1048576.0
                    ))));
                }
                let bytes = match buffer_bytes(Ok(file.array_buffer())).await {
                    Ok(bytes) => bytes,
                    Err(e) => return app.import_status.set(Some(Err(format!("{name} could not be read: {e}")))),
                };
                let text = || String::from_utf8(bytes.clone()).map_err(|_| format!("{name} is not UTF-8 text"));
                let result = match name.as_str() {
                    "adapter_config.json" => text().map(|t| config = Some(t)),
                    "peft_lab.json" => text().map(|t| run_info = Some(t)),
                    _ => {
                        weights = Some(bytes);
                        Ok(())
                    }
                };
                if let Err(e) = result {
                    return app.import_status.set(Some(Err(e)));
                }
            }
            let picked: Vec<String> = files.iter().map(|f| f.name()).collect();
            match (config, weights) {
                (Some(config_json), Some(weights)) => {
                    let name = folder.unwrap_or_else(|| "picked files".into());
                    app.import_status.set(Some(Ok(format!("loading {name}…"))));
                    app.send(&ToWorker::Import { name, config_json, weights, run_info_json: run_info });
                }
                _ => app.import_status.set(Some(Err(format!(
                    "pick adapter_config.json and adapter_model.safetensors together (or their folder); picked: {}",
                    if picked.is_empty() { "nothing".into() } else { picked.join(", ") }
                )))),
            }
        });
    }

    pub(super) fn on_imported(&self, method: String, labels: Vec<String>) {
        add_once(self.tryable, self.kept, &method);
        self.import_status.set(Some(Ok(format!(
            "{method} is loaded ({} labels: {}): try it below",
            labels.len(),
            labels.join(", ")
        ))));
    }
}

/// The folder a file was picked in (with a folder picker), from its `webkitRelativePath` "folder/file".
fn picked_folder(file: &web_sys::File) -> Option<String> {
    let path = js_sys::Reflect::get(file, &"webkitRelativePath".into()).ok()?.as_string()?;
    let (folder, _) = path.split_once('/')?;
    (!folder.is_empty()).then(|| folder.to_string())
}

/// A file-name-safe form of a method label ("lora r8" → "lora-r8").
fn file_stem(method: &str) -> String {
    let stem: String = method.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    format!("peft-lab-{stem}")
}

/// Saves `bytes` as a download named `name` (its type from the name's extension).
pub(super) fn download(name: &str, bytes: &[u8]) -> Result<(), String> {
    let error = |e: wasm_bindgen::JsValue| crate::web::js_error(&e);
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    let mime = match name.rsplit('.').next() {
        Some("json") => "application/json",
        Some("csv") => "text/csv",
        _ => "application/zip",
    };
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(error)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(error)?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("the page has no document")?;
    let anchor: web_sys::HtmlAnchorElement = document.create_element("a").map_err(error)?.unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    // The download has started by the next task; the blob (up to a whole model) is released after a minute.
    let revoke = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 60_000);
    }
    Ok(())
}

/// `navigator.clipboard.writeText`, where the browser offers it (secure pages); the link stays selectable anyway.
fn copy_to_clipboard(text: &str) {
    use js_sys::Reflect;
    let Some(window) = web_sys::window() else { return };
    let clipboard = Reflect::get(&window.navigator(), &"clipboard".into()).ok().filter(|c| !c.is_undefined());
    if let Some(clipboard) = clipboard
        && let Ok(write) = Reflect::get(&clipboard, &"writeText".into())
        && let Ok(write) = write.dyn_into::<js_sys::Function>()
    {
        let _ = write.call1(&clipboard, &text.into());
    }
}

fn percent(value: Option<f64>) -> String {
    optional(value, 100.0, 1) + if value.is_some() { "%" } else { "" }
}

/// What a link holds, as shown before and after opening it.
fn link_summary(meta: LinkMeta, precision: Precision) -> impl IntoView {
    let m = &meta.metrics;
    let t = &meta.train;
    let budget = match t.max_steps {
        Some(steps) => format!("{steps} steps"),
        None => format!("{} epochs", t.epochs),
    };
    view! {
        <dl class="link-summary">
            <dt>"method"</dt><dd class="link-method">{meta.method.label()} " (" {precision.to_string()} " tensors)"</dd>
            <dt>"base model"</dt><dd>{meta.base_model.name.clone()} <span class="muted">" sha256 " {meta.base_model.sha256.chars().take(12).collect::<String>()} "…"</span></dd>
            <dt>"labels"</dt><dd class="link-labels">{meta.labels.join(", ")}</dd>
            <dt>"trained on"</dt><dd>{meta.dataset.clone()} ", " {m.steps} " steps (" {budget} "), batch " {t.batch_size} ", max length " {t.max_length} ", seed " {t.seed} ", learning rate " {format!("{:e}", meta.learning_rate)}</dd>
            <dt>"recorded"</dt><dd class="link-metrics">"validation accuracy " {percent(m.accuracy)} ", macro-F1 " {optional(m.macro_f1, 1.0, 3)} ", val loss " {optional(m.val_loss, 1.0, 4)} "; " {format_count(m.trainable_params)} " trainable parameters (" {format!("{:.3}", m.trainable_percent)} "%)"</dd>
            <dt>"made by"</dt><dd>{meta.made_by.clone()}</dd>
        </dl>
    }
}

/// The link from the address: what it holds, its state, "train again".
pub(super) fn opened_link_view(app: App) -> impl IntoView {
    move || {
        let state = app.link.get();
        let (meta, status) = match &state {
            LinkState::None => return None,
            LinkState::Opening { meta, precision, .. } => (
                Some((meta.clone(), *precision)),
                view! { <p id="link-status" data-state="opening">"Opening: the model loads, then the adapter is applied…"</p> }.into_any(),
            ),
            LinkState::Opened { meta, precision, method, .. } => (
                Some((meta.clone(), *precision)),
                view! { <p id="link-status" data-state="opened">"Ready: " <strong>{method.clone()}</strong> " is in “Try it” below."</p> }.into_any(),
            ),
            LinkState::Failed { meta, error, .. } => (
                meta.clone(),
                view! { <p id="link-status" data-state="failed" class="error" role="alert">"This link cannot be used: " {error.clone()}</p> }.into_any(),
            ),
            LinkState::Stopped { link, meta, precision, error } => {
                let link = link.clone();
                (
                    Some((meta.clone(), *precision)),
                    view! {
                        <p id="link-status" data-state="stopped" class="error" role="alert">"Not opened: " {error.clone()} ". "
                            <button id="open-link-again" on:click=move |_| app.open_stopped_link_again(link.clone())>"Open it again"</button></p>
                    }.into_any(),
                )
            }
        };
        // Names can differ for the same weights (a picked folder): once opened, the sha256 has settled it.
        let other_name = meta.as_ref().is_some_and(|(m, _)| app.model_source.with(|s| s.name != m.base_model.name));
        let wrong_model = matches!(&state, LinkState::Failed { error, .. } if error.contains("was made for the model"));
        let opened = matches!(state, LinkState::Opened { .. });
        let needs_model = (!opened && (other_name || wrong_model)).then(|| {
            view! {
                <p class="warning">"This link was trained on a different model than the one loaded. Load that model: "
                    {model_files_picker(app, "link-model-files")} " (config.json, model.safetensors, tokenizer.json), or "
                    "give its URL under “Model and backend” above. The adapter is applied when the weights' sha256 matches."</p>
            }
        });
        let again = meta.clone().map(|(meta, _)| {
            view! { <button id="train-again" on:click=move |_| app.train_again(&meta)>"Train again with these settings"</button> }
        });
        Some(view! {
            <section id="link-section">
                <h2>"Shared run"</h2>
                {meta.map(|(meta, precision)| link_summary(meta, precision))}
                {status}
                {needs_model}
                {again}
            </section>
        })
    }
}

/// "pick its files…": config.json, model.safetensors and tokenizer.json (or their folder) load as the model.
pub(super) fn model_files_picker(app: App, id: &'static str) -> impl IntoView {
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let files: Vec<web_sys::File> =
            input.files().map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect()).unwrap_or_default();
        input.set_value("");
        spawn_local(async move {
            match read_model_files(&files).await {
                Ok((name, files)) => {
                    app.model_source.set(ModelSource { name, base_url: String::new(), files: Some(files) });
                    app.start_worker();
                }
                Err(e) => app.notice(format!("the model was not changed: {e}")),
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

/// Buttons of a results row: share, PEFT files, merge (LoRA/DoRA), Python.
pub(super) fn run_actions(app: App, run: StoredRun) -> impl IntoView {
    let mergeable = matches!(run.result.config, MethodConfig::Lora(_));
    let (share, peft, merge, python) = (run.clone(), run.clone(), run.clone(), run);
    view! {
        <td class="run-actions">
            <button class="share" title="A link that carries this adapter" on:click=move |_| app.share_run(share.clone())>"share"</button>
            <button class="peft-files" title="adapter_config.json + adapter_model.safetensors (+ peft_lab.json), as Python's peft saves them"
                on:click=move |_| app.download_peft(&peft)>"PEFT files"</button>
            {mergeable.then(|| view! {
                <button class="merge" title="LoRA folded into the weights: a plain Hugging Face model (config.json, model.safetensors, tokenizer.json)"
                    disabled=move || app.merging.get().is_some() || !matches!(app.model.get(), ModelState::Ready(_))
                    on:click=move |_| app.merge_run(&merge)>"merge"</button>
            })}
            <button class="python" title="train_peft.py + peft_lab_run.json: the same run with transformers + peft under accelerate"
                on:click=move |_| app.download_python(&python)>"Python"</button>
        </td>
    }
}

/// The link being made: precision, the link, its size and what the precision costs.
pub(super) fn share_view(app: App) -> impl IntoView {
    let result = move || {
        let state = app.share.get();
        let run = state.run?;
        let run_for_files = run.clone();
        let body = match state.result {
            None => view! { <p id="share-status" class="muted">"Making the link (reading the adapter back and checking it)…"</p> }.into_any(),
            Some(Err(e)) => view! { <p id="share-error" class="error" role="alert">"The link could not be made: " {e}</p> }.into_any(),
            Some(Ok(link)) => {
                let url = format!("{}#{FRAGMENT_KEY}{}", page_address(), link.payload);
                let chars = url.len();
                let size = format!("{} characters ({:.1} KB)", format_count(chars), chars as f64 / 1000.0);
                let check = match (link.full_accuracy, link.link_accuracy, link.agreement) {
                    (Some(full), Some(shared), Some(agree)) => format!(
                        "Validation accuracy {:.1}% full precision, {:.1}% from the {} link; the same prediction on {:.1}% of the examples.",
                        full * 100.0, shared * 100.0, link.precision, agree * 100.0
                    ),
                    _ => "No accuracy check: this run's validation data is not loaded in this page (it is after a comparison).".into(),
                };
                let warning = if chars > BROWSER_LIMIT_CHARS {
                    Some(format!("Over {} characters, longer than browsers accept in the address bar: send the files instead:", format_count(BROWSER_LIMIT_CHARS)))
                } else if chars > CHAT_LIMIT_CHARS {
                    Some(format!("Over {} characters, longer than chat tools accept in one message (Slack 40,000, Discord 4,000): send it by e-mail or in a document, or send the files instead:", format_count(CHAT_LIMIT_CHARS)))
                } else {
                    None
                };
                let copy_url = url.clone();
                let copy = move |_| copy_to_clipboard(&copy_url);
                view! {
                    <textarea id="share-link" readonly rows="3">{url}</textarea>
                    <p id="share-size" data-chars=chars.to_string()>{size}</p>
                    <p id="share-check">{check}</p>
                    {warning.map(|w| {
                        let files = run_for_files.clone();
                        view! {
                            <p id="share-warning" class="warning">{w} " "
                                <button id="share-files-instead" on:click=move |_| app.download_peft(&files)>"Download the PEFT files"</button>
                            </p>
                        }
                    })}
                    <button id="copy-link" on:click=copy>"Copy link"</button>
                }
                .into_any()
            }
        };
        Some(view! {
            <div id="share-panel">
                <p>"Link for " <strong>{run.result.method.clone()}</strong> " (" {run.dataset.clone()} "): tensors in "
                    <select id="share-precision" on:change=move |ev| {
                        let precision = if event_target_value(&ev) == "f16" { Precision::F16 } else { Precision::Int8 };
                        app.share.update(|s| s.precision = precision);
                        app.request_link();
                    }>
                        <option value="int8" selected=move || app.share.get().precision == Precision::Int8>"int8 (smallest)"</option>
                        <option value="f16" selected=move || app.share.get().precision == Precision::F16>"f16"</option>
                    </select>
                </p>
                {body}
            </div>
        })
    };
    let open_text = RwSignal::new(String::new());
    let on_files = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let files =
            input.files().map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect()).unwrap_or_default();
        input.set_value("");
        app.import_files(files);
    };
    view! {
        <section id="share-section">
            <h2>"6. Share and export"</h2>
            <p class="muted">"Each result row can be shared as a link (the adapter travels in the part after #, which is never sent to a server), downloaded as PEFT files that Python's peft loads unchanged, merged into the model (LoRA, DoRA), or continued in Python."</p>
            {result}
            <div class="open-link">
                <label>"Open a link: " <input id="open-link" type="text" size="48" placeholder="https://…#share=…"
                    prop:value=move || open_text.get() on:input=move |ev| open_text.set(event_target_value(&ev)) /></label>
                <button id="open-link-button" on:click=move |_| app.begin_opening(open_text.get_untracked())>"Open"</button>
            </div>
            <div class="import">
                <label class="file-button">"Load adapter files…"<input id="adapter-files" type="file" multiple accept=".json,.safetensors" on:change=on_files /></label>
                " or "
                <label class="file-button">"an adapter folder…"<input id="adapter-folder" type="file" prop:webkitdirectory=true on:change=on_files /></label>
                <span class="muted">" (saved by peft-lab or by Python's peft: adapter_config.json + adapter_model.safetensors)"</span>
                {move || app.import_status.get().map(|status| match status {
                    Ok(message) => view! { <p id="import-status">{message}</p> }.into_any(),
                    Err(e) => view! { <p id="import-status" class="error" role="alert">{e}</p> }.into_any(),
                })}
            </div>
        </section>
    }
}
