//! Finished runs kept in IndexedDB (through `www/store.js`), so they are there after a reload.

use serde::{Deserialize, Serialize};
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
    store_put(&run.key(), value).await.map(|_| ()).map_err(|e| super::js_error(&e))
}

/// Every stored run in comparison order; records that no longer parse (an older format) are skipped.
pub async fn load() -> Result<Vec<StoredRun>, String> {
    let values = store_all().await.map_err(|e| super::js_error(&e))?;
    let array: js_sys::Array = values.into();
    let mut runs: Vec<StoredRun> = array.iter().filter_map(|v| serde_wasm_bindgen::from_value(v).ok()).collect();
    runs.sort_by_key(|r| (r.comparison, r.index, r.result.seed));
    Ok(runs)
}

pub async fn clear() -> Result<(), String> {
    store_clear().await.map(|_| ()).map_err(|e| super::js_error(&e))
}
