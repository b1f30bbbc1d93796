//! A comparison as a link: its plan, what it ran on, every run's figures and curves, no tensors. It opens as the same
//! table and plots, read-only. The payload is the share links' (zlib, base64url, every size checked on the way in);
//! the loss curves travel as int8 blocks, averaged down to at most [`LOSS_POINTS`] points per run and stretched back
//! to one value a step when opened; the rest is the header's JSON.

use serde::{Deserialize, Serialize};

use super::compare::{ComparePlan, MethodRuns, SearchOutcome, SeedRun};
use crate::share::SharedTensor;
use crate::share::link::codec::{self, LinkError, Precision};
use crate::train::{Confusion, EvalMetrics, MethodResult, trainable_percent};

/// The fragment key: `https://…/#compare=<payload>`.
pub const COMPARE_KEY: &str = "compare=";
/// Points of a run's loss curve in a link.
pub const LOSS_POINTS: usize = 48;
/// Confusion matrices travel for up to this many classes (a 5 x 3 comparison of 20 classes stays near 8,000
/// characters); beyond, the link carries none, and its runs at chance are not flagged.
pub const MAX_LINK_CLASSES: usize = 20;

/// Most optimiser steps of all a link's runs together: their loss curves are stretched back to a value a step.
pub const MAX_LINK_STEPS: usize = 10_000_000;

/// What a comparison ran on, as its link records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonSource {
    pub model: String,
    pub dataset: String,
    pub val_fraction: f64,
    pub test_fraction: Option<f64>,
    /// The dataset's label names (for the confusion matrices; none in a link beyond [`MAX_LINK_CLASSES`]).
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LinkRun {
    seed: u64,
    /// Why the run failed; the other fields are empty then.
    error: Option<String>,
    steps: usize,
    seconds_per_step: f64,
    evaluations: Vec<(usize, EvalMetrics)>,
    test: Option<EvalMetrics>,
    confusion: Confusion,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LinkMethod {
    learning_rate: f64,
    search: Option<Result<SearchOutcome, String>>,
    trainable_params: usize,
    total_params: usize,
    adapter_bytes: usize,
    runs: Vec<LinkRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ComparisonHeader {
    source: ComparisonSource,
    plan: ComparePlan,
    methods: Vec<LinkMethod>,
}

/// `values` averaged over consecutive buckets down to at most `points` values.
fn shrink(values: &[f32], points: usize) -> Vec<f32> {
    let bucket = values.len().div_ceil(points.max(1)).max(1);
    values.chunks(bucket).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect()
}

/// `points` stretched back to `steps` values, each point repeated over its bucket.
fn stretch(points: &[f32], steps: usize) -> Vec<f32> {
    if points.is_empty() {
        return Vec::new();
    }
    let bucket = steps.div_ceil(points.len()).max(1);
    (0..steps).map(|i| points[(i / bucket).min(points.len() - 1)]).collect()
}

/// The link payload (what follows `#compare=`) of `methods` (the runs of `plan`'s methods, in its order).
pub fn encode_comparison(
    source: &ComparisonSource,
    plan: &ComparePlan,
    methods: &[MethodRuns],
) -> Result<String, LinkError> {
    let keep_confusion = source.labels.len() <= MAX_LINK_CLASSES;
    let mut curves = Vec::new();
    let methods = methods
        .iter()
        .enumerate()
        .map(|(index, m)| {
            let first = m.runs.iter().find_map(|r| r.result.as_ref().ok());
            let runs = m
                .runs
                .iter()
                .map(|run| match &run.result {
                    Ok(r) => {
                        let losses = shrink(&r.losses, LOSS_POINTS);
                        let name = format!("loss/{index}/{}", run.seed);
                        curves.push(SharedTensor { name, shape: vec![losses.len()], values: losses });
                        LinkRun {
                            seed: run.seed,
                            error: None,
                            steps: r.steps,
                            seconds_per_step: r.seconds_per_step,
                            evaluations: r.evaluations.clone(),
                            test: r.test.clone(),
                            confusion: if keep_confusion { r.confusion.clone() } else { Vec::new() },
                        }
                    }
                    Err(e) => LinkRun {
                        seed: run.seed,
                        error: Some(e.clone()),
                        steps: 0,
                        seconds_per_step: 0.0,
                        evaluations: Vec::new(),
                        test: None,
                        confusion: Vec::new(),
                    },
                })
                .collect();
            LinkMethod {
                learning_rate: m.learning_rate,
                search: m.search.clone(),
                trainable_params: first.map_or(0, |r| r.trainable_params),
                total_params: first.map_or(0, |r| r.total_params),
                adapter_bytes: first.map_or(0, |r| r.adapter_bytes),
                runs,
            }
        })
        .collect();
    let mut source = source.clone();
    if !keep_confusion {
        source.labels.clear();
    }
    let header = ComparisonHeader { source, plan: plan.clone(), methods };
    codec::encode(&header, &curves, Precision::Int8)
}

/// A comparison opened from its link: what it ran on, its plan, and its methods' runs as a comparison returned them
/// (loss curves at the link's resolution; no adapters, memory figures or first-step times).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedComparison {
    pub source: ComparisonSource,
    pub plan: ComparePlan,
    pub methods: Vec<MethodRuns>,
}

/// Opens a comparison link (a URL, its fragment, or the payload), checking that it fits its own plan.
pub fn decode_comparison(text: &str) -> Result<OpenedComparison, LinkError> {
    let (header, _, curves): (ComparisonHeader, _, _) =
        codec::decode_payload(codec::payload_after(text, COMPARE_KEY)?)?;
    let ComparisonHeader { source, plan, methods } = header;
    let bad = |why: String| LinkError::Header(why);
    if methods.len() != plan.methods.len() {
        return Err(bad(format!("{} methods' runs for a plan of {}", methods.len(), plan.methods.len())));
    }
    plan.check().map_err(bad)?;
    let steps: usize = methods.iter().flat_map(|m| &m.runs).map(|r| r.steps).fold(0, usize::saturating_add);
    if steps > MAX_LINK_STEPS {
        return Err(bad(format!("its runs take {steps} steps together; at most {MAX_LINK_STEPS}")));
    }
    if let Some(run) = methods.iter().flat_map(|m| &m.runs).find(|r| !plan.seeds.contains(&r.seed)) {
        return Err(bad(format!("a run has seed {}, which its plan does not list", run.seed)));
    }
    let methods = methods
        .into_iter()
        .zip(&plan.methods)
        .enumerate()
        .map(|(index, (m, planned))| {
            let runs = m
                .runs
                .into_iter()
                .map(|run| {
                    if let Some(error) = run.error {
                        return SeedRun { seed: run.seed, result: Err(error) };
                    }
                    let name = format!("loss/{index}/{}", run.seed);
                    let points = curves.iter().find(|c| c.name == name).map_or(&[][..], |c| c.values.as_slice());
                    let accuracy = run.evaluations.last().map(|(_, e)| e.accuracy);
                    let result = MethodResult {
                        method: planned.config.label(),
                        config: planned.config.clone(),
                        learning_rate: m.learning_rate,
                        trainable_params: m.trainable_params,
                        total_params: m.total_params,
                        trainable_percent: trainable_percent(m.trainable_params, m.total_params),
                        adapter_bytes: m.adapter_bytes,
                        steps: run.steps,
                        seconds_per_step: run.seconds_per_step,
                        first_step_seconds: 0.0,
                        peak_memory_bytes: None,
                        losses: stretch(points, run.steps),
                        val_loss: run.evaluations.last().map(|(_, e)| e.loss),
                        accuracy,
                        macro_f1: run.evaluations.last().map(|(_, e)| e.macro_f1),
                        evaluations: run.evaluations,
                        seed: run.seed,
                        train_seconds: run.seconds_per_step * run.steps as f64,
                        test: run.test,
                        confusion: run.confusion,
                        adapter_config: serde_json::Value::Null,
                    };
                    SeedRun { seed: run.seed, result: Ok(result) }
                })
                .collect();
            MethodRuns { method: planned.config.clone(), learning_rate: m.learning_rate, search: m.search, runs }
        })
        .collect();
    Ok(OpenedComparison { source, plan, methods })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_shrink_to_buckets_and_stretch_back_to_steps() {
        let losses: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let points = shrink(&losses, 4);
        assert_eq!(points, vec![1.0, 4.0, 7.0, 9.0]);
        assert_eq!(stretch(&points, 10), vec![1.0, 1.0, 1.0, 4.0, 4.0, 4.0, 7.0, 7.0, 7.0, 9.0]);
        assert_eq!(shrink(&losses, 48), losses);
        assert!(stretch(&[], 5).is_empty());
    }
}
