//! The shown comparison's report: a row per method over its runs (size, speed, accuracy as mean ± std with its
//! interval and the mark against the best), what the marks mean, runs at chance and failures, the downloads, its link
//! (plan, every run's figures and curves, no tensors) and the confusion matrices.

use leptos::prelude::*;

use super::compare::Comparison;
use super::exports;
use super::format::format_count;
use super::notices::Notices;
use super::page_address;
use crate::session::compare::{ComparePlan, MethodRuns, SeedRun, Unit};
use crate::session::comparison_link::{COMPARE_KEY, ComparisonSource, encode_comparison};
use crate::session::report::{AT_CHANCE, NOT_DISTINGUISHABLE, Part, Report, Verdict, interval, percent};
use crate::session::results::results_csv;
use crate::web::store::StoredRun;

/// The comparison the results show (the running one, else the most recent stored): its plan where known, its stored
/// runs, and per method what the engine's report reads.
#[derive(Clone)]
pub struct Shown {
    pub plan: Option<ComparePlan>,
    /// The stored runs (none for a comparison opened from a link, which is read-only).
    pub stored: Vec<StoredRun>,
    pub methods: Vec<(usize, MethodRuns)>,
    /// The dataset's labels, for the confusion matrices.
    pub labels: Vec<String>,
}

/// The comparison the results show, from the running one and the stored runs (tracked).
pub fn shown(comparison: Comparison) -> Option<Shown> {
    let running = comparison.running.get();
    let runs = comparison.results.runs.get();
    let id = running.as_ref().map(|r| r.comparison).or_else(|| runs.iter().map(|r| r.comparison).max())?;
    let mut stored: Vec<StoredRun> = runs.into_iter().filter(|r| r.comparison == id).collect();
    stored.sort_by_key(|r| (r.index, r.result.seed));
    let plan = running.map(|r| r.plan).or_else(|| stored.iter().find_map(|r| r.plan.clone()));
    // Failed units and searches are known for the comparison started on this page.
    let ours = comparison.last_started.get() == Some(id);
    let failures = if ours { comparison.failures.get() } else { Vec::new() };
    let searches = if ours { comparison.searches.get() } else { Vec::new() };
    let count = match &plan {
        Some(plan) => plan.methods.len(),
        None => stored.iter().map(|r| r.index + 1).max().unwrap_or(0),
    };
    let methods = (0..count)
        .filter_map(|i| {
            let mine: Vec<&StoredRun> = stored.iter().filter(|r| r.index == i).collect();
            let planned = plan.as_ref().map(|p| &p.methods[i]);
            let config = planned.map(|p| p.config.clone()).or_else(|| mine.first().map(|r| r.result.config.clone()))?;
            let searched = mine.iter().find_map(|r| r.search.clone());
            let searched = searched.or_else(|| searches.iter().find(|(m, _)| *m == i).map(|(_, o)| o.clone()));
            let search_failed =
                failures.iter().find(|(u, ..)| *u == Unit::Search { method: i }).map(|(.., e)| e.clone());
            let search = searched.map(Ok).or(search_failed.map(Err));
            let learning_rate = mine
                .first()
                .map(|r| r.result.learning_rate)
                .or(search.as_ref().and_then(|s| s.as_ref().ok()).map(|s| s.chosen))
                .or(planned.map(|p| p.learning_rate))?;
            let mut seed_runs: Vec<SeedRun> =
                mine.iter().map(|r| SeedRun { seed: r.result.seed, result: Ok(r.result.clone()) }).collect();
            seed_runs.extend(failures.iter().filter_map(|(u, _, e)| match *u {
                Unit::Run { method, seed } if method == i => Some(SeedRun { seed, result: Err(e.clone()) }),
                _ => None,
            }));
            seed_runs.sort_by_key(|r| r.seed);
            // A method with nothing finished yet is not in the table.
            (!seed_runs.is_empty() || search.as_ref().is_some_and(Result::is_err))
                .then(|| (i, MethodRuns { method: config, learning_rate, search, runs: seed_runs }))
        })
        .collect();
    let labels = stored
        .first()
        .and_then(|r| serde_json::from_str::<crate::share::peft::RunInfo>(&r.adapter.run_info_json).ok())
        .map(|info| info.labels)
        .unwrap_or_default();
    Some(Shown { plan, stored, methods, labels })
}

/// The report's table and notes; a comparison stored on this page also gets its downloads and its link.
#[component]
pub fn SummaryTable(shown: Shown) -> impl IntoView {
    if shown.methods.is_empty() {
        return None;
    }
    let notices = expect_context::<Notices>();
    let methods: Vec<MethodRuns> = shown.methods.iter().map(|(_, m)| m.clone()).collect();
    let report = Report::new(&methods);
    let part = report.part;
    let rows = report.methods.iter().zip(&methods).map(|(m, runs)| summary_row(m, runs)).collect_view();
    let notes = report
        .methods
        .iter()
        .flat_map(|m| {
            let chance = m.at_chance.iter().map(|c| {
                format!(
                    "{}, seed {}: stayed at chance ({:.1} % accuracy; the most frequent class is {:.1} %)",
                    m.method,
                    c.seed,
                    100.0 * c.accuracy,
                    100.0 * c.majority_share
                )
            });
            let failed = m.failed.iter().map(|(seed, e)| match seed {
                Some(seed) => format!("{}, seed {seed}: failed: {e}", m.method),
                None => format!("{}: {e}", m.method),
            });
            chance.chain(failed).collect::<Vec<_>>()
        })
        .map(|line| view! { <li>{line}</li> })
        .collect_view();
    let caption = match part {
        Part::Test => "Accuracy on the test part, which no choice looked at.",
        Part::Validation => {
            "No test part: these are validation figures, the same data the learning rates were chosen on."
        }
    };
    // Runs stored on this page can be downloaded and shared; a comparison opened from a link is read-only.
    let downloadable = shown.plan.clone().filter(|_| !shown.stored.is_empty());
    let downloads = downloadable.map(|plan| {
        let (methods_json, report_json, stored) = (methods.clone(), report.clone(), shown.stored.clone());
        let (methods_csv, report_csv) = (methods.clone(), report.clone());
        let json = move |_| {
            let text = exports::results_json(&plan, &methods_json, &report_json, &stored);
            exports::download_text("peft-lab-results.json", &text, notices);
        };
        let csv =
            move |_| exports::download_text("peft-lab-results.csv", &results_csv(&methods_csv, &report_csv), notices);
        view! {
            <div class="actions">
                <button id="download-json" on:click=json>"Download results (JSON)"</button>
                <button id="download-csv" on:click=csv>"Download results (CSV)"</button>
                <ShareComparisonButton />
            </div>
            <MadeLink />
        }
    });
    let confusions = confusion_view(&report, &shown.labels);
    Some(view! {
        <div class="table-wrap">
            <table id="summary-table" data-part=part.name()>
                <caption>{caption}</caption>
                <thead><tr>
                    <th>"method"</th><th>"learning rate"</th><th>"trainable"</th><th>"adapter bytes"</th>
                    <th>"ms/step"</th><th>"runs that learnt"</th>
                    <th>{format!("{} accuracy % (mean ± std)", part.name())}</th><th>"95 % interval"</th>
                    <th>"macro-F1"</th><th>"vs best"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <p id="marks-note" class="muted">{NOT_DISTINGUISHABLE} " “-x [a, b]”: the best is x points better, [a, b] the 95 % interval of that gap; “?”: fewer than two seeds where both learnt. A run is " {AT_CHANCE} " *: learning rate chosen by the search."</p>
        <ul id="run-notes">{notes}</ul>
        {downloads}
        {confusions}
    })
}

fn summary_row(m: &crate::session::report::MethodSummary, runs: &MethodRuns) -> impl IntoView + use<> {
    let learnt = m.accuracy.map_or(0, |a| a.n);
    let runs_cell = format!("{learnt}/{}", runs.runs.len());
    let verdict = match &m.verdict {
        Verdict::Best => "best",
        Verdict::NotDistinguishable { .. } => "tied",
        Verdict::Worse { .. } => "worse",
        Verdict::TooFewRuns => "unknown",
    };
    let f1 = m.macro_f1.map_or("n/a".into(), |s| {
        if s.n > 1 { format!("{:.3} ± {:.3}", s.mean, s.std) } else { format!("{:.3}", s.mean) }
    });
    view! {
        <tr class="summary-row" data-method=m.method.clone() data-verdict=verdict>
            <td class="method">{m.method.clone()}</td>
            <td class="num" data-col="lr" title=if m.searched { "chosen by the search on validation" } else { "" }>
                {format!("{:.1e}{}", m.learning_rate, if m.searched { "*" } else { "" })}</td>
            <td class="num">{m.trainable_params.map(format_count)}</td>
            <td class="num">{m.adapter_bytes.map(format_count)}</td>
            <td class="num">{m.seconds_per_step.map(|s| format!("{:.0}", s * 1000.0))}</td>
            <td class="num" data-col="runs">{runs_cell}{(!m.at_chance.is_empty()).then_some(" (at chance: see below)")}</td>
            <td class="num" data-col="accuracy-mean">{percent(m.accuracy.as_ref())}</td>
            <td class="num" data-col="interval">{interval(m.accuracy.as_ref())}</td>
            <td class="num" data-col="macro-f1-mean">{f1}</td>
            <td data-col="mark">{m.verdict.mark()}</td>
        </tr>
    }
}

/// Each method's confusion matrix on the reported part, averaged over its runs (classes named from the runs' files;
/// only up to 20 classes).
fn confusion_view(report: &Report, labels: &[String]) -> impl IntoView + use<> {
    let labels = labels.to_vec();
    let shown = !labels.is_empty() && labels.len() <= 20;
    let tables = report
        .methods
        .iter()
        .filter(|m| shown && m.confusion.len() == labels.len())
        .map(|m| {
            let head = labels.iter().map(|l| view! { <th>{l.clone()}</th> }).collect_view();
            let rows = m
                .confusion
                .iter()
                .zip(&labels)
                .map(|(row, label)| {
                    let cells = row.iter().map(|c| view! { <td class="num">{format!("{c:.1}")}</td> }).collect_view();
                    view! { <tr><th>{label.clone()}</th>{cells}</tr> }
                })
                .collect_view();
            view! {
                <table class="confusion" data-method=m.method.clone()>
                    <caption>{m.method.clone()}</caption>
                    <thead><tr><th>"true \\ predicted"</th>{head}</tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }
        })
        .collect_view();
    view! {
        <details id="confusion">
            <summary>"Confusion matrices (true label by row, mean over each method's runs)"</summary>
            <div class="confusions">{tables}</div>
        </details>
    }
}

/// The link of the comparison the results show.
fn share_comparison(comparison: Comparison) {
    let made = (|| {
        let shown = shown(comparison).ok_or("there is no comparison to share")?;
        let plan = shown.plan.clone().ok_or("this comparison was stored before plans were: run it again")?;
        let first = shown.stored.first().ok_or("no run of this comparison has finished")?;
        let source = ComparisonSource {
            model: first.model.clone(),
            dataset: first.dataset.clone(),
            val_fraction: first.val_fraction.unwrap_or(0.2),
            test_fraction: first.test_fraction,
            labels: shown.labels.clone(),
        };
        // Every method of the plan, those with nothing finished as empty runs.
        let methods = (0..plan.methods.len())
            .map(|i| {
                shown.methods.iter().find(|(m, _)| *m == i).map(|(_, runs)| runs.clone()).unwrap_or_else(|| {
                    MethodRuns {
                        method: plan.methods[i].config.clone(),
                        learning_rate: plan.methods[i].learning_rate,
                        search: None,
                        runs: Vec::new(),
                    }
                })
            })
            .collect::<Vec<_>>();
        let payload = encode_comparison(&source, &plan, &methods).map_err(|e| e.to_string())?;
        Ok::<_, String>(format!("{}#{COMPARE_KEY}{payload}", page_address()))
    })();
    comparison.made_link.set(Some(made));
}

/// "Share this comparison", beside the downloads.
#[component]
pub fn ShareComparisonButton() -> impl IntoView {
    let comparison = expect_context::<Comparison>();
    view! { <button id="share-comparison" on:click=move |_| share_comparison(comparison)>"Share this comparison"</button> }
}

/// The comparison link just made, with its length, or why there is none.
#[component]
pub fn MadeLink() -> impl IntoView {
    let comparison = expect_context::<Comparison>();
    move || {
        comparison.made_link.get().map(|made| match made {
            Ok(link) => {
                let length = format!(
                    "{} characters: the settings, every run's figures and curves, no trained weights (share each run for those).",
                    format_count(link.len())
                );
                view! {
                    <div id="comparison-link-box">
                        <input id="comparison-link" type="text" readonly size="60" prop:value=link.clone() />
                        <p class="muted" id="comparison-link-length" data-chars=link.len()>{length}</p>
                    </div>
                }
                .into_any()
            }
            Err(e) => view! { <p id="comparison-link-error" class="error">{e}</p> }.into_any(),
        })
    }
}
