//! A card per method: on or off, its learning rate (typed or searched), its settings as peft-style fields.

use leptos::prelude::*;

use crate::method::{Explanation, MethodConfig, apply_setting, catalog};
use crate::session::compare::PlannedMethod;
use crate::web::diagram::method_diagram;

/// One method's card.
#[derive(Clone, Copy)]
pub struct Card {
    pub key: &'static str,
    title: &'static str,
    description: &'static str,
    explanation: Explanation,
    pub enabled: RwSignal<bool>,
    pub learning_rate: RwSignal<String>,
    /// Search the learning rate on validation around the typed one.
    pub search: RwSignal<bool>,
    pub settings: RwSignal<serde_json::Value>,
    pub error: RwSignal<Option<String>>,
}

impl Card {
    pub fn method(&self) -> Result<PlannedMethod, String> {
        let config: MethodConfig = serde_json::from_value(self.settings.get_untracked())
            .map_err(|e| format!("{}: invalid settings ({e})", self.title))?;
        let learning_rate = self
            .learning_rate
            .get_untracked()
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|lr| lr.is_finite() && *lr > 0.0)
            .ok_or_else(|| format!("{}: the learning rate must be a positive number", self.title))?;
        Ok(PlannedMethod { config, learning_rate, search: self.search.get_untracked() })
    }

    /// The card as `config` and `learning_rate` have it (a link's or a shared comparison's settings).
    pub fn set(&self, config: &MethodConfig, learning_rate: f64, search: bool) {
        self.settings.set(serde_json::to_value(config).expect("plain data serialises"));
        self.learning_rate.set(format!("{learning_rate:e}"));
        self.search.set(search);
        self.error.set(None);
    }
}

/// Every method of the catalogue, LoRA, prefix tuning and the head-only baseline ticked.
#[derive(Clone, Copy)]
pub struct Cards(StoredValue<Vec<Card>>);

impl Cards {
    pub fn new() -> Self {
        let cards = catalog()
            .into_iter()
            .map(|entry| Card {
                key: entry.key,
                title: entry.title,
                description: entry.description,
                explanation: entry.explanation,
                enabled: RwSignal::new(matches!(entry.key, "lora" | "prefix" | "head")),
                learning_rate: RwSignal::new(format!("{:e}", entry.config.default_learning_rate())),
                search: RwSignal::new(false),
                settings: RwSignal::new(serde_json::to_value(&entry.config).expect("plain data serialises")),
                error: RwSignal::new(None),
            })
            .collect();
        Self(StoredValue::new(cards))
    }

    pub fn all(&self) -> Vec<Card> {
        self.0.get_value()
    }

    /// The ticked methods as planned, or the first card's error. Tracks which are ticked and searched.
    pub fn planned(&self) -> Result<Vec<PlannedMethod>, String> {
        self.all()
            .iter()
            .filter(|c| {
                c.search.track();
                c.enabled.get()
            })
            .map(Card::method)
            .collect()
    }
}

#[component]
pub fn MethodsSection() -> impl IntoView {
    let cards = expect_context::<Cards>().all().into_iter().map(|card| view! { <MethodCard card /> }).collect_view();
    view! {
        <section id="methods-section">
            <h2>"2. Methods"</h2>
            <div class="cards">{cards}</div>
        </section>
    }
}

/// A card's settings fields come from its configuration's JSON, so a new method needs no page code.
#[component]
fn MethodCard(card: Card) -> impl IntoView {
    let fields = card
        .settings
        .get_untracked()
        .as_object()
        .map(|o| o.iter().filter(|(k, _)| *k != "method").map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|(key, default)| view! { <SettingField card key default /> })
        .collect_view();
    view! {
        <article class="card" id=format!("method-{}", card.key) class:off=move || !card.enabled.get()>
            <label class="card-title"><input type="checkbox" class="enable" prop:checked=move || card.enabled.get()
                on:change=move |ev| card.enabled.set(event_target_checked(&ev)) /> {card.title}</label>
            <p class="muted">{card.description}</p>
            <details class="explain">
                <summary>"How it works"</summary>
                <div class="explain-body">
                    {method_diagram(card.explanation.sites)}
                    <p>{card.explanation.principle}</p>
                    <p><b>"Frozen: "</b>{card.explanation.frozen}</p>
                    <p><b>"At inference: "</b>{card.explanation.inference}</p>
                </div>
            </details>
            <label class="field">"learning rate" <input type="text" class="lr" prop:value=move || card.learning_rate.get()
                on:input=move |ev| card.learning_rate.set(event_target_value(&ev)) /></label>
            <label class="field" title="Tries 1/3, 1 and 3 times this rate on the validation part (successive halving on a short budget), then trains every run with the best">
                <input type="checkbox" class="search" prop:checked=move || card.search.get()
                    on:change=move |ev| card.search.set(event_target_checked(&ev)) />"search the learning rate"</label>
            {fields}
            <Show when=move || card.error.get().is_some()><p class="error">{move || card.error.get()}</p></Show>
        </article>
    }
}

/// One setting of a card, a check box or a text field (lists as "a, b").
#[component]
fn SettingField(card: Card, key: String, default: serde_json::Value) -> impl IntoView {
    use serde_json::Value;
    let label = key.replace('_', " ");
    let read_key = key.clone();
    let current = move || card.settings.with(|s| s.get(&read_key).cloned().unwrap_or(Value::Null));
    let set = move |key: &str, typed: &str| {
        let mut result = Ok(());
        card.settings.update(|s| result = apply_setting(s, key, typed).map(|_| ()));
        card.error.set(result.err().map(|e| format!("{}: {e}", key.replace('_', " "))));
    };
    if let Value::Bool(_) = default {
        return view! {
            <label class="field"><input type="checkbox" prop:checked=move || current().as_bool().unwrap_or(false)
                on:change=move |ev| set(&key, &event_target_checked(&ev).to_string()) />{label}</label>
        }
        .into_any();
    }
    let shown = move || match current() {
        Value::Null => String::new(),
        Value::String(s) => s,
        Value::Array(items) => {
            items.iter().map(|i| i.as_str().map(str::to_string).unwrap_or(i.to_string())).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    };
    view! {
        <label class="field">{label} " "
            <input type="text" data-field=key.clone() prop:value=shown on:change=move |ev| {
                set(&key, &event_target_value(&ev));
            } />
        </label>
    }
    .into_any()
}
