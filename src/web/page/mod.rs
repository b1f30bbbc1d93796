//! The page, as components over state slices: each file holds one slice (its signals and what changes them) and
//! the views that show it; `<App/>` builds the slices, provides them, and orders the sections. Work that takes time
//! runs in the worker ([`worker_link`]).

mod budget;
mod compare;
mod comparison_link;
mod curves;
mod data;
mod exports;
mod format;
mod import;
mod link;
mod methods;
mod notices;
mod progress;
mod report;
mod results;
mod share;
mod status;
mod try_it;
mod worker_link;

use leptos::prelude::*;
use leptos::task::spawn_local;

use budget::Budget;
use compare::{CompareSection, Comparison, PendingComparison};
use comparison_link::{OpenedLinkComparison, SharedComparison};
use data::{Data, DataSection, SAMPLES};
use import::Imports;
use link::{Link, OpenedLink};
use methods::{Cards, MethodsSection};
use notices::{NoticeList, Notices};
use results::{Results, ResultsSection};
use share::{ShareSection, Sharing};
use status::{Status, StatusBar};
use try_it::{TryIt, TrySection};
use worker_link::WorkerLink;

use crate::web::store;

const DEFAULT_MODEL: (&str, &str) = ("all-MiniLM-L6-v2", "models/all-MiniLM-L6-v2/");

/// The most workers `?workers=N` starts: each holds a copy of the model.
const MAX_WORKERS: usize = 16;

/// Every slice, for the worker link: it hands each message to the slice it concerns.
#[derive(Clone, Copy)]
pub struct Page {
    notices: Notices,
    status: Status,
    data: Data,
    comparison: Comparison,
    try_it: TryIt,
    link: Link,
    share: Sharing,
    imports: Imports,
}

fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search).ok()?.get(name)
}

fn location_hash() -> String {
    web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default()
}

/// A performance mark, for the measurements of how fast the page gets ready.
fn mark(name: &str) {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark(name);
    }
}

/// Methods trained at once on the CPU path: `?workers=N` (at most [`MAX_WORKERS`]), else one per core up to 4 (each
/// worker holds a copy of the model and its own activations).
fn parallel_workers() -> usize {
    let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency()) as usize;
    query_param("workers").and_then(|n| n.parse().ok()).unwrap_or(cores.min(4)).clamp(1, MAX_WORKERS)
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn scroll_to(id: &str) {
    if let Some(element) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(id)) {
        element.scroll_into_view();
    }
}

/// The page's address without its fragment: a link opens the same page with the same `?model=`, and nothing else of
/// the query (the sharer's `?backend=` is theirs: the recipient's page times its own).
fn page_address() -> String {
    let location = web_sys::window().expect("the page has a window").location();
    let part = |r: Result<String, _>| r.unwrap_or_default();
    let search = part(location.search());
    let model = search.trim_start_matches('?').split('&').find(|pair| pair.starts_with("model="));
    let query = model.map(|pair| format!("?{pair}")).unwrap_or_default();
    format!("{}{}{query}", part(location.origin()), part(location.pathname()))
}

#[component]
fn App() -> impl IntoView {
    let notices = Notices::new();
    let worker = WorkerLink::new();
    let status = Status::new(worker);
    let try_it = TryIt::new(worker);
    let data = Data::new();
    let cards = Cards::new();
    let budget = Budget::new();
    let results = Results::new(notices);
    let comparison = Comparison::new(worker, notices, results, try_it, status, data, cards, budget);
    let link = Link::new(worker, notices, status, try_it, cards, budget);
    let share = Sharing::new(worker, notices, status);
    let imports = Imports::new(worker, try_it);
    let opened_comparison = OpenedLinkComparison::from_location(cards, budget, notices);
    worker.connect(Page { notices, status, data, comparison, try_it, link, share, imports });
    provide_context(notices);
    provide_context(worker);
    provide_context(status);
    provide_context(try_it);
    provide_context(data);
    provide_context(cards);
    provide_context(budget);
    provide_context(results);
    provide_context(comparison);
    provide_context(link);
    provide_context(share);
    provide_context(imports);
    provide_context(opened_comparison);

    link.open_from_location();
    worker.start();
    data.load_sample(SAMPLES[0].1, true);
    spawn_local(async move {
        results.load().await;
        match store::load_pending::<PendingComparison>().await {
            Ok(pending) => comparison.interrupted_found(pending),
            Err(e) => notices.push(format!("an interrupted comparison could not be read back: {e}")),
        }
    });
    let training = Signal::derive(move || comparison.is_running());
    view! {
        <header>
            <h1>"peft-lab"</h1>
            <p class="tagline">"Fine-tune a small transformer in your browser with parameter-efficient methods and compare them on your data."</p>
            <StatusBar training />
        </header>
        <main>
            <NoticeList />
            <OpenedLink />
            <SharedComparison />
            <DataSection />
            <MethodsSection />
            <CompareSection />
            <ResultsSection />
            <TrySection training />
            <ShareSection />
        </main>
    }
}

pub fn mount() {
    leptos::mount::mount_to_body(App);
}
