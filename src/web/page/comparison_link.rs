//! Comparison links: the shown comparison (plan, every run's figures and curves, no tensors) as a link; and a link
//! opened from the page's address, shown read-only as the same table and plots, with "Run this comparison on my
//! data", which sets the cards and the budget from its plan.

use leptos::prelude::*;

use super::budget::Budget;
use super::compare::Comparison;
use super::curves::Charts;
use super::format::format_count;
use super::methods::Cards;
use super::notices::Notices;
use super::report::{Shown, SummaryTable, shown};
use super::{location_hash, page_address, scroll_to};
use crate::session::MethodRuns;
use crate::session::comparison_link::{
    COMPARE_KEY, ComparisonSource, OpenedComparison, decode_comparison, encode_comparison,
};

/// A comparison link opened from the address (`#compare=…`), or why it could not be.
#[derive(Clone, Copy)]
pub struct OpenedLinkComparison {
    opened: RwSignal<Option<Result<OpenedComparison, String>>>,
    cards: Cards,
    budget: Budget,
    notices: Notices,
}

impl OpenedLinkComparison {
    pub fn from_location(cards: Cards, budget: Budget, notices: Notices) -> Self {
        let hash = location_hash();
        let opened = hash.contains(COMPARE_KEY).then(|| decode_comparison(&hash).map_err(|e| e.to_string()));
        Self { opened: RwSignal::new(opened), cards, budget, notices }
    }

    /// The cards and the budget as the opened comparison's plan has them; the person drops their data and compares.
    fn run_on_my_data(&self, opened: &OpenedComparison) {
        let plan = &opened.plan;
        let mut set = Vec::new();
        for card in self.cards.all() {
            let planned = plan.methods.iter().find(|m| m.config.key() == card.key);
            card.enabled.set(planned.is_some());
            if let Some(planned) = planned {
                card.set(&planned.config, planned.learning_rate, planned.search);
                set.push(planned.config.label());
            }
        }
        let budget = self.budget;
        let first_seed = plan.seeds.iter().min().copied().unwrap_or(plan.config.seed);
        budget.set(&plan.config, first_seed);
        budget.runs_chosen.set(true);
        budget.runs.set(plan.seeds.len().to_string());
        budget.val_percent.set(format!("{}", (opened.source.val_fraction * 100.0).round()));
        budget.test_percent.set(format!("{}", (opened.source.test_fraction.unwrap_or(0.0) * 100.0).round()));
        let skipped = plan.methods.len() - set.len();
        let also = if skipped > 0 {
            format!(" ({skipped} more of the same kind: a card holds one setting)")
        } else {
            String::new()
        };
        self.notices.push(format!(
            "The shared comparison's settings are set: {}{also}, its budget and {} run(s) per method from seed {first_seed}. Drop your data and press Compare.",
            set.join(", "),
            plan.seeds.len()
        ));
        scroll_to("data-section");
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

/// A comparison opened from a link: what it ran on, its table and plots, read-only.
#[component]
pub fn SharedComparison() -> impl IntoView {
    let this = expect_context::<OpenedLinkComparison>();
    move || {
        let body = match this.opened.get()? {
            Err(e) => view! { <p id="shared-comparison-error" class="error" role="alert">"This comparison link cannot be opened: " {e}</p> }.into_any(),
            Ok(opened) => {
                let plan = &opened.plan;
                let part = match opened.source.test_fraction {
                    Some(f) => format!("a test part of {:.0} %", f * 100.0),
                    None => "no test part".into(),
                };
                let about = format!(
                    "{} method(s) × {} run(s) on {} with {}: validation {:.0} %, {part}; {} per run, batch {}, max length {}.",
                    plan.methods.len(),
                    plan.seeds.len(),
                    opened.source.dataset,
                    opened.source.model,
                    opened.source.val_fraction * 100.0,
                    match plan.config.max_steps {
                        Some(steps) => format!("{steps} steps"),
                        None => format!("{} epoch(s)", plan.config.epochs),
                    },
                    plan.config.batch_size,
                    plan.config.max_length,
                );
                let shown = Shown {
                    plan: Some(plan.clone()),
                    stored: Vec::new(),
                    methods: opened.methods.iter().cloned().enumerate().collect(),
                    labels: opened.source.labels.clone(),
                };
                let rerun = opened.clone();
                view! {
                    <p id="shared-comparison-about">{about}</p>
                    <SummaryTable shown=shown.clone() />
                    <Charts shown live=Vec::new() />
                    <button id="run-shared-comparison" class="primary" on:click=move |_| this.run_on_my_data(&rerun)>
                        "Run this comparison on my data"</button>
                }
                .into_any()
            }
        };
        Some(view! {
            <section id="shared-comparison">
                <h2>"Shared comparison (read-only)"</h2>
                {body}
            </section>
        })
    }
}
