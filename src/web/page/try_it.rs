//! "Try it": the person's own text classified by every method trained since the worker started, and by the runs
//! opened from links or files.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::worker_link::WorkerLink;
use crate::web::protocol::{MethodPrediction, RequestKind, ToWorker};

#[derive(Clone, Copy)]
pub struct TryIt {
    /// The methods the worker holds, by name.
    pub tryable: RwSignal<Vec<String>>,
    text: RwSignal<String>,
    pub predictions: RwSignal<Vec<MethodPrediction>>,
    /// Runs that came from a link or files: a new comparison keeps them.
    kept: StoredValue<Vec<String>>,
    worker: WorkerLink,
}

impl TryIt {
    pub fn new() -> Self {
        Self {
            tryable: RwSignal::new(Vec::new()),
            text: RwSignal::new("The food was great and the staff were friendly.".into()),
            predictions: RwSignal::new(Vec::new()),
            kept: StoredValue::new(Vec::new()),
            worker: expect_context(),
        }
    }

    /// A new worker holds no method (links and imports are applied again once its model is ready).
    pub fn reset(&self) {
        self.tryable.set(Vec::new());
        self.kept.set_value(Vec::new());
        self.predictions.set(Vec::new());
    }

    /// A comparison starts: runs opened from a link or loaded from files stay; the previous comparison's go.
    pub fn new_comparison(&self) {
        self.tryable.set(self.kept.get_value());
        self.predictions.set(Vec::new());
    }

    /// Adds a run opened from a link or files (once), and keeps it for later comparisons.
    pub fn keep(&self, method: &str) {
        self.tryable.update(|t| {
            if !t.iter().any(|m| m == method) {
                t.push(method.to_string());
            }
        });
        self.kept.update_value(|k| {
            if !k.iter().any(|m| m == method) {
                k.push(method.to_string());
            }
        });
    }

    fn classify(&self) {
        let text = self.text.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        let request = self.worker.request(RequestKind::Prediction);
        self.worker.send(&ToWorker::Predict { request, text });
    }
}

#[component]
pub fn TrySection(#[prop(into)] training: Signal<bool>) -> impl IntoView {
    let try_it = expect_context::<TryIt>();
    let predictions = move || {
        try_it
            .predictions
            .get()
            .into_iter()
            .map(|p| {
                let top = p.ranked.first().cloned();
                let others: BTreeMap<String, f64> =
                    p.ranked.iter().skip(1).take(3).map(|l| (l.label.clone(), l.probability)).collect();
                let others =
                    others.into_iter().map(|(l, p)| format!("{l} {:.0}%", p * 100.0)).collect::<Vec<_>>().join(", ");
                view! {
                    <tr class="prediction" data-method=p.method.clone()>
                        <td>{p.method.clone()}</td>
                        <td class="label">{top.as_ref().map(|t| t.label.clone())}</td>
                        <td class="num">{top.map(|t| format!("{:.1}%", t.probability * 100.0))}</td>
                        <td class="muted">{others}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <section id="try-section">
            <h2>"5. Try it"</h2>
            <p class="muted">"Classify your own sentence with every method trained since this page opened."</p>
            <textarea id="try-text" rows="2" prop:value=move || try_it.text.get() on:input=move |ev| try_it.text.set(event_target_value(&ev))
                on:keydown=move |ev: web_sys::KeyboardEvent| if ev.key() == "Enter" && !ev.shift_key() { ev.prevent_default(); try_it.classify(); }></textarea>
            <button id="try" on:click=move |_| try_it.classify()
                disabled=move || try_it.tryable.get().is_empty() || training.get()>"Classify"</button>
            <Show when=move || try_it.tryable.get().is_empty()>
                <p class="muted">"Run a comparison first (runs restored from an earlier visit are listed above but not loaded for prediction)."</p>
            </Show>
            <table id="predictions"><tbody>{predictions}</tbody></table>
        </section>
    }
}
