//! The verdict of a comparison. Per method: the mean, spread and 95 % interval over its seeds of the reported figures
//! (on the test part where there is one, else on validation), its runs that stayed at chance set apart, and whether a
//! paired comparison over the seeds it shares with the best method can tell the two apart.

use serde::{Deserialize, Serialize};

use super::compare::MethodRuns;
use crate::stats::{Spread, chance_margin, paired_difference};
use crate::train::MethodResult;

/// Which part the reported figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Test,
    Validation,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Test => "test",
            Part::Validation => "validation",
        }
    }
}

/// What the marks mean, in one sentence each (the page and the CLI print them under the table).
pub const NOT_DISTINGUISHABLE: &str = "≈ best: a paired t-test over the seeds both methods ran cannot tell this \
     method's accuracy from the best one's at 95 % (the interval of their difference holds 0).";
pub const AT_CHANCE: &str = "at chance: its accuracy is no more than two standard errors (and at least one point) \
     above the share of the most frequent class; such runs are listed apart, not averaged in.";

/// How a method stands against the best one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The highest mean accuracy.
    Best,
    /// The paired differences (best − this, per shared seed) leave 0 inside their 95 % interval.
    NotDistinguishable { difference: Spread },
    /// The best is better on the shared seeds at 95 %.
    Worse { difference: Spread },
    /// Fewer than two seeds where both ran normally: nothing to test.
    TooFewRuns,
}

impl Verdict {
    /// The mark the tables show: "best", "≈ best", the gap to the best in points with the 95 % interval of that gap
    /// ("-2.31 [0.52, 4.10]"), or "?" with too few runs.
    pub fn mark(&self) -> String {
        match self {
            Verdict::Best => "best".into(),
            Verdict::NotDistinguishable { .. } => "≈ best".into(),
            Verdict::Worse { difference } => format!("-{:.2} {}", 100.0 * difference.mean, interval(Some(difference))),
            Verdict::TooFewRuns => "?".into(),
        }
    }
}

/// A spread in percent: "86.25 ± 1.20" (the ± only with more than one run), or "n/a".
pub fn percent(spread: Option<&Spread>) -> String {
    match spread {
        Some(s) if s.n > 1 => format!("{:.2} ± {:.2}", 100.0 * s.mean, 100.0 * s.std),
        Some(s) => format!("{:.2}", 100.0 * s.mean),
        None => "n/a".into(),
    }
}

/// The 95 % interval in percent, "[83.30, 89.20]", or "" with one run.
pub fn interval(spread: Option<&Spread>) -> String {
    match spread.and_then(|s| Some((s.low?, s.high?))) {
        Some((low, high)) => format!("[{:.2}, {:.2}]", 100.0 * low, 100.0 * high),
        None => String::new(),
    }
}

/// A run of a method whose accuracy stayed at chance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChanceRun {
    pub seed: u64,
    pub accuracy: f64,
    /// The share of the most frequent class in the reported part.
    pub majority_share: f64,
}

/// One method's row of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodSummary {
    pub method: String,
    pub key: String,
    pub learning_rate: f64,
    /// Whether `learning_rate` was chosen by a search on validation.
    pub searched: bool,
    /// Accuracy, macro-F1 and loss on the reported part over the runs that learnt (not at chance, not failed).
    pub accuracy: Option<Spread>,
    pub macro_f1: Option<Spread>,
    pub loss: Option<Spread>,
    /// The last validation accuracy over the same runs (the figure choices are made on).
    pub val_accuracy: Option<Spread>,
    pub at_chance: Vec<ChanceRun>,
    /// Runs (or the search, as seed `None`) that failed, with why.
    pub failed: Vec<(Option<u64>, String)>,
    pub verdict: Verdict,
    /// The confusion matrix on the reported part averaged over every finished run (rows: true labels).
    pub confusion: Vec<Vec<f64>>,
    pub trainable_params: Option<usize>,
    pub total_params: Option<usize>,
    pub adapter_bytes: Option<usize>,
    /// Mean over the finished runs.
    pub seconds_per_step: Option<f64>,
    /// The largest over the finished runs.
    pub peak_memory_bytes: Option<u64>,
}

/// The whole comparison's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub part: Part,
    pub methods: Vec<MethodSummary>,
}

/// A method's runs that finished.
fn finished(m: &MethodRuns) -> Vec<&MethodResult> {
    m.runs.iter().filter_map(|r| r.result.as_ref().ok()).collect()
}

/// Whether `result` stayed at chance on its reported part, judged from its own confusion matrix's class counts.
pub fn at_chance(result: &MethodResult) -> Option<ChanceRun> {
    let accuracy = result.reported()?.accuracy;
    let rows: Vec<u64> = result.confusion.iter().map(|r| r.iter().map(|&c| c as u64).sum()).collect();
    let n: u64 = rows.iter().sum();
    let majority_share = *rows.iter().max()? as f64 / n.max(1) as f64;
    (accuracy <= majority_share + chance_margin(majority_share, n as usize)).then_some(ChanceRun {
        seed: result.seed,
        accuracy,
        majority_share,
    })
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let values: Vec<f64> = values.collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

impl Report {
    pub fn new(methods: &[MethodRuns]) -> Self {
        let part =
            if methods.iter().flat_map(finished).any(|r| r.test.is_some()) { Part::Test } else { Part::Validation };
        // Per method, the runs that learnt, by seed.
        let learnt: Vec<Vec<&MethodResult>> = methods
            .iter()
            .map(|m| finished(m).into_iter().filter(|r| r.reported().is_some() && at_chance(r).is_none()).collect())
            .collect();
        let accuracy = |runs: &[&MethodResult]| -> Vec<f64> {
            runs.iter().filter_map(|r| r.reported()).map(|m| m.accuracy).collect()
        };
        let means: Vec<Option<f64>> = learnt.iter().map(|runs| Spread::of(&accuracy(runs)).map(|s| s.mean)).collect();
        let best = (0..methods.len())
            .filter(|&i| means[i].is_some())
            .max_by(|&a, &b| means[a].partial_cmp(&means[b]).unwrap_or(std::cmp::Ordering::Equal));
        let verdict = |i: usize| -> Verdict {
            let Some(b) = best else { return Verdict::TooFewRuns };
            if i == b {
                return Verdict::Best;
            }
            let score = |runs: &[&MethodResult], seed: u64| {
                runs.iter().find(|r| r.seed == seed).and_then(|r| r.reported()).map(|m| m.accuracy)
            };
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for run in &learnt[b] {
                if let (Some(best), Some(this)) = (run.reported(), score(&learnt[i], run.seed)) {
                    theirs.push(best.accuracy);
                    ours.push(this);
                }
            }
            match paired_difference(&theirs, &ours) {
                Some(difference) if difference.n >= 2 => match difference.covers(0.0) {
                    Some(true) => Verdict::NotDistinguishable { difference },
                    _ => Verdict::Worse { difference },
                },
                _ => Verdict::TooFewRuns,
            }
        };
        let summaries = methods
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let done = finished(m);
                let runs = &learnt[i];
                let figure = |f: fn(&crate::train::EvalMetrics) -> f64| -> Option<Spread> {
                    Spread::of(&runs.iter().filter_map(|r| r.reported()).map(f).collect::<Vec<_>>())
                };
                let val_accuracy: Vec<f64> = runs.iter().filter_map(|r| r.accuracy).collect();
                let mut failed: Vec<(Option<u64>, String)> =
                    m.runs.iter().filter_map(|r| r.result.as_ref().err().map(|e| (Some(r.seed), e.clone()))).collect();
                if let Some(Err(e)) = &m.search {
                    failed.insert(0, (None, format!("learning-rate search: {e}")));
                }
                MethodSummary {
                    method: m.method.label(),
                    key: m.method.key().into(),
                    learning_rate: m.learning_rate,
                    searched: matches!(m.search, Some(Ok(_))),
                    accuracy: figure(|e| e.accuracy),
                    macro_f1: figure(|e| e.macro_f1),
                    loss: figure(|e| e.loss),
                    val_accuracy: Spread::of(&val_accuracy),
                    at_chance: done.iter().filter_map(|r| at_chance(r)).collect(),
                    failed,
                    verdict: verdict(i),
                    confusion: mean_confusion(&done),
                    trainable_params: done.first().map(|r| r.trainable_params),
                    total_params: done.first().map(|r| r.total_params),
                    adapter_bytes: done.first().map(|r| r.adapter_bytes),
                    seconds_per_step: mean(done.iter().map(|r| r.seconds_per_step)),
                    peak_memory_bytes: done.iter().filter_map(|r| r.peak_memory_bytes).max(),
                }
            })
            .collect();
        Self { part, methods: summaries }
    }
}

/// The element-wise mean of the runs' confusion matrices (empty without runs).
fn mean_confusion(runs: &[&MethodResult]) -> Vec<Vec<f64>> {
    let Some(first) = runs.first() else { return Vec::new() };
    let mut sum: Vec<Vec<f64>> = first.confusion.iter().map(|row| vec![0.0; row.len()]).collect();
    for run in runs {
        for (total, row) in sum.iter_mut().zip(&run.confusion) {
            for (t, &c) in total.iter_mut().zip(row) {
                *t += c as f64;
            }
        }
    }
    let n = runs.len() as f64;
    sum.into_iter().map(|row| row.into_iter().map(|c| c / n).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::MethodConfig;
    use crate::method::head::Head;
    use crate::session::compare::SeedRun;
    use crate::train::EvalMetrics;

    /// A finished run whose test part has 100 examples, 50 per class, `correct` of them right.
    fn run(seed: u64, correct: u32) -> SeedRun {
        let (right0, right1) = (correct.div_ceil(2), correct / 2);
        let accuracy = correct as f64 / 100.0;
        let metrics = EvalMetrics { loss: 1.0 - accuracy, accuracy, macro_f1: accuracy, examples: 100 };
        let result = MethodResult {
            method: "head".into(),
            config: MethodConfig::Head(Head),
            learning_rate: 1e-3,
            trainable_params: 10,
            total_params: 100,
            trainable_percent: 10.0,
            adapter_bytes: 40,
            steps: 3,
            seconds_per_step: 0.5,
            first_step_seconds: 1.0,
            peak_memory_bytes: Some(seed + 1),
            losses: vec![1.0; 3],
            evaluations: vec![(3, metrics.clone())],
            val_loss: Some(metrics.loss),
            accuracy: Some(accuracy),
            macro_f1: Some(accuracy),
            seed,
            train_seconds: 2.0,
            test: Some(metrics),
            confusion: vec![vec![right0, 50 - right0], vec![50 - right1, right1]],
            adapter_config: serde_json::Value::Null,
        };
        SeedRun { seed, result: Ok(result) }
    }

    fn method(correct: &[u32]) -> MethodRuns {
        MethodRuns {
            method: MethodConfig::Head(Head),
            learning_rate: 1e-3,
            search: None,
            runs: correct.iter().enumerate().map(|(seed, &c)| run(seed as u64, c)).collect(),
        }
    }

    #[test]
    fn marks_follow_the_paired_differences() {
        let report = Report::new(&[
            method(&[90, 80, 85]),
            // 1 to 3 points below the best on every seed although its runs spread more than that: told apart.
            method(&[87, 78, 82]),
            // Above and below the best: not told apart.
            method(&[92, 78, 84]),
        ]);
        assert_eq!(report.part, Part::Test);
        let [best, worse, tied] = &report.methods[..] else { panic!() };
        assert_eq!(best.verdict, Verdict::Best);
        let Verdict::Worse { difference } = &worse.verdict else { panic!("{:?}", worse.verdict) };
        assert!((difference.mean - 0.08 / 3.0).abs() < 1e-12 && difference.low.unwrap() > 0.0);
        assert!(matches!(tied.verdict, Verdict::NotDistinguishable { .. }), "{:?}", tied.verdict);
        let accuracy = best.accuracy.unwrap();
        assert_eq!(accuracy.n, 3);
        assert!((accuracy.mean - 0.85).abs() < 1e-12 && (accuracy.std - 0.05).abs() < 1e-12);
        // The confusion matrix is the mean of the runs'; the peak memory the largest.
        assert!(
            (best.confusion[0][0] - 128.0 / 3.0).abs() < 1e-12 && (best.confusion[1][0] - 23.0 / 3.0).abs() < 1e-12
        );
        assert!(best.confusion.iter().all(|row| (row.iter().sum::<f64>() - 50.0).abs() < 1e-12));
        assert_eq!(best.peak_memory_bytes, Some(3));
    }

    #[test]
    fn runs_at_chance_and_failed_runs_are_set_apart() {
        // 50 of 100 on balanced classes is chance (the margin is 10 points here); so is 59, not 61.
        let mut collapsing = method(&[85, 50, 83]);
        collapsing.runs.push(SeedRun { seed: 3, result: Err("the training loss became NaN".into()) });
        let report = Report::new(&[method(&[84, 59, 83, 61]), collapsing]);
        let [a, b] = &report.methods[..] else { panic!() };
        assert_eq!(a.at_chance.iter().map(|c| c.seed).collect::<Vec<_>>(), vec![1]);
        assert_eq!(a.accuracy.unwrap().n, 3);
        assert_eq!(b.at_chance.len(), 1);
        assert_eq!((b.at_chance[0].seed, b.at_chance[0].majority_share), (1, 0.5));
        assert_eq!(b.accuracy.unwrap().n, 2);
        assert_eq!(b.failed, vec![(Some(3), "the training loss became NaN".to_string())]);
        // The best by mean is b (84.0 against 76.0); they share seeds 0 and 2 where both learnt.
        assert_eq!(b.verdict, Verdict::Best);
        assert!(matches!(a.verdict, Verdict::NotDistinguishable { difference } if difference.n == 2));
    }

    #[test]
    fn one_seed_has_no_interval_and_no_verdict() {
        let report = Report::new(&[method(&[90]), method(&[70])]);
        assert_eq!(report.methods[0].verdict, Verdict::Best);
        assert_eq!(report.methods[1].verdict, Verdict::TooFewRuns);
        assert_eq!(report.methods[0].accuracy.unwrap().low, None);
    }
}
