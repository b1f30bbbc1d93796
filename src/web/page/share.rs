//! Sharing a run: its link (made and checked by the worker, at the precision asked), merged models, each results
//! row's share and export buttons, and the section that opens links and picks adapter files.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::exports::{self, download_peft, download_python, file_stem};
use super::format::format_count;
use super::import::Imports;
use super::link::Link;
use super::notices::Notices;
use super::status::Status;
use super::worker_link::WorkerLink;
use super::{page_address, scroll_to};
use crate::method::MethodConfig;
use crate::share::link::{BROWSER_LIMIT_CHARS, CHAT_LIMIT_CHARS, CheckedLink, FRAGMENT_KEY, Precision};
use crate::web::fetch_bytes;
use crate::web::protocol::{RequestKind, RunToShare, ToWorker};
use crate::web::store::StoredRun;

/// The run being shared, the precision asked for and the worker's answer (None while it works).
#[derive(Debug, Clone, PartialEq)]
struct ShareState {
    run: Option<StoredRun>,
    precision: Precision,
    result: Option<Result<CheckedLink, String>>,
}

#[derive(Clone, Copy)]
pub struct Sharing {
    state: RwSignal<ShareState>,
    /// The run being merged, while the worker merges it.
    merging: RwSignal<Option<String>>,
    worker: WorkerLink,
    notices: Notices,
    status: Status,
}

impl Sharing {
    pub fn new() -> Self {
        let state = ShareState { run: None, precision: Precision::Int8, result: None };
        Self {
            state: RwSignal::new(state),
            merging: RwSignal::new(None),
            worker: expect_context(),
            notices: expect_context(),
            status: expect_context(),
        }
    }

    /// A merge in flight is lost with the worker; a link asked is asked of the next one.
    pub fn reset(&self) {
        self.merging.set(None);
    }

    fn share_run(&self, run: StoredRun) {
        self.state.update(|s| {
            s.run = Some(run);
            s.result = None;
        });
        self.request_link();
        scroll_to("share-section");
    }

    /// A link asked of a worker that restarted before answering is asked of the new one.
    pub fn resend_pending(&self) {
        if self.state.with_untracked(|s| s.run.is_some() && s.result.is_none()) {
            self.request_link();
        }
    }

    fn request_link(&self) {
        let state = self.state.get_untracked();
        let Some(run) = state.run else { return };
        self.state.update(|s| s.result = None);
        let request = self.worker.request(RequestKind::Share);
        self.worker.send(&ToWorker::Share {
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

    pub fn answered(&self, result: Result<CheckedLink, String>) {
        self.state.update(|s| s.result = Some(result));
    }

    fn merge_run(&self, run: &StoredRun) {
        let request = self.worker.request(RequestKind::Merge);
        self.merging.set(Some(run.result.method.clone()));
        self.worker.send(&ToWorker::Merge { request, model: run.model.clone(), adapter: run.adapter.clone() });
    }

    /// Downloads the merged model with the base model's tokenizer as one zip.
    pub fn merged(&self, result: Result<(String, Vec<u8>), String>) {
        let method = self.merging.get_untracked().unwrap_or_default();
        self.merging.set(None);
        let notices = self.notices;
        let (config_json, weights) = match result {
            Ok(merged) => merged,
            Err(e) => return notices.push(format!("merging {method} failed: {e}")),
        };
        // The tokenizer of the loaded model: picked with it, or fetched again (from the browser's cache).
        let (base_url, picked) = self
            .status
            .model_source
            .with_untracked(|s| (s.base_url.clone(), s.files.as_ref().map(|f| f.tokenizer.clone())));
        spawn_local(async move {
            let tokenizer = match picked {
                Some(tokenizer) => tokenizer,
                None => match fetch_bytes(&format!("{base_url}tokenizer.json")).await {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        return notices.push(format!("the merged model needs the tokenizer, which did not load: {e}"));
                    }
                },
            };
            let files = [
                ("config.json", config_json.as_bytes()),
                ("model.safetensors", weights.as_slice()),
                ("tokenizer.json", tokenizer.as_slice()),
            ];
            exports::download_zip(&format!("{}-merged.zip", file_stem(&method)), &files, notices);
        });
    }
}

/// Buttons of a results row: share, PEFT files, merge (LoRA/DoRA), Python.
#[component]
pub fn RunActions(run: StoredRun) -> impl IntoView {
    let sharing = expect_context::<Sharing>();
    let notices = sharing.notices;
    let mergeable = matches!(run.result.config, MethodConfig::Lora(_));
    let (share, peft, merge, python) = (run.clone(), run.clone(), run.clone(), run);
    view! {
        <td class="run-actions">
            <button class="share" title="A link that carries this adapter" on:click=move |_| sharing.share_run(share.clone())>"share"</button>
            <button class="peft-files" title="adapter_config.json + adapter_model.safetensors (+ peft_lab.json), as Python's peft saves them"
                on:click=move |_| download_peft(&peft, notices)>"PEFT files"</button>
            {mergeable.then(|| view! {
                <button class="merge" title="LoRA folded into the weights: a plain Hugging Face model (config.json, model.safetensors, tokenizer.json)"
                    disabled=move || sharing.merging.get().is_some() || !sharing.status.ready()
                    on:click=move |_| sharing.merge_run(&merge)>"merge"</button>
            })}
            <button class="python" title="train_peft.py + peft_lab_run.json: the same run with transformers + peft under accelerate"
                on:click=move |_| download_python(&python, notices)>"Python"</button>
        </td>
    }
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

/// The link being made: precision, the link, its size and what the precision costs.
fn share_panel(sharing: Sharing) -> Option<impl IntoView> {
    let state = sharing.state.get();
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
            let notices = sharing.notices;
            view! {
                <textarea id="share-link" readonly rows="3">{url}</textarea>
                <p id="share-size" data-chars=chars.to_string()>{size}</p>
                <p id="share-check">{check}</p>
                {warning.map(|w| {
                    let files = run_for_files.clone();
                    view! {
                        <p id="share-warning" class="warning">{w} " "
                            <button id="share-files-instead" on:click=move |_| download_peft(&files, notices)>"Download the PEFT files"</button>
                        </p>
                    }
                })}
                <button id="copy-link" on:click=move |_| copy_to_clipboard(&copy_url)>"Copy link"</button>
            }
            .into_any()
        }
    };
    let precision = move || sharing.state.with(|s| s.precision);
    Some(view! {
        <div id="share-panel">
            <p>"Link for " <strong>{run.result.method.clone()}</strong> " (" {run.dataset.clone()} "): tensors in "
                <select id="share-precision" on:change=move |ev| {
                    let precision = if event_target_value(&ev) == "f16" { Precision::F16 } else { Precision::Int8 };
                    sharing.state.update(|s| s.precision = precision);
                    sharing.request_link();
                }>
                    <option value="int8" selected=move || precision() == Precision::Int8>"int8 (smallest)"</option>
                    <option value="f16" selected=move || precision() == Precision::F16>"f16"</option>
                </select>
            </p>
            {body}
        </div>
    })
}

#[component]
pub fn ShareSection() -> impl IntoView {
    let sharing = expect_context::<Sharing>();
    let link = expect_context::<Link>();
    let imports = expect_context::<Imports>();
    let open_text = RwSignal::new(String::new());
    let on_files = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let files =
            input.files().map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect()).unwrap_or_default();
        input.set_value("");
        imports.pick(files);
    };
    view! {
        <section id="share-section">
            <h2>"6. Share and export"</h2>
            <p class="muted">"Each result row can be shared as a link (the adapter travels in the part after #, which is never sent to a server), downloaded as PEFT files that Python's peft loads unchanged, merged into the model (LoRA, DoRA), or continued in Python."</p>
            {move || share_panel(sharing)}
            <div class="open-link">
                <label>"Open a link: " <input id="open-link" type="text" size="48" placeholder="https://…#share=…"
                    prop:value=move || open_text.get() on:input=move |ev| open_text.set(event_target_value(&ev)) /></label>
                <button id="open-link-button" on:click=move |_| link.open(open_text.get_untracked())>"Open"</button>
            </div>
            <div class="import">
                <label class="file-button">"Load adapter files…"<input id="adapter-files" type="file" multiple accept=".json,.safetensors" on:change=on_files /></label>
                " or "
                <label class="file-button">"an adapter folder…"<input id="adapter-folder" type="file" prop:webkitdirectory=true on:change=on_files /></label>
                <span class="muted">" (saved by peft-lab or by Python's peft: adapter_config.json + adapter_model.safetensors)"</span>
                {move || imports.status.get().map(|status| match status {
                    Ok(message) => view! { <p id="import-status">{message}</p> }.into_any(),
                    Err(e) => view! { <p id="import-status" class="error" role="alert">{e}</p> }.into_any(),
                })}
            </div>
        </section>
    }
}
