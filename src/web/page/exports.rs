//! Downloads: results (JSON, CSV), a run's PEFT files, its Python hand-over, zips; each failure is a notice.

use wasm_bindgen::JsCast;

use super::DEFAULT_MODEL;
use super::notices::Notices;
use crate::data::Columns;
use crate::session::compare::{ComparePlan, MethodRuns};
use crate::session::report::Report;
use crate::session::results::{ComparisonInfo, iso_utc, results_json as comparison_json};
use crate::share::python::{DataSettings, HandoverConfig};
use crate::share::zip;
use crate::web::js_error;
use crate::web::store::StoredRun;

/// What transformers loads for the default model ("Continue in Python").
const DEFAULT_MODEL_HUB_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The shown comparison as peft method_comparison-style JSON, with what it ran on.
pub fn results_json(plan: &ComparePlan, methods: &[MethodRuns], report: &Report, stored: &[StoredRun]) -> String {
    let first = &stored[0];
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
    let json = comparison_json(&info, plan, methods, report);
    serde_json::to_string_pretty(&json).expect("JSON serialises")
}

pub fn download_text(name: &str, text: &str, notices: Notices) {
    if let Err(e) = download(name, text.as_bytes()) {
        notices.push(format!("{name} could not be downloaded: {e}"));
    }
}

pub fn download_zip(name: &str, files: &[(&str, &[u8])], notices: Notices) {
    let result = zip::archive(files).map_err(|e| e.to_string()).and_then(|bytes| download(name, &bytes));
    if let Err(e) = result {
        notices.push(format!("{name} could not be downloaded: {e}"));
    }
}

/// adapter_config.json + adapter_model.safetensors (+ peft_lab.json), as `save_pretrained` writes them.
pub fn download_peft(run: &StoredRun, notices: Notices) {
    download_zip(&format!("{}-adapter.zip", file_stem(&run.result.method)), &peft_files(run), notices);
}

fn peft_files(run: &StoredRun) -> [(&'static str, &[u8]); 3] {
    let a = &run.adapter;
    [
        ("adapter_config.json", a.config_json.as_bytes()),
        ("adapter_model.safetensors", a.weights.as_slice()),
        ("peft_lab.json", a.run_info_json.as_bytes()),
    ]
}

/// train_peft.py + peft_lab_run.json: the same run with transformers + peft.
pub fn download_python(run: &StoredRun, notices: Notices) {
    let columns = run.columns.clone().unwrap_or_else(|| Columns { text: "text".into(), label: "label".into() });
    let base_model = if run.model == DEFAULT_MODEL.0 { DEFAULT_MODEL_HUB_ID.to_string() } else { run.model.clone() };
    let data = DataSettings {
        file: run.dataset.clone(),
        text_column: columns.text,
        label_column: columns.label,
        val_fraction: run.val_fraction.unwrap_or(0.2),
    };
    let a = &run.adapter;
    match HandoverConfig::new(base_model, &a.config_json, &a.run_info_json, data, &run.config, run.result.learning_rate)
    {
        Ok(config) => {
            let files = config.files();
            let files: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_bytes())).collect();
            download_zip(&format!("{}-python.zip", file_stem(&run.result.method)), &files, notices);
        }
        Err(e) => notices.push(format!("the Python hand-over for {} could not be written: {e}", run.result.method)),
    }
}

/// A file-name-safe form of a method label ("lora r8" → "peft-lab-lora-r8").
pub fn file_stem(method: &str) -> String {
    let stem: String = method.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    format!("peft-lab-{stem}")
}

/// Saves `bytes` as a download named `name` (its type from the name's extension).
fn download(name: &str, bytes: &[u8]) -> Result<(), String> {
    let error = |e: wasm_bindgen::JsValue| js_error(&e);
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

/// Runs as one zip: `runs.json` (what each ran on and its figures, curves included) and each run's PEFT files in a
/// folder of its own.
pub fn download_runs(runs: &[StoredRun], notices: Notices) {
    let figures: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            serde_json::json!({
                "comparison": iso_utc(r.comparison as f64 / 1000.0),
                "model": r.model,
                "dataset": r.dataset,
                "backend": r.backend,
                "training": r.config,
                "result": r.result,
            })
        })
        .collect();
    let figures = serde_json::to_string_pretty(&figures).expect("JSON serialises");
    let mut owned: Vec<(String, &[u8])> = vec![("runs.json".into(), figures.as_bytes())];
    for run in runs {
        let folder = format!("{}-seed{}", file_stem(&run.result.method), run.result.seed);
        owned.extend(peft_files(run).map(|(name, bytes)| (format!("{folder}/{name}"), bytes)));
    }
    let files: Vec<(&str, &[u8])> = owned.iter().map(|(name, bytes)| (name.as_str(), *bytes)).collect();
    download_zip("peft-lab-runs.zip", &files, notices);
}
