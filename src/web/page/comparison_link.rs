//! A comparison link opened from the page's address, shown read-only as the report's table and plots, with "Run this
//! comparison on my data", which sets the cards and the budget from its plan. (Links are made beside the report.)

use leptos::prelude::*;

use super::budget::Budget;
use super::curves::Charts;
use super::methods::Cards;
use super::notices::Notices;
use super::report::{Shown, SummaryTable};
use super::{location_hash, scroll_to};
use crate::session::comparison_link::{COMPARE_KEY, OpenedComparison, decode_comparison};

/// A comparison link opened from the address (`#compare=…`), or why it could not be.
#[derive(Clone, Copy)]
pub struct OpenedLinkComparison {
    opened: RwSignal<Option<Result<OpenedComparison, String>>>,
    cards: Cards,
    budget: Budget,
    notices: Notices,
}

impl OpenedLinkComparison {
    pub fn from_location() -> Self {
        let hash = location_hash();
        let opened = hash.contains(COMPARE_KEY).then(|| decode_comparison(&hash).map_err(|e| e.to_string()));
        let opened = RwSignal::new(opened);
        Self { opened, cards: expect_context(), budget: expect_context(), notices: expect_context() }
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
