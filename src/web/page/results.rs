//! The results: the shown comparison's report and charts, then every run in a sortable table with each run's share
//! and export buttons, and the runs the browser's storage refused, offered as one download.

use leptos::prelude::*;

use super::compare::Comparison;
use super::curves::Charts;
use super::exports;
use super::format::{format_count, mib, optional};
use super::report::{SummaryTable, shown};
use super::runs::{Runs, run_key};
use super::share::RunActions;
use crate::session::report::{AT_CHANCE, at_chance};
use crate::web::store::StoredRun;

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

/// The runs the browser's storage refused, offered as one download before they are lost with the page.
#[component]
fn UnsavedRuns() -> impl IntoView {
    let results = expect_context::<Runs>();
    let unsaved = move || {
        let keys = results.unsaved.get();
        results.runs.with(|runs| runs.iter().filter(|r| keys.contains(&run_key(r))).cloned().collect::<Vec<_>>())
    };
    move || {
        let runs = unsaved();
        (!runs.is_empty()).then(|| {
            let count = runs.len();
            view! {
                <div id="unsaved" class="warning" data-runs=count>
                    {format!("{count} run(s) are not stored in this browser (its storage refused them): they are lost when this page closes. ")}
                    <button id="download-unsaved" on:click=move |_| exports::download_runs(&runs, results.notices)>
                        "Download them (figures and adapter files, one zip)"</button>
                </div>
            }
        })
    }
}

#[component]
pub fn ResultsSection() -> impl IntoView {
    let results = expect_context::<Runs>();
    let sort = RwSignal::new((SortKey::Run, true));
    let comparison = expect_context::<Comparison>();
    let header = move |key: SortKey, title: &'static str| {
        let arrow = move || match sort.get() {
            (k, true) if k == key => " ▲",
            (k, false) if k == key => " ▼",
            _ => "",
        };
        view! {
            <th class="sortable" on:click=move |_| sort.update(|s| *s = if s.0 == key { (key, !s.1) } else { (key, true) })>
                {title}{arrow}
            </th>
        }
    };
    let summary = move || shown(comparison).map(|shown| view! { <SummaryTable shown /> });
    let charts = move || shown(comparison).map(|shown| view! { <Charts shown live=comparison.live.get() /> });
    view! {
        <section id="results-section">
            <h2>"4. Results"</h2>
            <UnsavedRuns />
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
                    <tbody>{move || rows(results, sort.get())}</tbody>
                </table>
            </div>
            <p class="muted">"Peak GPU memory is what burn's allocator reserved on WebGPU; browsers do not report CPU memory per task, so CPU runs show n/a. Runs are kept in this browser (IndexedDB) until cleared."</p>
            <button id="clear" on:click=move |_| results.clear(move || comparison.live.set(Vec::new())) disabled=move || comparison.is_running()>"Clear stored runs"</button>
        </section>
    }
}

/// The table's rows, in the chosen order (missing values last either way).
fn rows(results: Runs, (key, ascending): (SortKey, bool)) -> impl IntoView {
    let mut runs = results.runs.get();
    let unsaved = results.unsaved.get();
    let comparisons: Vec<u64> = {
        let mut ids: Vec<u64> = runs.iter().map(|r| r.comparison).collect();
        ids.dedup();
        ids
    };
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
                    <td title=format!("{} on {} · {} · {}", run.model, run.dataset, run.backend, run.config.batch_size)>{format!("#{number}")}
                        {unsaved.contains(&run_key(&run)).then(|| view! { <span class="not-stored" title="the browser's storage refused it: download it">" not stored"</span> })}</td>
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
