//! A comparison's results as files: JSON with, per run, the fields of Hugging Face peft's `method_comparison` results
//! (`run_info`, `train_info` with `metrics[]`) where they apply, beside the summary; and CSV, a row per method and seed.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::compare::{ComparePlan, MethodRuns};
use super::report::Report;
use crate::train::MethodResult;

/// What a comparison ran on, recorded beside its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonInfo {
    pub model: String,
    pub dataset: String,
    /// When it started, as ISO 8601 (UTC).
    pub created_at: String,
    /// Wall time of the whole comparison, searches included.
    pub total_seconds: f64,
    /// The backend and device, e.g. "CPU (flex, 2 threads)".
    pub backend: String,
    pub train_examples: usize,
    pub validation_examples: usize,
    pub test_examples: usize,
}

/// `unix_seconds` as ISO 8601 in UTC, e.g. 2026-12-06T02:19:41Z (the CLI and the page each read their own clock).
pub fn iso_utc(unix_seconds: f64) -> String {
    let secs = unix_seconds.max(0.0) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3_600, rest % 3_600 / 60, rest % 60)
}

/// One run in the shape of a peft `method_comparison` result file.
fn run_json(
    info: &ComparisonInfo,
    plan: &ComparePlan,
    runs: &MethodRuns,
    seed: u64,
    outcome: &Result<MethodResult, String>,
) -> Value {
    let label = runs.method.label();
    let mut train_config = serde_json::to_value(plan.config_for(seed)).expect("plain data serialises");
    train_config["learning_rate"] = runs.learning_rate.into();
    train_config["model_id"] = info.model.clone().into();
    let peft_config = outcome.as_ref().map_or(Value::Null, |r| r.adapter_config.clone());
    let run_info = json!({
        "created_at": info.created_at,
        "experiment_name": format!("{}/seed-{seed}", runs.method.key()),
        "method": label,
        "train_config": train_config,
        // As peft's results for full fine-tuning: no peft config where peft has no such method.
        "peft_config": if peft_config["peft_type"].is_null() { Value::Null } else { peft_config },
        "peft_lab_method": runs.method,
        "error_msg": outcome.as_ref().err().cloned().unwrap_or_default(),
    });
    let train_info = match outcome {
        Ok(r) => {
            let mut metrics = Vec::new();
            let mut since = 0;
            for (step, m) in &r.evaluations {
                let losses = &r.losses[since.min(*step)..(*step).min(r.losses.len())];
                since = *step;
                metrics.push(json!({
                    "step": step,
                    "valid accuracy": m.accuracy,
                    "valid loss": m.loss,
                    "valid macro_f1": m.macro_f1,
                    "train loss": losses.iter().map(|&l| l as f64).sum::<f64>() / losses.len().max(1) as f64,
                    "train samples": step * plan.config.batch_size,
                }));
            }
            if let Some(t) = &r.test {
                metrics.push(json!({
                    "step": r.steps,
                    "test accuracy": t.accuracy,
                    "test loss": t.loss,
                    "test macro_f1": t.macro_f1,
                }));
            }
            json!({
                "accelerator_memory_max": r.peak_memory_bytes,
                "train_time": r.train_seconds,
                "seconds_per_step": r.seconds_per_step,
                "file_size": r.adapter_bytes,
                "num_trainable_params": r.trainable_params,
                "num_total_params": r.total_params,
                "status": "success",
                "metrics": metrics,
                "confusion_matrix": r.confusion,
            })
        }
        Err(e) => json!({
            "status": if e == "stopped by the user" { "canceled" } else { "failed" },
            "metrics": [],
        }),
    };
    json!({ "run_info": run_info, "train_info": train_info })
}

/// The whole comparison as one JSON document: what it ran on, the plan, the summary table and every run.
pub fn results_json(info: &ComparisonInfo, plan: &ComparePlan, runs: &[MethodRuns], report: &Report) -> Value {
    let methods: Vec<Value> = runs
        .iter()
        .map(|m| {
            let seeds: Vec<Value> = m.runs.iter().map(|r| run_json(info, plan, m, r.seed, &r.result)).collect();
            json!({
                "method": m.method.label(),
                "learning_rate": m.learning_rate,
                "learning_rate_search": m.search,
                "runs": seeds,
            })
        })
        .collect();
    json!({
        "peft_lab_version": env!("CARGO_PKG_VERSION"),
        "comparison": {
            "info": info,
            "reported_part": report.part.name(),
            "seeds": plan.seeds,
            "train_config": plan.config,
            "learning_rate_search": plan.search,
        },
        "summary": report,
        "methods": methods,
    })
}

/// A cell of CSV: quoted when it holds a comma, a quote or a line break.
fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.into() }
}

fn number(value: Option<f64>) -> String {
    value.filter(|v| v.is_finite()).map_or(String::new(), |v| format!("{v}"))
}

/// One row per method and seed: its settings, status and figures (`report` is the runs' own).
pub fn results_csv(runs: &[MethodRuns], report: &Report) -> String {
    let mut out = String::from(
        "method,seed,learning_rate,searched,status,at_chance,val_accuracy,val_macro_f1,val_loss,test_accuracy,\
         test_macro_f1,test_loss,trainable_params,total_params,adapter_bytes,steps,seconds_per_step,train_seconds,\
         peak_memory_bytes,error\n",
    );
    for (m, summary) in runs.iter().zip(&report.methods) {
        for run in &m.runs {
            let mut row = vec![
                cell(&m.method.label()),
                run.seed.to_string(),
                format!("{}", m.learning_rate),
                summary.searched.to_string(),
            ];
            match &run.result {
                Ok(r) => {
                    let chance = summary.at_chance.iter().any(|c| c.seed == run.seed);
                    let test = r.test.as_ref();
                    row.extend([
                        "success".into(),
                        chance.to_string(),
                        number(r.accuracy),
                        number(r.macro_f1),
                        number(r.val_loss),
                        number(test.map(|t| t.accuracy)),
                        number(test.map(|t| t.macro_f1)),
                        number(test.map(|t| t.loss)),
                        r.trainable_params.to_string(),
                        r.total_params.to_string(),
                        r.adapter_bytes.to_string(),
                        r.steps.to_string(),
                        number(Some(r.seconds_per_step)),
                        number(Some(r.train_seconds)),
                        r.peak_memory_bytes.map_or(String::new(), |b| b.to_string()),
                        String::new(),
                    ]);
                }
                Err(e) => {
                    row.extend(["failed".into()]);
                    row.extend(std::iter::repeat_n(String::new(), 14));
                    row.push(cell(e));
                }
            }
            out.push_str(&row.join(","));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_in_utc() {
        assert_eq!(iso_utc(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(iso_utc(1_796_523_581.9), "2026-12-06T02:19:41Z");
    }

    #[test]
    fn csv_cells_are_quoted_only_where_needed() {
        assert_eq!(cell("lora r8"), "lora r8");
        assert_eq!(cell("a, \"b\""), "\"a, \"\"b\"\"\"");
    }
}
