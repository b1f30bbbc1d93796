//! The budget every method shares (epochs or steps, batch, length, seeds, runs, held-out parts), and the plan's size
//! and time estimated from it before Compare.

use leptos::prelude::*;

use super::data::Data;
use super::format::{duration, format_count, mib};
use super::methods::Cards;
use super::parallel_workers;
use super::status::{ModelState, Status};
use crate::session::compare::{ComparePlan, SearchSettings};
use crate::session::held_out_fractions;
use crate::session::memory::MemoryEstimate;
use crate::train::TrainConfig;

/// The budget as typed (validated when a comparison starts).
#[derive(Clone, Copy)]
pub struct Budget {
    pub by_steps: RwSignal<bool>,
    pub amount: RwSignal<String>,
    pub batch_size: RwSignal<String>,
    pub max_length: RwSignal<String>,
    /// Batches of texts of similar lengths (less padding, shorter steps).
    group_by_length: RwSignal<bool>,
    pub seed: RwSignal<String>,
    /// Runs per method: seeds seed, seed + 1, ...
    pub runs: RwSignal<String>,
    /// Set once the person typed a number of runs: the estimate no longer chooses it.
    pub runs_chosen: RwSignal<bool>,
    pub val_percent: RwSignal<String>,
    pub test_percent: RwSignal<String>,
}

/// What the budget fields describe: the shared training settings, the held-out fractions and the seeds.
pub struct BudgetChoice {
    pub config: TrainConfig,
    pub val_fraction: f64,
    pub test_fraction: Option<f64>,
    pub seeds: Vec<u64>,
}

impl Budget {
    pub fn new() -> Self {
        Self {
            by_steps: RwSignal::new(false),
            amount: RwSignal::new("3".into()),
            batch_size: RwSignal::new("16".into()),
            max_length: RwSignal::new("64".into()),
            group_by_length: RwSignal::new(TrainConfig::default().group_by_length),
            seed: RwSignal::new("42".into()),
            runs: RwSignal::new("3".into()),
            runs_chosen: RwSignal::new(false),
            val_percent: RwSignal::new("20".into()),
            test_percent: RwSignal::new("20".into()),
        }
    }

    fn parse<T: std::str::FromStr + PartialOrd>(
        field: RwSignal<String>,
        name: &str,
        min: T,
        max: T,
    ) -> Result<T, String> {
        field
            .get()
            .trim()
            .parse::<T>()
            .ok()
            .filter(|v| *v >= min && *v <= max)
            .ok_or_else(|| format!("{name} must be a number in its allowed range"))
    }

    /// The typed budget, or what is wrong with it. Tracks every field it reads.
    pub fn choice(&self) -> Result<BudgetChoice, String> {
        let amount: usize = Self::parse(self.amount, "the budget", 1, 100_000)?;
        let by_steps = self.by_steps.get();
        let config = TrainConfig {
            epochs: if by_steps { 1 } else { amount },
            max_steps: by_steps.then_some(amount),
            batch_size: Self::parse(self.batch_size, "batch size", 1, 512)?,
            max_length: Self::parse(self.max_length, "max length", 8, 512)?,
            seed: Self::parse(self.seed, "seed", 0, u64::MAX - 100)?,
            group_by_length: self.group_by_length.get(),
            ..TrainConfig::default()
        };
        let runs: u64 = Self::parse(self.runs, "runs per method", 1, 20)?;
        let val_percent: f64 = Self::parse(self.val_percent, "validation %", 1.0, 90.0)?;
        let test_percent: f64 = Self::parse(self.test_percent, "test %", 0.0, 90.0)?;
        let seeds = (config.seed..config.seed + runs).collect();
        let test_fraction = (test_percent > 0.0).then_some(test_percent / 100.0);
        Ok(BudgetChoice { config, val_fraction: val_percent / 100.0, test_fraction, seeds })
    }

    /// The budget as `config` has it, with `runs` runs per method from `first_seed` (a link's, a comparison's).
    pub fn set(&self, config: &TrainConfig, first_seed: u64) {
        self.by_steps.set(config.max_steps.is_some());
        self.amount.set(config.max_steps.unwrap_or(config.epochs).to_string());
        self.batch_size.set(config.batch_size.to_string());
        self.max_length.set(config.max_length.to_string());
        self.seed.set(first_seed.to_string());
    }
}

/// The longest default comparison, in seconds: three runs per method when they fit, else one.
const DEFAULT_RUNS_SECONDS: f64 = 600.0;

/// The plan the budget and the ticked cards describe with `runs` runs per method: its methods, optimiser steps, and
/// its time where the backend was timed when the model loaded (a LoRA step of 16 x 64 tokens, scaled to this
/// budget's batch and typical text length, shared by the parallel workers on the CPU). Tracks what it reads.
fn plan_size(
    budget: Budget,
    data: Data,
    cards: Cards,
    status: Status,
    runs: u64,
) -> Option<(usize, usize, Option<f64>)> {
    let BudgetChoice { config, val_fraction, test_fraction, .. } = budget.choice().ok()?;
    let methods = cards.planned().ok()?;
    let fractions = held_out_fractions(Some(val_fraction), test_fraction).ok()?;
    let train_examples = data.train_size(&fractions)?;
    let seeds = (0..runs).collect();
    let plan = ComparePlan { methods, seeds, config, search: SearchSettings::default() };
    let steps = plan.total_steps(train_examples);
    let backend = status.backend.get()?;
    let timed = backend.timings.iter().find(|t| backend.kind.starts_with(&t.backend)).and_then(|t| t.seconds_per_step);
    let seconds = timed.map(|timed| {
        // A random batch pads to about its longest text; a batch grouped by length to about the typical one.
        let length = data.summary.with(|s| match s {
            Some(Ok(s)) if plan.config.group_by_length => s.token_length_p50.min(plan.config.max_length),
            Some(Ok(s)) => s.token_length_p90.min(plan.config.max_length),
            _ => plan.config.max_length,
        });
        let per_step = timed * (plan.config.batch_size * length) as f64 / (16 * 64) as f64;
        let workers = if backend.gpu { 1 } else { parallel_workers().min(plan.methods.len() * runs as usize).max(1) };
        steps as f64 * per_step / workers as f64
    });
    Some((plan.methods.len(), steps, seconds))
}

/// The memory the most demanding ticked method needs at this batch and length (the engine's estimate, checked
/// again when Compare is pressed).
fn memory_note(budget: Budget, cards: Cards, status: Status) -> String {
    let ModelState::Ready(model) = status.model.get() else { return String::new() };
    let (Ok(choice), Ok(methods)) = (budget.choice(), cards.planned()) else { return String::new() };
    let (batch, length) = (choice.config.batch_size, choice.config.max_length);
    let most =
        methods.iter().map(|m| MemoryEstimate::new(&model.shape, &m.config, batch, length)).max_by_key(|e| e.total());
    most.map_or(String::new(), |e| {
        format!(" A run needs about {} of memory, {} of it activations.", mib(e.total()), mib(e.activations))
    })
}

/// The budget's fields, and the plan's size and time (with why the runs per method were set to one when three would
/// not fit). Three runs per method are chosen where the estimate says they fit, unless the person chose.
#[component]
pub fn BudgetFields() -> impl IntoView {
    let budget = expect_context::<Budget>();
    let (data, cards, status) = (expect_context::<Data>(), expect_context::<Cards>(), expect_context::<Status>());
    let size = move |runs| plan_size(budget, data, cards, status, runs);
    Effect::new(move |_| {
        if budget.runs_chosen.get() {
            return;
        }
        let three = size(3).and_then(|(.., seconds)| seconds);
        let runs = if three.is_some_and(|s| s <= DEFAULT_RUNS_SECONDS) { "3" } else { "1" };
        if budget.runs.get_untracked() != runs {
            budget.runs.set(runs.into());
        }
    });
    let estimate = move || {
        let runs: u64 = budget.runs.get().trim().parse().unwrap_or(1);
        let (methods, steps, seconds) = size(runs)?;
        let time = match seconds {
            Some(s) => format!(", roughly {} from the step timed when the model loaded", duration(s)),
            None => ", timed once the first steps ran".into(),
        };
        let note = if runs == 1 && !budget.runs_chosen.get() {
            match size(3).and_then(|(.., s)| s) {
                Some(three) => format!(
                    " One run per method, because three would take about {}: one run says little on small data, \
                     raise the runs when you can wait.",
                    duration(three)
                ),
                None => " One run per method, because the time of three is not known before the first steps (the \
                         backend was not timed when the model loaded): one run says little on small data, raise the \
                         runs when you can wait."
                    .into(),
            }
        } else {
            String::new()
        };
        let memory = memory_note(budget, cards, status);
        Some(format!(
            "Plan: {methods} method(s) × {runs} run(s), {} optimiser steps{time}.{note}{memory}",
            format_count(steps)
        ))
    };
    let number = move |id: &'static str, field: RwSignal<String>| {
        view! { <input id=id type="number" class="short" prop:value=move || field.get() on:input=move |ev| field.set(event_target_value(&ev)) /> }
    };
    view! {
        <div class="budget">
            <label><select id="budget-kind" on:change=move |ev| budget.by_steps.set(event_target_value(&ev) == "steps")>
                <option value="epochs" selected=move || !budget.by_steps.get()>"epochs"</option>
                <option value="steps" selected=move || budget.by_steps.get()>"steps"</option>
            </select> {number("budget", budget.amount)}</label>
            <label>"batch size " {number("batch-size", budget.batch_size)}</label>
            <label>"max length " {number("max-length", budget.max_length)}</label>
            <label title="Each batch holds texts of similar lengths, so it pads less and its step is shorter (transformers' group_by_length); the batches still come in a random order. Off: random batches.">
                <input id="group-by-length" type="checkbox" prop:checked=move || budget.group_by_length.get()
                    on:change=move |ev| budget.group_by_length.set(event_target_checked(&ev)) />" group batches by length"</label>
            <label>"seed " {number("seed", budget.seed)}</label>
            <label>"runs per method " <input id="runs" type="number" min="1" max="20" class="short"
                prop:value=move || budget.runs.get()
                on:input=move |ev| { budget.runs_chosen.set(true); budget.runs.set(event_target_value(&ev)); } /></label>
            <label>"test " <input id="test-percent" type="number" min="0" max="90" step="5" class="short"
                prop:value=move || budget.test_percent.get() on:input=move |ev| budget.test_percent.set(event_target_value(&ev)) />" %"</label>
        </div>
        <p class="muted">"Every method gets the same split, seeds, batch orders and budget: run k of every method uses seed + k (its head initialisation, batch order and dropout). AdamW with weight decay 0.01, 6% warm-up then linear decay, gradients clipped at 1. Learning rates are chosen on validation; the table reports the test part (test 0 %: validation figures)."</p>
        <p id="plan-estimate" class="hint">{estimate}</p>
    }
}
