//! Classification metrics from logits read back to the host.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    #[serde(deserialize_with = "nan_if_null")]
    pub loss: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub accuracy: f64,
    /// Unweighted mean of per-class F1 over the classes present in the labels or the predictions (as sklearn).
    #[serde(deserialize_with = "nan_if_null")]
    pub macro_f1: f64,
    pub examples: usize,
}

/// JSON has no NaN or infinity (serde_json writes `null`): a figure that was not finite reads back as NaN, so that
/// what holds one (a checkpoint, a results file) stays readable.
pub fn nan_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// Softmax of one row of logits, computed stably.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

pub fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().fold(0, |best, (i, &v)| if v > values[best] { i } else { best })
}

/// Counts of (true label, predicted label): `confusion[t][p]`, rows the true labels (as sklearn's
/// `confusion_matrix`).
pub type Confusion = Vec<Vec<u32>>;

/// Mean cross-entropy, accuracy and macro-F1 of `logits` (row-major [n, classes]) against `labels`, and the confusion
/// matrix they come from.
pub fn evaluate(logits: &[f32], labels: &[usize], classes: usize) -> (EvalMetrics, Confusion) {
    let n = labels.len();
    let mut confusion = vec![vec![0u32; classes]; classes];
    if n == 0 {
        return (EvalMetrics { loss: f64::NAN, accuracy: f64::NAN, macro_f1: f64::NAN, examples: 0 }, confusion);
    }
    let mut loss = 0.0;
    for (row, &label) in logits.chunks_exact(classes).zip(labels) {
        loss -= softmax(row)[label].max(f64::MIN_POSITIVE).ln();
        confusion[label][argmax(row)] += 1;
    }
    let correct: u32 = (0..classes).map(|c| confusion[c][c]).sum();
    // Per class: true positives on the diagonal, false negatives along its row, false positives down its column.
    let f1s: Vec<f64> = (0..classes)
        .filter_map(|c| {
            let tp = confusion[c][c];
            let row: u32 = confusion[c].iter().sum();
            let column: u32 = confusion.iter().map(|r| r[c]).sum();
            let (fn_, fp) = (row - tp, column - tp);
            (tp + fp + fn_ > 0).then(|| 2.0 * tp as f64 / (2 * tp + fp + fn_) as f64)
        })
        .collect();
    let metrics = EvalMetrics {
        loss: loss / n as f64,
        accuracy: correct as f64 / n as f64,
        macro_f1: f1s.iter().sum::<f64>() / f1s.len() as f64,
        examples: n,
    };
    (metrics, confusion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computation() {
        // predictions: 0, 1, 1, 0 ; labels: 0, 1, 0, 0
        let logits = [2.0, 0.0, 0.0, 1.0, -1.0, 1.0, 3.0, 1.0];
        let (m, confusion) = evaluate(&logits, &[0, 1, 0, 0], 2);
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(confusion, vec![vec![2, 1], vec![0, 1]]);
        // class 0: tp 2, fn 1, fp 0 -> 0.8 ; class 1: tp 1, fp 1 -> 2/3
        assert!((m.macro_f1 - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        let expected_loss = [(2.0f64, 0.0f64, 0usize), (0.0, 1.0, 1), (-1.0, 1.0, 0), (3.0, 1.0, 0)]
            .iter()
            .map(|&(a, b, l)| {
                let lse = (a.exp() + b.exp()).ln();
                lse - if l == 0 { a } else { b }
            })
            .sum::<f64>()
            / 4.0;
        assert!((m.loss - expected_loss).abs() < 1e-6);
    }

    #[test]
    fn classes_never_seen_do_not_count_in_macro_f1() {
        let (m, _) = evaluate(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0], &[0, 0], 3);
        assert_eq!(m.macro_f1, 1.0);
    }

    #[test]
    fn figures_that_are_not_finite_survive_json() {
        let m = EvalMetrics { loss: f64::NAN, accuracy: 0.5, macro_f1: f64::INFINITY, examples: 4 };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"loss":null,"accuracy":0.5,"macro_f1":null,"examples":4}"#);
        let back: EvalMetrics = serde_json::from_str(&json).unwrap();
        assert!(back.loss.is_nan() && back.macro_f1.is_nan() && back.accuracy == 0.5 && back.examples == 4);
    }
}
