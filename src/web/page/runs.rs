//! The runs of this browser: stored in IndexedDB (shared by the page's tabs) as they finish, read back when the page
//! opens and when another tab changes them; those the storage refused are kept in the page and marked.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::notices::Notices;
use crate::web::store::{self, StoredRun};

#[derive(Clone, Copy)]
pub struct Runs {
    pub runs: RwSignal<Vec<StoredRun>>,
    /// The runs the browser's storage refused (by comparison, method and seed): offered as downloads.
    pub unsaved: RwSignal<Vec<(u64, usize, u64)>>,
    pub notices: Notices,
}

impl Runs {
    pub fn new() -> Self {
        Self { runs: RwSignal::new(Vec::new()), unsaved: RwSignal::new(Vec::new()), notices: expect_context() }
    }

    /// Reads the stored runs, now and whenever another tab of the page stores or clears some.
    pub async fn load(&self) {
        match store::load().await {
            Ok(runs) => self.runs.set(runs),
            Err(e) => self.notices.push(format!(
                "This browser keeps nothing for this page ({e}; a private window, or storage turned off): runs are \
                 lost when the page closes, and a reload cannot go on with a comparison. Download what you want to \
                 keep (each run's files, or all of them under Results)."
            )),
        }
        let this = *self;
        store::watch_other_tabs(move || {
            spawn_local(async move {
                match store::load().await {
                    Ok(runs) => this.runs.set(runs),
                    Err(e) => this.notices.push(format!("another tab's runs could not be read: {e}")),
                }
            })
        });
    }

    /// How many runs of `comparison` are stored.
    pub fn stored_of(&self, comparison: u64) -> usize {
        self.runs.with_untracked(|runs| runs.iter().filter(|r| r.comparison == comparison).count())
    }

    /// Shows a finished run, `stored` in the browser or not; a resumed comparison finishes its finished runs again
    /// (from their last checkpoints): one row each.
    pub fn add(&self, run: StoredRun, stored: bool) {
        let key = run_key(&run);
        self.unsaved.update(|unsaved| {
            unsaved.retain(|k| *k != key);
            if !stored {
                unsaved.push(key);
            }
        });
        self.runs.update(|runs| {
            runs.retain(|r| run_key(r) != key);
            runs.push(run);
        });
    }

    /// Asks first, then removes every stored run from the browser, in every tab; `cleared` runs after.
    pub fn clear(&self, cleared: impl FnOnce() + 'static) {
        let (runs, comparisons) = self.runs.with_untracked(|runs| {
            let mut ids: Vec<u64> = runs.iter().map(|r| r.comparison).collect();
            ids.sort_unstable();
            ids.dedup();
            (runs.len(), ids.len())
        });
        let question = format!(
            "Remove the {runs} stored run(s) of {comparisons} comparison(s) from this browser, in every tab of this \
             page? Files you downloaded are not touched."
        );
        let window = web_sys::window().expect("the page has a window");
        if !window.confirm_with_message(&question).unwrap_or(false) {
            return;
        }
        let this = *self;
        spawn_local(async move {
            match store::clear().await {
                Ok(()) => {
                    store::announce_change();
                    // What the storage refused stays: it is only in this page.
                    let unsaved = this.unsaved.get_untracked();
                    this.runs.update(|runs| runs.retain(|r| unsaved.contains(&run_key(r))));
                    cleared();
                }
                Err(e) => this.notices.push(format!("the stored runs could not be cleared: {e}")),
            }
        });
    }
}

/// A run's key: its comparison, method and seed.
pub fn run_key(run: &StoredRun) -> (u64, usize, u64) {
    (run.comparison, run.index, run.result.seed)
}
