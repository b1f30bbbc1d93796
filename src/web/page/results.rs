//! Every stored run: kept in the browser (IndexedDB, shared by the page's tabs), a sortable table with each run's
//! share and export buttons, and the shown comparison's report and charts above it.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::compare::Comparison;
use super::curves::Charts;
use super::format::{format_count, mib, optional};
use super::notices::Notices;
use super::report::{SummaryTable, shown};
use super::share::RunActions;
use crate::session::report::{AT_CHANCE, at_chance};
use crate::web::store::{self, StoredRun};

#[derive(Debug, Clone, Copy, PartialEq)]
enum SortKey {
    Run,
    Method,
    Trainable,
    Percent,
    AdapterBytes,
    MsPerStep,
    Memory,
    ValLoss,
    Accuracy,
    MacroF1,
}

#[derive(Clone, Copy)]
pub struct Results {
    pub runs: RwSignal<Vec<StoredRun>>,
    sort: RwSignal<(SortKey, bool)>,
    notices: Notices,
}

impl Results {
    pub fn new(notices: Notices) -> Self {
        Self { runs: RwSignal::new(Vec::new()), sort: RwSignal::new((SortKey::Run, true)), notices }
    }

    /// Reads the stored runs, now and whenever another tab of the page stores or clears some.
    pub async fn load(&self) {
        match store::load().await {
            Ok(runs) => self.runs.set(runs),
            Err(e) => self.notices.push(format!("earlier runs could not be read from the browser's storage: {e}")),
        }
        let this = *self;
        store::watch_other_tabs(move || {
            spawn_local(async move {
                match store::load().await {
                    Ok(runs) => this.runs.set(runs),
                    Err(e) => this.notices.push(format!("another tab's runs could not be read: {e}")),
                }
            })
        });
    }

    /// How many runs of `comparison` are stored.
    pub fn stored_of(&self, comparison: u64) -> usize {
        self.runs.with_untracked(|runs| runs.iter().filter(|r| r.comparison == comparison).count())
    }

    /// Shows a stored run; a resumed comparison finishes its finished runs again (from their last checkpoints):
    /// one row each.
    pub fn add(&self, run: StoredRun) {
        let key = (run.comparison, run.index, run.result.seed);
        self.runs.update(|runs| {
            runs.retain(|r| (r.comparison, r.index, r.result.seed) != key);
            runs.push(run);
        });
    }

    /// Asks first, then removes every stored run from the browser, in every tab.
    fn clear(&self, comparison: Comparison) {
        let (runs, comparisons) = self.runs.with_untracked(|runs| {
            let mut ids: Vec<u64> = runs.iter().map(|r| r.comparison).collect();
            ids.sort_unstable();
            ids.dedup();
            (runs.len(), ids.len())
        });
        let question = format!(
            "Remove the {runs} stored run(s) of {comparisons} comparison(s) from this browser, in every tab of this \
             page? Files you downloaded are not touched."
        );
        let window = web_sys::window().expect("the page has a window");
        if !window.confirm_with_message(&question).unwrap_or(false) {
            return;
        }
        let this = *self;
        spawn_local(async move {
            match store::clear().await {
                Ok(()) => {
                    store::announce_change();
                    this.runs.set(Vec::new());
                    comparison.live.set(Vec::new());
                }
                Err(e) => this.notices.push(format!("the stored runs could not be cleared: {e}")),
            }
        });
    }
}

#[component]
pub fn ResultsSection() -> impl IntoView {
    let results = expect_context::<Results>();
    let comparison = expect_context::<Comparison>();
    let header = move |key: SortKey, title: &'static str| {
        let arrow = move || match results.sort.get() {
            (k, true) if k == key => " ▲",
            (k, false) if k == key => " ▼",
            _ => "",
        };
        view! {
            <th class="sortable" on:click=move |_| results.sort.update(|s| *s = if s.0 == key { (key, !s.1) } else { (key, true) })>
                {title}{arrow}
            </th>
        }
    };
    let summary = move || shown(comparison).map(|shown| view! { <SummaryTable shown /> });
    let charts = move || shown(comparison).map(|shown| view! { <Charts shown live=comparison.live.get() /> });
    view! {
        <section id="results-section">
            <h2>"4. Results"</h2>
            {summary}
            {charts}
            <h3>"Every run"</h3>
            <div class="table-wrap">
                <table id="results">
                    <thead><tr>
                        {header(SortKey::Run, "run")}
                        {header(SortKey::Method, "method")}
                        <th>"seed"</th>
                        {header(SortKey::Trainable, "trainable")}
                        {header(SortKey::Percent, "% of model")}
                        {header(SortKey::AdapterBytes, "adapter bytes")}
                        {header(SortKey::MsPerStep, "ms/step")}
                        {header(SortKey::Memory, "peak GPU memory")}
                        {header(SortKey::ValLoss, "val loss")}
                        {header(SortKey::Accuracy, "val accuracy %")}
                        {header(SortKey::MacroF1, "val macro-F1")}
                        <th>"test accuracy %"</th>
                        <th></th>
                        <th>"share and export"</th>
                    </tr></thead>
                    <tbody>{move || rows(results)}</tbody>
                </table>
            </div>
            <p class="muted">"Peak GPU memory is what burn's allocator reserved on WebGPU; browsers do not report CPU memory per task, so CPU runs show n/a. Runs are kept in this browser (IndexedDB) until cleared."</p>
            <button id="clear" on:click=move |_| results.clear(comparison) disabled=move || comparison.is_running()>"Clear stored runs"</button>
        </section>
    }
}

/// The table's rows, in the chosen order (missing values last either way).
fn rows(results: Results) -> impl IntoView {
    let mut runs = results.runs.get();
    let comparisons: Vec<u64> = {
        let mut ids: Vec<u64> = runs.iter().map(|r| r.comparison).collect();
        ids.dedup();
        ids
    };
    let (key, ascending) = results.sort.get();
    runs.sort_by(|a, b| {
        let order = match key {
            SortKey::Run => (a.comparison, a.index, a.result.seed).cmp(&(b.comparison, b.index, b.result.seed)),
            SortKey::Method => a.result.method.cmp(&b.result.method),
            _ => {
                let (x, y) = (sort_value(a, key), sort_value(b, key));
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => return std::cmp::Ordering::Greater,
                    (false, true) => return std::cmp::Ordering::Less,
                    _ => x.total_cmp(&y),
                }
            }
        };
        if ascending { order } else { order.reverse() }
    });
    runs.into_iter()
        .map(|run| {
            let r = &run.result;
            let number = comparisons.iter().position(|&c| c == run.comparison).map_or(0, |i| i + 1);
            let memory = r.peak_memory_bytes.map_or("n/a".to_string(), mib);
            view! {
                <tr class="result-row" class:at-chance=at_chance(r).is_some() data-method=r.method.clone() data-seed=r.seed data-loss-start=loss_mean(&r.losses, true)
                    data-loss-end=loss_mean(&r.losses, false)>
                    <td title=format!("{} on {} · {} · {}", run.model, run.dataset, run.backend, run.config.batch_size)>{format!("#{number}")}</td>
                    <td class="method">{r.method.clone()}</td>
                    <td class="num" data-col="seed">{r.seed}</td>
                    <td class="num" data-col="trainable">{format_count(r.trainable_params)}</td>
                    <td class="num">{format!("{:.3}", r.trainable_percent)}</td>
                    <td class="num" data-col="adapter-bytes">{format_count(r.adapter_bytes)}</td>
                    <td class="num" data-col="ms-per-step">{format!("{:.0}", r.seconds_per_step * 1000.0)}</td>
                    <td class="num" data-col="memory">{memory}</td>
                    <td class="num" data-col="val-loss">{optional(r.val_loss, 1.0, 4)}</td>
                    <td class="num" data-col="accuracy">{optional(r.accuracy, 100.0, 1)}</td>
                    <td class="num" data-col="macro-f1">{optional(r.macro_f1, 1.0, 3)}</td>
                    <td class="num" data-col="test-accuracy">{optional(r.test.as_ref().map(|t| t.accuracy), 100.0, 1)}</td>
                    <td class="chance" title=AT_CHANCE>{at_chance(r).map(|_| "at chance")}</td>
                    <RunActions run=run.clone() />
                </tr>
            }
        })
        .collect_view()
}

/// Mean training loss of the first (or last) quarter of the steps, for tests and tooltips.
fn loss_mean(losses: &[f32], start: bool) -> String {
    let n = (losses.len() / 4).max(1).min(losses.len());
    let part = if start { &losses[..n] } else { &losses[losses.len() - n..] };
    format!("{:.5}", part.iter().map(|&l| l as f64).sum::<f64>() / n.max(1) as f64)
}

fn sort_value(run: &StoredRun, key: SortKey) -> f64 {
    let r = &run.result;
    let v = match key {
        SortKey::Run | SortKey::Method => return 0.0,
        SortKey::Trainable => Some(r.trainable_params as f64),
        SortKey::Percent => Some(r.trainable_percent),
        SortKey::AdapterBytes => Some(r.adapter_bytes as f64),
        SortKey::MsPerStep => Some(r.seconds_per_step),
        SortKey::Memory => r.peak_memory_bytes.map(|b| b as f64),
        SortKey::ValLoss => r.val_loss,
        SortKey::Accuracy => r.accuracy,
        SortKey::MacroF1 => r.macro_f1,
    };
    v.filter(|v| v.is_finite()).unwrap_or(f64::NAN)
}
