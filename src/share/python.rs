//! "Continue in Python": a runnable transformers + peft script and the run's settings as JSON, so a run found in
//! the playground moves to a GPU machine (`accelerate launch train_peft.py`) unchanged.

use serde::{Deserialize, Serialize};

use super::peft::RunInfo;
use crate::train::TrainConfig;

/// The script (static; everything run-specific is in the JSON beside it).
pub const SCRIPT: &str = include_str!("continue_in_python.py");
pub const SCRIPT_FILE: &str = "train_peft.py";
pub const CONFIG_FILE: &str = "peft_lab_run.json";

/// Where the data comes from and how it is split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSettings {
    /// The file name the run was trained on (the script's default `--data`).
    pub file: String,
    pub text_column: String,
    pub label_column: String,
    pub val_fraction: f64,
}

/// The learning rate beside the run's budget and optimiser settings (one flat object for the script).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSettings {
    pub learning_rate: f64,
    #[serde(flatten)]
    pub budget: TrainConfig,
}

/// peft_lab_run.json: what the script reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoverConfig {
    pub made_by: String,
    /// A Hub id or a folder transformers can load.
    pub base_model: String,
    pub method_label: String,
    /// The run's adapter_config.json (peft's for peft methods; AdapterHub's or peft-lab's for the others).
    pub method: serde_json::Value,
    pub labels: Vec<String>,
    /// The run's peft_lab.json (labels and method settings), written beside the trained adapter so peft-lab
    /// loads it back with the label names.
    pub peft_lab: RunInfo,
    pub data: DataSettings,
    pub training: TrainingSettings,
}

impl HandoverConfig {
    /// From a run's saved files (adapter_config.json, peft_lab.json) and its training settings.
    pub fn new(
        base_model: String,
        adapter_config_json: &str,
        run_info_json: &str,
        data: DataSettings,
        train: &TrainConfig,
        learning_rate: f64,
    ) -> Result<Self, serde_json::Error> {
        let peft_lab: RunInfo = serde_json::from_str(run_info_json)?;
        let mut method: serde_json::Value = serde_json::from_str(adapter_config_json)?;
        // The export names the model as peft-lab knew it; the script loads `base_model` (and TEXT-initialised
        // prompt tuning loads its tokenizer from there too). The model's sizes are left for peft to read from
        // the model, so `--model` may name another one.
        if let Some(fields) = method.as_object_mut() {
            for key in ["base_model_name_or_path", "tokenizer_name_or_path"] {
                if fields.contains_key(key) {
                    fields.insert(key.into(), base_model.clone().into());
                }
            }
            for key in ["token_dim", "num_layers", "num_attention_heads"] {
                fields.remove(key);
            }
        }
        Ok(Self {
            made_by: super::made_by(),
            base_model,
            method_label: peft_lab.method.label(),
            method,
            labels: peft_lab.labels.clone(),
            peft_lab,
            data,
            training: TrainingSettings { learning_rate, budget: train.clone() },
        })
    }

    /// The two files to hand over: (name, contents).
    pub fn files(&self) -> [(&'static str, String); 2] {
        [
            (SCRIPT_FILE, SCRIPT.to_string()),
            (CONFIG_FILE, serde_json::to_string_pretty(self).expect("plain data serialises")),
        ]
    }
}
