//! Summaries of repeated runs: mean, spread, Student's t intervals and the paired comparison that says whether two
//! methods can be told apart over the seeds they share.

use serde::{Deserialize, Serialize};

/// Two-sided 95 % critical values of Student's t for 1..=30 degrees of freedom (scipy.stats.t.ppf(0.975, df)).
const T_975: [f64; 30] = [
    12.706_204_736,
    4.302_652_730,
    3.182_446_305,
    2.776_445_105,
    2.570_581_836,
    2.446_911_851,
    2.364_624_252,
    2.306_004_135,
    2.262_157_163,
    2.228_138_852,
    2.200_985_160,
    2.178_812_830,
    2.160_368_656,
    2.144_786_688,
    2.131_449_546,
    2.119_905_299,
    2.109_815_578,
    2.100_922_040,
    2.093_024_054,
    2.085_963_447,
    2.079_613_845,
    2.073_873_068,
    2.068_657_610,
    2.063_898_562,
    2.059_538_553,
    2.055_529_439,
    2.051_830_516,
    2.048_407_142,
    2.045_229_642,
    2.042_272_456,
];

/// The 97.5 % quantile of Student's t with `df` degrees of freedom (`df` ≥ 1): the table up to 30, then the
/// Cornish-Fisher expansion around the normal quantile (error below 1e-5 from 31 on).
pub fn t_975(df: usize) -> f64 {
    assert!(df >= 1, "Student's t needs at least one degree of freedom");
    if df <= T_975.len() {
        return T_975[df - 1];
    }
    let (z, v) = (1.959_963_985_f64, df as f64);
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * v)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v.powi(3))
}

/// Mean, sample standard deviation and 95 % interval of the mean (Student's t) of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for one value.
    pub std: f64,
    /// The 95 % interval of the mean; `None` for fewer than two values.
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl Spread {
    /// `None` for no values.
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Some(Self { n, mean, std: 0.0, low: None, high: None });
        }
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let half = t_975(n - 1) * std / (n as f64).sqrt();
        Some(Self { n, mean, std, low: Some(mean - half), high: Some(mean + half) })
    }

    /// Whether the 95 % interval holds `value`; `None` without an interval.
    pub fn covers(&self, value: f64) -> Option<bool> {
        Some(self.low? <= value && value <= self.high?)
    }
}

/// A paired comparison of `a` and `b`, measured on the same seeds (`a[k]` and `b[k]` share seed k): the spread of
/// the differences a − b. The two cannot be told apart at 95 % when its interval holds 0.
pub fn paired_difference(a: &[f64], b: &[f64]) -> Option<Spread> {
    assert_eq!(a.len(), b.len(), "a paired comparison needs one value of each per seed");
    let differences: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    Spread::of(&differences)
}

/// How far above the most frequent class's share `p` an accuracy on `n` examples must be before the run counts as
/// having learnt anything: two standard errors of a proportion, √(p(1 − p)/n), and at least one point.
pub fn chance_margin(p: f64, n: usize) -> f64 {
    (2.0 * (p * (1.0 - p) / n.max(1) as f64).sqrt()).max(0.01)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_scipy_beyond_the_table() {
        // scipy.stats.t.ppf(0.975, df)
        for (df, expected) in [(31, 2.039_513_446), (40, 2.021_075_390), (60, 2.000_297_822), (120, 1.979_930_405)] {
            assert!((t_975(df) - expected).abs() < 2e-5, "df {df}: {} vs {expected}", t_975(df));
        }
        assert!((t_975(2) - 4.302_652_730).abs() < 1e-9);
        assert!((t_975(100_000) - 1.959_963_985).abs() < 1e-4);
    }

    #[test]
    fn spread_of_three_seeds() {
        // mean 0.8, sample std 0.1, half width 4.302653 * 0.1 / sqrt(3)
        let s = Spread::of(&[0.7, 0.8, 0.9]).unwrap();
        assert!((s.mean - 0.8).abs() < 1e-12 && (s.std - 0.1).abs() < 1e-12);
        let half = 4.302_652_730 * 0.1 / 3f64.sqrt();
        assert!((s.low.unwrap() - (0.8 - half)).abs() < 1e-9 && (s.high.unwrap() - (0.8 + half)).abs() < 1e-9);
        let one = Spread::of(&[0.5]).unwrap();
        assert_eq!((one.std, one.low, one.covers(0.5)), (0.0, None, None));
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn paired_comparison_separates_a_consistent_gap_only() {
        // A small gap on every seed is told apart even though the runs spread more than the gap...
        let better = [0.80, 0.90, 0.70];
        let worse = [0.78, 0.885, 0.68];
        let d = paired_difference(&better, &worse).unwrap();
        assert_eq!(d.covers(0.0), Some(false));
        // ...a gap that changes sign is not, and two runs with no difference are not.
        let mixed = [0.82, 0.86, 0.71];
        assert_eq!(paired_difference(&better, &mixed).unwrap().covers(0.0), Some(true));
        assert_eq!(paired_difference(&better, &better).unwrap().covers(0.0), Some(true));
    }

    #[test]
    fn chance_margin_is_two_standard_errors() {
        assert!((chance_margin(0.5, 100) - 0.1).abs() < 1e-12);
        assert_eq!(chance_margin(1.0, 100), 0.01);
    }
}
