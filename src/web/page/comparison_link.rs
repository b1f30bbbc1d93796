//! Comparison links: the shown comparison (plan, every run's figures and curves, no tensors) as a link; and a link
//! opened from the page's address, shown read-only as the same table and plots, with "Run this comparison on my
//! data", which sets the cards and the budget from its plan.

use leptos::prelude::*;

use super::sharing::{page_address, scroll_to};
use super::{App, Shown, charts_view, format_count, shown_comparison, summary_view};
use crate::session::MethodRuns;
use crate::session::comparison_link::{
    COMPARE_KEY, ComparisonSource, OpenedComparison, decode_comparison, encode_comparison,
};

impl App {
    /// A comparison link in the address (`#compare=…`) is opened as the page starts.
    pub(super) fn comparison_from_location(&self) {
        let hash = web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default();
        if hash.contains(COMPARE_KEY) {
            self.opened_comparison.set(Some(decode_comparison(&hash).map_err(|e| e.to_string())));
        }
    }

    /// The link of the comparison the results show.
    fn share_comparison(&self) {
        let made = (|| {
            let shown = shown_comparison(*self).ok_or("there is no comparison to share")?;
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
        self.comparison_link.set(Some(made));
    }

    /// The cards and the budget as the opened comparison's plan has them; the person drops their data and compares.
    fn run_shared_comparison(&self, opened: &OpenedComparison) {
        let plan = &opened.plan;
        let mut set = Vec::new();
        for card in self.cards.get_value() {
            let planned = plan.methods.iter().find(|m| m.config.key() == card.key);
            card.enabled.set(planned.is_some());
            if let Some(planned) = planned {
                card.settings.set(serde_json::to_value(&planned.config).expect("plain data serialises"));
                card.learning_rate.set(format!("{:e}", planned.learning_rate));
                card.search.set(planned.search);
                card.error.set(None);
                set.push(planned.config.label());
            }
        }
        let train = &plan.config;
        let budget = self.budget;
        budget.by_steps.set(train.max_steps.is_some());
        budget.amount.set(train.max_steps.unwrap_or(train.epochs).to_string());
        budget.batch_size.set(train.batch_size.to_string());
        budget.max_length.set(train.max_length.to_string());
        let first_seed = plan.seeds.iter().min().copied().unwrap_or(train.seed);
        budget.seed.set(first_seed.to_string());
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
        self.notice(format!(
            "The shared comparison's settings are set: {}{also}, its budget and {} run(s) per method from seed {first_seed}. Drop your data and press Compare.",
            set.join(", "),
            plan.seeds.len()
        ));
        scroll_to("data-section");
    }
}

/// "Share this comparison", beside the downloads.
pub(super) fn share_button(app: App) -> impl IntoView {
    view! { <button id="share-comparison" on:click=move |_| app.share_comparison()>"Share this comparison"</button> }
}

/// The comparison link just made, with its length, or why there is none.
pub(super) fn made_link_view(app: App) -> impl IntoView {
    move || {
        app.comparison_link.get().map(|made| match made {
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
pub(super) fn shared_comparison_view(app: App) -> impl IntoView {
    move || {
        let opened = app.opened_comparison.get()?;
        let body = match opened {
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
                let charts = charts_view(&shown, &Vec::new());
                let table = summary_view(app, shown);
                let rerun = opened.clone();
                view! {
                    <p id="shared-comparison-about">{about}</p>
                    {table}
                    {charts}
                    <button id="run-shared-comparison" class="primary" on:click=move |_| app.run_shared_comparison(&rerun)>
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
