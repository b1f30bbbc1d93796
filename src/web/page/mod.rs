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
mod runs;
mod share;
mod status;
mod try_it;
mod worker_link;

use leptos::prelude::*;
use leptos::task::spawn_local;

use budget::Budget;
use compare::{Comparison, PendingComparison};
use comparison_link::{OpenedLinkComparison, SharedComparison};
use data::{Data, DataSection, SAMPLES};
use import::Imports;
use link::{Link, OpenedLink};
use methods::{Cards, MethodsSection};
use notices::{NoticeList, Notices};
use progress::CompareSection;
use results::ResultsSection;
use runs::Runs;
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

/// Provides `slice` to the views below (and to the slices built after it).
fn provide<T: Clone + Send + Sync + 'static>(slice: T) -> T {
    provide_context(slice.clone());
    slice
}

#[component]
fn App() -> impl IntoView {
    // Each slice takes the slices it works with from the context, so they are provided in this order.
    let notices = provide(Notices::new());
    let worker = provide(WorkerLink::new());
    let status = provide(Status::new());
    let try_it = provide(TryIt::new());
    let data = provide(Data::new());
    provide(Cards::new());
    let budget = provide(Budget::new());
    let results = provide(Runs::new());
    let comparison = provide(Comparison::new());
    let link = provide(Link::new());
    let share = provide(Sharing::new());
    let imports = provide(Imports::new());
    provide(OpenedLinkComparison::from_location());
    worker.connect(Page { notices, status, data, comparison, try_it, link, share, imports });

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
            <DataSection max_length=budget.max_length val_percent=budget.val_percent />
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
