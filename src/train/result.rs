//! One method's record after training: the row of the comparison table and its curves.

use serde::{Deserialize, Serialize};

use super::{Confusion, EvalMetrics};
use crate::method::MethodConfig;

/// The share of a model's parameters that train, in percent.
pub fn trainable_percent(trainable: usize, total: usize) -> f64 {
    100.0 * trainable as f64 / total.max(1) as f64
}

/// One method's row of the comparison table, plus its curves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    pub method: String,
    pub config: MethodConfig,
    pub learning_rate: f64,
    pub trainable_params: usize,
    pub total_params: usize,
    pub trainable_percent: f64,
    /// Size of the saved adapter_model.safetensors.
    pub adapter_bytes: usize,
    pub steps: usize,
    pub seconds_per_step: f64,
    pub first_step_seconds: f64,
    pub peak_memory_bytes: Option<u64>,
    pub losses: Vec<f32>,
    pub evaluations: Vec<(usize, EvalMetrics)>,
    /// The last evaluation's (after the final step) loss, accuracy and macro-F1; `None` without validation data.
    pub val_loss: Option<f64>,
    pub accuracy: Option<f64>,
    pub macro_f1: Option<f64>,
    /// The run's seed: the new weights' initialisation, the batch order and the dropout masks.
    #[serde(default)]
    pub seed: u64,
    /// Wall time of all the training steps.
    #[serde(default)]
    pub train_seconds: f64,
    /// The test part's metrics after the final step; `None` without a test part.
    #[serde(default)]
    pub test: Option<EvalMetrics>,
    /// The confusion matrix on the reported part (test where there is one, else validation; empty without either).
    #[serde(default)]
    pub confusion: Confusion,
    /// The adapter_config.json written with the adapter: peft's config of the method (its `peft_type` null where
    /// peft has no such method).
    #[serde(default)]
    pub adapter_config: serde_json::Value,
}

impl MethodResult {
    /// The figures a comparison reports: on the test part where there is one, else the last validation.
    pub fn reported(&self) -> Option<&EvalMetrics> {
        self.test.as_ref().or(self.evaluations.last().map(|(_, m)| m))
    }
}
