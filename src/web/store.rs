//! What survives a reload, in IndexedDB (through `www/store.js`): finished runs, the comparison in progress, and its
//! runs' checkpoints (written by the workers).

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::data::Columns;
use crate::session::compare::{ComparePlan, SearchOutcome};
use crate::share::peft::AdapterFiles;
use crate::train::{MethodResult, TrainConfig};

#[wasm_bindgen(module = "/www/store.js")]
extern "C" {
    #[wasm_bindgen(js_name = storePut, catch)]
    async fn store_put(key: &str, value: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = storeAll, catch)]
    async fn store_all() -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = storeClear, catch)]
    async fn store_clear() -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = pendingPut, catch)]
    async fn pending_put(id: &str, value: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = pendingAll, catch)]
    async fn pending_all() -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = pendingDelete, catch)]
    async fn pending_delete(id: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = checkpointPut, catch)]
    async fn checkpoint_put(key: &str, bytes: js_sys::Uint8Array) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = checkpointGet, catch)]
    async fn checkpoint_get(key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = checkpointsClear, catch)]
    async fn checkpoints_clear(prefix: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = announceRunsChanged)]
    fn announce_runs_changed();
    #[wasm_bindgen(js_name = onRunsChangedElsewhere)]
    fn on_runs_changed_elsewhere(callback: &js_sys::Function);
    #[wasm_bindgen(js_name = holdComparison)]
    async fn hold_comparison(id: &str, if_free: bool) -> JsValue;
    #[wasm_bindgen(js_name = releaseComparison)]
    fn release_comparison();
}

/// Tells the page's other tabs that the stored runs changed.
pub fn announce_change() {
    announce_runs_changed();
}

/// Calls `changed` when another tab of the page stores or clears runs.
pub fn watch_other_tabs(changed: impl FnMut() + 'static) {
    let callback = Closure::<dyn FnMut()>::new(changed);
    on_runs_changed_elsewhere(callback.as_ref().unchecked_ref());
    callback.forget();
}

/// Marks `comparison` as running in this tab until [`release`] or until the tab goes (a reload releases it).
pub async fn hold(comparison: u64) {
    hold_comparison(&comparison.to_string(), false).await;
}

/// [`hold`] unless another open tab holds `comparison` (it is running it there): then false, and nothing is held.
pub async fn hold_if_free(comparison: u64) -> bool {
    hold_comparison(&comparison.to_string(), true).await.is_truthy()
}

pub fn release() {
    release_comparison();
}

/// One method's finished run (one seed of it) with what produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRun {
    /// Which comparison (its start time in ms since the epoch) and the method's place in it.
    pub comparison: u64,
    pub index: usize,
    pub dataset: String,
    /// The dataset's text and label columns and the validation fraction (absent in runs stored before they were
    /// recorded).
    #[serde(default)]
    pub columns: Option<Columns>,
    #[serde(default)]
    pub val_fraction: Option<f64>,
    /// The test fraction (`None`: no test part, or a run stored before there was one).
    #[serde(default)]
    pub test_fraction: Option<f64>,
    /// How many examples trained.
    #[serde(default)]
    pub train_examples: Option<usize>,
    pub model: String,
    pub backend: String,
    /// The run's budget, its seed included.
    pub config: TrainConfig,
    /// The whole comparison's plan (absent in runs stored before plans).
    #[serde(default)]
    pub plan: Option<ComparePlan>,
    /// The method's learning-rate search, when its rate was searched.
    #[serde(default)]
    pub search: Option<SearchOutcome>,
    /// When the run was stored, in ms since the epoch.
    #[serde(default)]
    pub finished_at: Option<u64>,
    pub result: MethodResult,
    pub adapter: AdapterFiles,
}

impl StoredRun {
    fn key(&self) -> String {
        format!("{:015}-{:03}-{:020}", self.comparison, self.index, self.result.seed)
    }
}

pub async fn save(run: &StoredRun) -> Result<(), String> {
    let value = serde_wasm_bindgen::to_value(run).map_err(|e| e.to_string())?;
    store_put(&run.key(), value).await.map(|_| ()).map_err(|e| storage_error(&e))
}

/// Every stored run in comparison order; records that no longer parse (an older format) are skipped.
pub async fn load() -> Result<Vec<StoredRun>, String> {
    let values = store_all().await.map_err(|e| storage_error(&e))?;
    let array: js_sys::Array = values.into();
    let mut runs: Vec<StoredRun> = array.iter().filter_map(|v| serde_wasm_bindgen::from_value(v).ok()).collect();
    runs.sort_by_key(|r| (r.comparison, r.index, r.result.seed));
    Ok(runs)
}

pub async fn clear() -> Result<(), String> {
    store_clear().await.map(|_| ()).map_err(|e| storage_error(&e))
}

/// A comparison in progress, kept until it finishes or is stopped (any serialisable record: the page's).
pub async fn save_pending<T: Serialize>(comparison: u64, pending: &T) -> Result<(), String> {
    let value = serde_wasm_bindgen::to_value(pending).map_err(|e| e.to_string())?;
    pending_put(&comparison.to_string(), value).await.map(|_| ()).map_err(|e| storage_error(&e))
}

/// The comparisons in progress when their tabs went (or still running in other tabs), those that still parse.
pub async fn load_pending<T: for<'de> Deserialize<'de>>() -> Result<Vec<T>, String> {
    let values: js_sys::Array = pending_all().await.map_err(|e| storage_error(&e))?.into();
    Ok(values.iter().filter_map(|v| serde_wasm_bindgen::from_value(v).ok()).collect())
}

/// Forgets a comparison in progress and its checkpoints.
pub async fn clear_pending(comparison: u64) -> Result<(), String> {
    pending_delete(&comparison.to_string()).await.map_err(|e| storage_error(&e))?;
    checkpoints_clear(&checkpoint_key(comparison, "")).await.map(|_| ()).map_err(|e| storage_error(&e))
}

/// The key of the checkpoint of `comparison`'s run `label`; with an empty label, the prefix of all its runs' keys.
pub fn checkpoint_key(comparison: u64, label: &str) -> String {
    format!("{comparison}/{label}")
}

pub async fn put_checkpoint(key: &str, bytes: &[u8]) -> Result<(), String> {
    checkpoint_put(key, js_sys::Uint8Array::from(bytes)).await.map(|_| ()).map_err(|e| storage_error(&e))
}

/// The checkpoint stored under `key`, if any.
pub async fn checkpoint(key: &str) -> Result<Option<Vec<u8>>, String> {
    let value = checkpoint_get(key).await.map_err(|e| storage_error(&e))?;
    Ok((!value.is_undefined() && !value.is_null()).then(|| js_sys::Uint8Array::new(&value).to_vec()))
}

/// A storage failure in words: a full disk is named as such (its message alone may not say so).
fn storage_error(error: &JsValue) -> String {
    let message = super::js_error(error);
    let name = js_sys::Reflect::get(error, &"name".into()).ok().and_then(|n| n.as_string());
    if name.as_deref() == Some("QuotaExceededError") {
        format!("the browser's storage for this page is full ({message})")
    } else {
        message
    }
}
