//! A link that carries a trained run (`#share=…`, from the address or pasted): decoded in the page at once to show
//! what it holds, rebuilt by the worker once the model is ready (again after a restart), and "train again".

use leptos::prelude::*;

use super::budget::Budget;
use super::format::{format_count, optional, percent};
use super::methods::Cards;
use super::notices::Notices;
use super::status::{ModelFilesPicker, Status};
use super::try_it::TryIt;
use super::worker_link::WorkerLink;
use super::{location_hash, scroll_to};
use crate::share::link::{FRAGMENT_KEY, LinkMeta, Precision, codec};
use crate::web::protocol::{RequestKind, ToWorker};

#[derive(Debug, Clone, PartialEq)]
pub enum LinkState {
    None,
    Opening {
        link: String,
        meta: LinkMeta,
        precision: Precision,
    },
    Opened {
        link: String,
        method: String,
        meta: LinkMeta,
        precision: Precision,
    },
    /// The worker stopped while rebuilding this link's run: it is not opened again by itself (after the restart, or
    /// when the page is reloaded with it in the address), so that one bad link cannot stop the page over and over.
    Stopped {
        link: String,
        meta: LinkMeta,
        precision: Precision,
        error: String,
    },
    /// `link` is kept when another model may fit it (it is tried again when a model loads).
    Failed {
        link: Option<String>,
        meta: Option<(LinkMeta, Precision)>,
        error: String,
    },
}

impl LinkState {
    /// The link with what it holds, while it may still be rebuilt (a stopped link waits for "Open it again").
    fn link_and_meta(self) -> Option<(String, LinkMeta, Precision)> {
        match self {
            Self::Opening { link, meta, precision }
            | Self::Opened { link, meta, precision, .. }
            | Self::Failed { link: Some(link), meta: Some((meta, precision)), .. } => Some((link, meta, precision)),
            Self::None | Self::Stopped { .. } | Self::Failed { .. } => None,
        }
    }

    /// The link to rebuild, while it may be.
    fn link(&self) -> Option<&str> {
        match self {
            Self::Opening { link, .. } | Self::Opened { link, .. } | Self::Failed { link: Some(link), .. } => {
                Some(link)
            }
            Self::None | Self::Failed { link: None, .. } | Self::Stopped { .. } => None,
        }
    }
}

/// Where the page remembers, for this tab, the link that stopped the worker (a reload must not open it again).
const STOPPED_LINK_KEY: &str = "peft-lab:link-that-stopped-the-worker";

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// A link as remembered there: from its `share=` on, the same whether it came from the address or was pasted.
fn stopped_key(link: &str) -> &str {
    link.find(FRAGMENT_KEY).map_or(link, |at| &link[at..])
}

#[derive(Clone, Copy)]
pub struct Link {
    state: RwSignal<LinkState>,
    /// Whether the worker is rebuilding the link's run now (a crash then is blamed on the link).
    in_flight: StoredValue<bool>,
    worker: WorkerLink,
    notices: Notices,
    status: Status,
    try_it: TryIt,
    cards: Cards,
    budget: Budget,
}

impl Link {
    /// Built where the slices it works with are provided.
    pub fn new() -> Self {
        Self {
            state: RwSignal::new(LinkState::None),
            in_flight: StoredValue::new(false),
            worker: expect_context(),
            notices: expect_context(),
            status: expect_context(),
            try_it: expect_context(),
            cards: expect_context(),
            budget: expect_context(),
        }
    }

    /// A link in the address (`#share=…`) is opened as the page starts.
    pub fn open_from_location(&self) {
        let hash = location_hash();
        if !hash.contains(FRAGMENT_KEY) {
            return;
        }
        let stopped_before = session_storage().and_then(|s| s.get_item(STOPPED_LINK_KEY).ok().flatten());
        match codec::decode::<LinkMeta>(&hash) {
            Ok((meta, precision, _)) if stopped_before.as_deref() == Some(stopped_key(&hash)) => {
                let error = "the training worker stopped when this page last opened this link, so it was not opened \
                             again"
                    .to_string();
                self.state.set(LinkState::Stopped { link: hash, meta, precision, error });
            }
            _ => self.open(hash),
        }
    }

    /// Called when the worker crashed: if it was rebuilding the link's run, the link is blamed and kept from opening
    /// again by itself (here and after a reload); "Open it again" tries anyway.
    pub fn stopped_worker(&self, message: &str) {
        if !self.in_flight.get_value() {
            return;
        }
        self.in_flight.set_value(false);
        let Some((link, meta, precision)) = self.state.get_untracked().link_and_meta() else { return };
        if let Some(storage) = session_storage() {
            // Best effort: without storage only a reload opens the link again.
            let _ = storage.set_item(STOPPED_LINK_KEY, stopped_key(&link));
        }
        let error = format!(
            "the training worker stopped while applying this link's adapter ({message}); it was restarted without \
             the link, so that the link cannot stop the page again"
        );
        self.state.set(LinkState::Stopped { link, meta, precision, error });
    }

    fn open_again(&self, link: String) {
        if let Some(storage) = session_storage() {
            let _ = storage.remove_item(STOPPED_LINK_KEY);
        }
        self.open(link);
    }

    /// Shows what `text` holds and has the worker rebuild its run once the model is ready.
    pub fn open(&self, text: String) {
        // An answer still on its way for an earlier link is dropped from now on.
        self.worker.request(RequestKind::OpenLink);
        self.in_flight.set_value(false);
        match codec::decode::<LinkMeta>(&text) {
            Ok((meta, precision, _)) => {
                self.state.set(LinkState::Opening { link: text, meta, precision });
                if self.status.ready_untracked() {
                    self.reopen();
                }
            }
            Err(e) => self.state.set(LinkState::Failed { link: None, meta: None, error: e.to_string() }),
        }
    }

    /// Asks the (possibly restarted) worker to rebuild the link's run.
    pub fn reopen(&self) {
        if let Some(link) = self.state.with_untracked(|s| s.link().map(str::to_string)) {
            let request = self.worker.request(RequestKind::OpenLink);
            self.in_flight.set_value(true);
            self.worker.send(&ToWorker::OpenLink { request, link })
        }
    }

    pub fn opened(&self, method: String, meta: LinkMeta, precision: Precision) {
        self.in_flight.set_value(false);
        let Some(link) = self.state.with_untracked(|s| s.link().map(str::to_string)) else { return };
        self.try_it.keep(&method);
        self.state.set(LinkState::Opened { link, method, meta, precision });
    }

    pub fn failed(&self, error: String) {
        self.in_flight.set_value(false);
        let (link, meta) = match self.state.get_untracked().link_and_meta() {
            Some((link, meta, precision)) => (Some(link), Some((meta, precision))),
            None => (None, None),
        };
        self.state.set(LinkState::Failed { link, meta, error });
    }

    /// Fills the method cards and the budget with the link's settings, for training on new data.
    fn train_again(&self, meta: &LinkMeta) {
        let key = meta.method.key();
        for card in self.cards.all() {
            card.enabled.set(card.key == key);
            if card.key == key {
                card.set(&meta.method, meta.learning_rate, false);
            }
        }
        self.budget.set(&meta.train, meta.train.seed);
        self.notices.push(format!(
            "The shared run's settings are set ({} only, its learning rate, budget and seed): drop your data and press Compare.",
            meta.method.label()
        ));
        scroll_to("data-section");
    }
}

/// What a link holds, as shown before and after opening it.
fn link_summary(meta: LinkMeta, precision: Precision) -> impl IntoView {
    let m = &meta.metrics;
    let t = &meta.train;
    let budget = match t.max_steps {
        Some(steps) => format!("{steps} steps"),
        None => format!("{} epochs", t.epochs),
    };
    view! {
        <dl class="link-summary">
            <dt>"method"</dt><dd class="link-method">{meta.method.label()} " (" {precision.to_string()} " tensors)"</dd>
            <dt>"base model"</dt><dd>{meta.base_model.name.clone()} <span class="muted">" sha256 " {meta.base_model.sha256.chars().take(12).collect::<String>()} "…"</span></dd>
            <dt>"labels"</dt><dd class="link-labels">{meta.labels.join(", ")}</dd>
            <dt>"trained on"</dt><dd>{meta.dataset.clone()} ", " {m.steps} " steps (" {budget} "), batch " {t.batch_size} ", max length " {t.max_length} ", seed " {t.seed} ", learning rate " {format!("{:e}", meta.learning_rate)}</dd>
            <dt>"recorded"</dt><dd class="link-metrics">"validation accuracy " {percent(m.accuracy)} ", macro-F1 " {optional(m.macro_f1, 1.0, 3)} ", val loss " {optional(m.val_loss, 1.0, 4)} "; " {format_count(m.trainable_params)} " trainable parameters (" {format!("{:.3}", m.trainable_percent)} "%)"</dd>
            <dt>"made by"</dt><dd>{meta.made_by.clone()}</dd>
        </dl>
    }
}

/// The link opened: what it holds, its state, "train again".
#[component]
pub fn OpenedLink() -> impl IntoView {
    let this = expect_context::<Link>();
    move || {
        let state = this.state.get();
        let (meta, status) = match &state {
            LinkState::None => return None,
            LinkState::Opening { meta, precision, .. } => (
                Some((meta.clone(), *precision)),
                view! { <p id="link-status" data-state="opening">"Opening: the model loads, then the adapter is applied…"</p> }.into_any(),
            ),
            LinkState::Opened { meta, precision, method, .. } => (
                Some((meta.clone(), *precision)),
                view! { <p id="link-status" data-state="opened">"Ready: " <strong>{method.clone()}</strong> " is in “Try it” below."</p> }.into_any(),
            ),
            LinkState::Failed { meta, error, .. } => (
                meta.clone(),
                view! { <p id="link-status" data-state="failed" class="error" role="alert">"This link cannot be used: " {error.clone()}</p> }.into_any(),
            ),
            LinkState::Stopped { link, meta, precision, error } => {
                let link = link.clone();
                (
                    Some((meta.clone(), *precision)),
                    view! {
                        <p id="link-status" data-state="stopped" class="error" role="alert">"Not opened: " {error.clone()} ". "
                            <button id="open-link-again" on:click=move |_| this.open_again(link.clone())>"Open it again"</button></p>
                    }.into_any(),
                )
            }
        };
        // Names can differ for the same weights (a picked folder): once opened, the sha256 has settled it.
        let other_name =
            meta.as_ref().is_some_and(|(m, _)| this.status.model_source.with(|s| s.name != m.base_model.name));
        let wrong_model = matches!(&state, LinkState::Failed { error, .. } if error.contains("was made for the model"));
        let opened = matches!(state, LinkState::Opened { .. });
        let needs_model = (!opened && (other_name || wrong_model)).then(|| {
            view! {
                <p class="warning">"This link was trained on a different model than the one loaded. Load that model: "
                    <ModelFilesPicker id="link-model-files" /> " (config.json, model.safetensors, tokenizer.json), or "
                    "give its URL under “Model and backend” above. The adapter is applied when the weights' sha256 matches."</p>
            }
        });
        let again = meta.clone().map(|(meta, _)| {
            view! { <button id="train-again" on:click=move |_| this.train_again(&meta)>"Train again with these settings"</button> }
        });
        Some(view! {
            <section id="link-section">
                <h2>"Shared run"</h2>
                {meta.map(|(meta, precision)| link_summary(meta, precision))}
                {status}
                {needs_model}
                {again}
            </section>
        })
    }
}
