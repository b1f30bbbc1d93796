//! A comparison: every method on the same splits, seeds and budget. Where asked, a method's learning rate is first
//! searched on the validation part (successive halving over a log grid, on a short budget); then the method trains
//! once per seed with the full budget. The test part is never looked at until a run has finished.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::Error;
use super::run::{TrainedMethod, run_tested, train_fresh};
use crate::method::MethodConfig;
use crate::model::Pretrained;
use crate::train::RunSpec;
use crate::train::{EvalMetrics, Host, MethodResult, PreparedData, TrainConfig};

/// One method of a comparison: its settings, its learning rate (the centre of the grid when searched).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedMethod {
    pub config: MethodConfig,
    pub learning_rate: f64,
    pub search: bool,
}

impl PlannedMethod {
    /// Refuses a learning rate that is not a positive number.
    pub fn check(&self) -> Result<(), String> {
        if self.learning_rate.is_finite() && self.learning_rate > 0.0 {
            return Ok(());
        }
        Err(format!("{}: the learning rate must be a positive number, not {}", self.config.label(), self.learning_rate))
    }
}

/// How a learning rate is searched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSettings {
    /// The multiples of the method's learning rate that are tried.
    pub factors: Vec<f64>,
    /// The last round's steps per candidate, as a fraction of a full run's steps.
    pub budget_fraction: f64,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self { factors: vec![1.0 / 3.0, 1.0, 3.0], budget_fraction: 1.0 / 3.0 }
    }
}

impl SearchSettings {
    /// The rounds of successive halving for a run of `full_steps`: (candidates, steps each). Every round keeps the
    /// better half (rounded up) of the one before and trains it twice as long, the last at `budget_fraction` of a
    /// full run; one candidate needs no search.
    pub fn rounds(&self, full_steps: usize) -> Vec<(usize, usize)> {
        let mut counts = Vec::new();
        let mut n = self.factors.len();
        while n > 1 {
            counts.push(n);
            n = n.div_ceil(2);
        }
        let last = ((full_steps as f64 * self.budget_fraction).ceil() as usize).clamp(1, full_steps.max(1));
        let rounds = counts.len();
        counts.into_iter().enumerate().map(|(r, n)| (n, (last >> (rounds - 1 - r)).max(1))).collect()
    }

    /// The optimiser steps a search spends for a run of `full_steps`.
    pub fn steps(&self, full_steps: usize) -> usize {
        self.rounds(full_steps).iter().map(|(n, steps)| n * steps).sum()
    }
}

/// Every method, every seed, the same data and budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparePlan {
    pub methods: Vec<PlannedMethod>,
    /// Seed k gives every method the same head initialisation, batch order and dropout masks.
    pub seeds: Vec<u64>,
    /// The budget; its `seed` is replaced by each run's.
    pub config: TrainConfig,
    pub search: SearchSettings,
}

/// The most runs per method a plan may have (the CLI's --seeds, the page's runs, a comparison link).
pub const MAX_SEEDS: usize = 100;

impl ComparePlan {
    /// The optimiser steps of the whole plan on `train_examples`: searches and runs.
    pub fn total_steps(&self, train_examples: usize) -> usize {
        let full = self.config.total_steps(train_examples);
        let searches = self.methods.iter().filter(|m| m.search).count();
        let runs = self.methods.len().saturating_mul(self.seeds.len());
        searches.saturating_mul(self.search.steps(full)).saturating_add(runs.saturating_mul(full))
    }

    /// Refuses a plan that cannot run, naming the setting and what it may be.
    pub fn check(&self) -> Result<(), String> {
        if self.methods.is_empty() {
            return Err("choose at least one method".into());
        }
        self.methods.iter().try_for_each(PlannedMethod::check)?;
        self.config.check()?;
        if !(1..=MAX_SEEDS).contains(&self.seeds.len()) {
            return Err(format!("{} seeds; give 1 to {MAX_SEEDS}", self.seeds.len()));
        }
        if let Some(seed) = self.seeds.iter().enumerate().find_map(|(i, s)| self.seeds[..i].contains(s).then_some(s)) {
            return Err(format!("seed {seed} is given twice; the seeds must differ"));
        }
        if self.methods.iter().any(|m| m.search) {
            if self.search.factors.is_empty() {
                return Err("the learning-rate search needs at least one factor".into());
            }
            if let Some(f) = self.search.factors.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
                return Err(format!("learning-rate factor {f} must be a positive number"));
            }
            let fraction = self.search.budget_fraction;
            if !(fraction > 0.0 && fraction <= 1.0) {
                return Err(format!("the search's budget fraction {fraction} must be above 0 and at most 1"));
            }
        }
        Ok(())
    }

    /// The runs' budget with seed `seed`.
    pub fn config_for(&self, seed: u64) -> TrainConfig {
        TrainConfig { seed, ..self.config.clone() }
    }
}

/// One learning rate tried in a round of a search: its validation figures after the round's steps, or why it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchTrial {
    pub learning_rate: f64,
    pub validation: Result<EvalMetrics, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRound {
    pub steps: usize,
    pub trials: Vec<SearchTrial>,
}

/// A finished search: every round and the learning rate it chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchOutcome {
    pub rounds: Vec<SearchRound>,
    pub chosen: f64,
}

/// Better first: higher validation accuracy, then lower validation loss; failures last.
fn rank(trials: &mut [SearchTrial]) {
    let key = |t: &SearchTrial| match &t.validation {
        Ok(m) if m.accuracy.is_finite() => (0, -m.accuracy, if m.loss.is_finite() { m.loss } else { f64::MAX }),
        _ => (1, 0.0, 0.0),
    };
    trials.sort_by(|a, b| key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal));
}

/// Searches `method`'s learning rate over `settings`' grid around its own, scored on the validation part after
/// short runs with the plan's first seed (successive halving: the worse half of each round is dropped). Errors only
/// when cancelled or when every candidate failed.
pub async fn search_learning_rate(
    pretrained: &Pretrained,
    method: &PlannedMethod,
    settings: &SearchSettings,
    data: &PreparedData,
    config: &TrainConfig,
    device: &Device,
    host: &mut dyn Host,
) -> Result<SearchOutcome, Error> {
    let full_steps = config.total_steps(data.train.len());
    let mut candidates: Vec<f64> = settings.factors.iter().map(|f| method.learning_rate * f).collect();
    let mut rounds = Vec::new();
    // Each round's candidates are the better half of the one before, as `rounds` counts them.
    for (_, steps) in settings.rounds(full_steps) {
        let short = TrainConfig { max_steps: Some(steps), ..config.clone() };
        let mut trials = Vec::new();
        for &learning_rate in &candidates {
            let name = format!("{} (lr {learning_rate:.1e}, {steps}-step search)", method.config.label());
            let run = RunSpec { method: &method.config, learning_rate, config: &short, name };
            let validation = match train_fresh(pretrained, &run, data, device, host).await {
                Ok((trained, ..)) => {
                    trained.evaluations.last().map(|(_, m)| m.clone()).ok_or_else(|| "no validation data".into())
                }
                Err(e) if e.ends_comparison() => return Err(e),
                Err(e) => Err(e.to_string()),
            };
            trials.push(SearchTrial { learning_rate, validation });
        }
        let mut ranked = trials.clone();
        rank(&mut ranked);
        if ranked.iter().all(|t| t.validation.is_err()) {
            let reasons = ranked.iter().filter_map(|t| {
                t.validation.as_ref().err().map(|e| format!("learning rate {:.1e}: {e}", t.learning_rate))
            });
            return Err(Error::Search(reasons.collect::<Vec<_>>().join("; ")));
        }
        candidates = ranked.iter().take(candidates.len().div_ceil(2)).map(|t| t.learning_rate).collect();
        rounds.push(SearchRound { steps, trials });
    }
    let chosen = candidates.first().copied().ok_or_else(|| Error::Search("the grid has no learning rate".into()))?;
    Ok(SearchOutcome { rounds, chosen })
}

/// One seed's run of a method: its result, or why it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedRun {
    pub seed: u64,
    pub result: Result<MethodResult, String>,
}

/// Everything a comparison did for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodRuns {
    pub method: MethodConfig,
    /// The learning rate of its runs: the searched one, or the planned one.
    pub learning_rate: f64,
    pub search: Option<Result<SearchOutcome, String>>,
    pub runs: Vec<SeedRun>,
}

/// A piece of a plan that one worker runs start to end: a method's search, or one seed's run of a method (by its
/// index in the plan). A method's runs wait for its search, when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    Search { method: usize },
    Run { method: usize, seed: u64 },
}

impl Unit {
    pub fn method(self) -> usize {
        match self {
            Unit::Search { method } | Unit::Run { method, .. } => method,
        }
    }
}

/// Whoever runs a comparison hears, beside each run's training events, when a unit starts and how it ended.
pub trait ComparisonHost: Host {
    /// `unit` starts and will take `total_steps` optimiser steps.
    fn unit_started(&mut self, _unit: Unit, _total_steps: usize) {}
    fn search_finished(&mut self, _method: usize, _outcome: &Result<SearchOutcome, Error>) {}
    fn run_finished(&mut self, _method: usize, _seed: u64, _outcome: &Result<TrainedMethod, Error>) {}
}

/// The learning-rate search of method `method` of `plan`, with the plan's first seed.
pub async fn search_unit(
    pretrained: &Pretrained,
    plan: &ComparePlan,
    method: usize,
    data: &PreparedData,
    device: &Device,
    host: &mut dyn ComparisonHost,
) -> Result<SearchOutcome, Error> {
    let full_steps = plan.config.total_steps(data.train.len());
    host.unit_started(Unit::Search { method }, plan.search.steps(full_steps));
    let config = plan.config_for(plan.seeds.first().copied().unwrap_or(plan.config.seed));
    let outcome =
        search_learning_rate(pretrained, &plan.methods[method], &plan.search, data, &config, device, host).await;
    host.search_finished(method, &outcome);
    outcome
}

/// One seed's run of a method of a plan, at its learning rate (the searched one where there was a search).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeedUnit {
    pub method: usize,
    pub seed: u64,
    pub learning_rate: f64,
}

/// Trains, tests and exports `run` of `plan`; its events are named "label · seed k".
pub async fn seed_unit(
    pretrained: &Pretrained,
    plan: &ComparePlan,
    run: SeedUnit,
    data: &PreparedData,
    device: &Device,
    host: &mut dyn ComparisonHost,
) -> Result<TrainedMethod, Error> {
    let SeedUnit { method, seed, learning_rate } = run;
    host.unit_started(Unit::Run { method, seed }, plan.config.total_steps(data.train.len()));
    let config = plan.config_for(seed);
    let method_config = &plan.methods[method].config;
    let name = format!("{} · seed {seed}", method_config.label());
    let spec = RunSpec { method: method_config, learning_rate, config: &config, name };
    let outcome = run_tested(pretrained, &spec, data, device, host).await;
    host.run_finished(method, seed, &outcome);
    outcome
}

/// Runs the plan, one unit after another: each method's search where asked, then a run per seed. A failing run or
/// search is recorded and the rest go on; cancelling, or losing the device, stops the whole comparison (what finished
/// is returned).
pub async fn compare(
    pretrained: &Pretrained,
    plan: &ComparePlan,
    data: &PreparedData,
    device: &Device,
    host: &mut dyn ComparisonHost,
) -> Vec<MethodRuns> {
    let mut out = Vec::new();
    for (index, method) in plan.methods.iter().enumerate() {
        let mut runs = MethodRuns {
            method: method.config.clone(),
            learning_rate: method.learning_rate,
            search: None,
            runs: vec![],
        };
        if method.search {
            match search_unit(pretrained, plan, index, data, device, host).await {
                Ok(outcome) => {
                    runs.learning_rate = outcome.chosen;
                    runs.search = Some(Ok(outcome));
                }
                Err(e) if e.ends_comparison() => return out,
                Err(e) => {
                    runs.search = Some(Err(e.to_string()));
                    out.push(runs);
                    continue;
                }
            }
        }
        for &seed in &plan.seeds {
            let unit = SeedUnit { method: index, seed, learning_rate: runs.learning_rate };
            let result = seed_unit(pretrained, plan, unit, data, device, host).await.map(|t| t.result);
            let ended = result.as_ref().is_err_and(Error::ends_comparison);
            runs.runs.push(SeedRun { seed, result: result.map_err(|e| e.to_string()) });
            if ended {
                out.push(runs);
                return out;
            }
        }
        out.push(runs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successive_halving_keeps_the_better_half_on_twice_the_steps() {
        let three = SearchSettings::default();
        // A third of 90 steps for the last round, half of it before.
        assert_eq!(three.rounds(90), vec![(3, 15), (2, 30)]);
        assert_eq!(three.steps(90), 105);
        let five = SearchSettings { factors: vec![0.1, 0.3, 1.0, 3.0, 10.0], budget_fraction: 0.5 };
        assert_eq!(five.rounds(40), vec![(5, 5), (3, 10), (2, 20)]);
        // Never below one step; one candidate is no search.
        assert_eq!(three.rounds(1), vec![(3, 1), (2, 1)]);
        assert!(SearchSettings { factors: vec![1.0], ..three }.rounds(90).is_empty());
    }

    #[test]
    fn plans_that_cannot_run_are_refused() {
        let method =
            PlannedMethod { config: MethodConfig::from_name("lora").unwrap(), learning_rate: 1e-3, search: true };
        let plan = ComparePlan {
            methods: vec![method.clone()],
            seeds: vec![0, 1],
            config: TrainConfig::default(),
            search: SearchSettings::default(),
        };
        assert_eq!(plan.check(), Ok(()));
        assert_eq!(plan.total_steps(160), 2 * 30 + 10 * 2 + 5 * 3);
        let refused = |change: fn(&mut ComparePlan)| {
            let mut bad = plan.clone();
            change(&mut bad);
            bad.check().unwrap_err()
        };
        assert_eq!(refused(|p| p.seeds = vec![]), "0 seeds; give 1 to 100");
        assert_eq!(refused(|p| p.seeds = (0..101).collect()), "101 seeds; give 1 to 100");
        assert_eq!(refused(|p| p.seeds = vec![3, 1, 3]), "seed 3 is given twice; the seeds must differ");
        assert_eq!(refused(|p| p.methods.clear()), "choose at least one method");
        assert_eq!(
            refused(|p| p.methods[0].learning_rate = -1.0),
            "lora r8: the learning rate must be a positive number, not -1"
        );
        assert_eq!(
            refused(|p| p.search.factors = vec![1.0, f64::NAN]),
            "learning-rate factor NaN must be a positive number"
        );
        assert_eq!(
            refused(|p| p.search.budget_fraction = 0.0),
            "the search's budget fraction 0 must be above 0 and at most 1"
        );
    }
}
