//! The dataset: a file dropped or picked (or a sample), parsed in the page, its preview, the columns chosen, the
//! classes, and the token lengths under the model's tokenizer (from the worker).

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::format::truncate;
use super::status::Status;
use super::worker_link::WorkerLink;
use crate::data::{Columns, DataError, Dataset, Example, Format, Remedy, Summary, Table, decode_utf8, parse};
use crate::web::protocol::{RequestKind, ToWorker};
use crate::web::{buffer_bytes, fetch_bytes};

/// Larger files are refused before they are read: parsing runs on the page's thread.
const MAX_FILE_BYTES: f64 = 50.0 * 1024.0 * 1024.0;
pub const SAMPLES: [(&str, &str); 3] =
    [("Yelp reviews", "data/yelp.json"), ("Amazon reviews", "data/amazon.json"), ("IMDb reviews", "data/imdb.json")];
const PREVIEW_ROWS: usize = 5;

/// A parsed file: its table (for the preview and the column pickers) and the dataset for the chosen columns.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedData {
    pub name: String,
    /// `None` for the data of a comparison resumed after a reload (the file itself is not kept).
    format: Option<Format>,
    table: Table,
    text_column: String,
    label_column: String,
    /// Why the engine chose these columns (empty once the user picks them).
    column_reasons: Vec<String>,
    pub dataset: Result<Dataset, String>,
}

impl LoadedData {
    /// The file's columns as the data layer chooses them; where it cannot, the first two with its message.
    fn new(name: String, format: Option<Format>, table: Table, skip_bad_rows: bool) -> Self {
        let choice = Columns::choose(&table, None, None);
        let first = table.columns.first().cloned().unwrap_or_default();
        let (text, label, reasons) = match &choice {
            Ok(c) => (c.columns.text.clone(), c.columns.label.clone(), c.reasons.clone()),
            Err(_) => (first.clone(), table.columns.get(1).cloned().unwrap_or(first), Vec::new()),
        };
        let blank = Self {
            name,
            format,
            table,
            text_column: String::new(),
            label_column: String::new(),
            column_reasons: Vec::new(),
            dataset: Err(String::new()),
        };
        let loaded = Self { column_reasons: reasons, ..blank.with_columns(text, label, skip_bad_rows) };
        match choice {
            Err(e) => Self { dataset: Err(page_message(&e)), ..loaded },
            Ok(_) => loaded,
        }
    }

    fn with_columns(mut self, text: String, label: String, skip_bad_rows: bool) -> Self {
        self.dataset = if text == label {
            Err("the text and the label must be different columns".into())
        } else {
            Dataset::from_table(&self.table, Columns { text: text.clone(), label: label.clone() }, skip_bad_rows)
                .map_err(|e| page_message(&e))
        };
        self.text_column = text;
        self.label_column = label;
        self.column_reasons.clear();
        self
    }
}

/// A dataset error with the page's control for its fix.
fn page_message(error: &DataError) -> String {
    match error.remedy() {
        Some(Remedy::SkipBadRows) => format!("{error} (the \"skip bad rows\" box)"),
        Some(Remedy::NameColumn(_)) => format!("{error} (pick it below)"),
        None => error.to_string(),
    }
}

#[derive(Clone, Copy)]
pub struct Data {
    pub loaded: RwSignal<Option<LoadedData>>,
    last_file: StoredValue<Option<(String, Vec<u8>)>>,
    /// What is shown is a sample (or nothing), not a file the person chose.
    sample_shown: StoredValue<bool>,
    skip_bad_rows: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    /// Token lengths of the dataset under the model's tokenizer, at the chosen max length.
    pub summary: RwSignal<Option<Result<Summary, String>>>,
}

impl Data {
    pub fn new() -> Self {
        Self {
            loaded: RwSignal::new(None),
            last_file: StoredValue::new(None),
            sample_shown: StoredValue::new(true),
            skip_bad_rows: RwSignal::new(false),
            error: RwSignal::new(None),
            summary: RwSignal::new(None),
        }
    }

    /// The usable dataset, if any (tracked).
    pub fn dataset(&self) -> Option<Dataset> {
        self.loaded.with(|d| d.as_ref().and_then(|d| d.dataset.clone().ok()))
    }

    /// The examples left to train on once the parts of `held_out` are drawn from the usable dataset (tracked).
    pub fn train_size(&self, held_out: &[f64]) -> Option<usize> {
        self.loaded.with(|d| d.as_ref()?.dataset.as_ref().ok().map(|dataset| dataset.train_size(held_out)))
    }

    /// Whether data is shown, usable or not.
    fn has_data(&self) -> bool {
        self.loaded.with_untracked(Option::is_some)
    }

    /// Whether a usable dataset is loaded (tracked).
    pub fn usable(&self) -> bool {
        self.loaded.with(|d| d.as_ref().is_some_and(|d| d.dataset.is_ok()))
    }

    /// Reads a dropped or picked file (or a sample's); a failure leaves the current dataset as it was.
    fn load_file(&self, name: String, bytes: Vec<u8>, sample: bool) {
        self.last_file.set_value(Some((name.clone(), bytes)));
        self.sample_shown.set_value(sample);
        self.parse_last_file();
    }

    fn parse_last_file(&self) {
        let Some((name, bytes)) = self.last_file.get_value() else { return };
        let skip = self.skip_bad_rows.get_untracked();
        let parsed = (|| {
            if bytes.is_empty() {
                return Err("the file is empty".to_string());
            }
            let text = decode_utf8(&bytes).map_err(|e| page_message(&e))?;
            let format = Format::detect(&name, text);
            let table = parse(text, format, skip).map_err(|e| page_message(&e))?;
            Ok((format, table))
        })();
        match parsed {
            Ok((format, table)) => {
                self.loaded.set(Some(LoadedData::new(name, Some(format), table, skip)));
                self.error.set(None);
                self.summary.set(None);
            }
            Err(e) => self.error.set(Some(format!("{name}: {e}"))),
        }
    }

    /// Shows the data of a comparison resumed after a reload, its texts and labels as the comparison has them, where
    /// the page shows a sample (after a worker's restart the person's own file stays).
    pub fn show_resumed(&self, name: &str, dataset: &Dataset) {
        if !self.sample_shown.get_value() {
            return;
        }
        let label = |e: &Example| dataset.labels.get(e.label).cloned().unwrap_or_default();
        let rows = dataset.examples.iter().map(|e| vec![e.text.clone(), label(e)]).collect();
        let columns = vec![dataset.columns.text.clone(), dataset.columns.label.clone()];
        let table = Table { columns, rows, skipped: Vec::new(), quoted_lines: None };
        self.last_file.set_value(None);
        self.sample_shown.set_value(false);
        self.loaded.set(Some(LoadedData {
            name: name.into(),
            format: None,
            table,
            text_column: dataset.columns.text.clone(),
            label_column: dataset.columns.label.clone(),
            column_reasons: Vec::new(),
            dataset: Ok(dataset.clone()),
        }));
        self.error.set(None);
        self.summary.set(None);
    }

    /// Loads a sample dataset; `unless_loaded` (on opening the page) leaves a file the user dropped meanwhile alone.
    pub fn load_sample(&self, url: &'static str, unless_loaded: bool) {
        let data = *self;
        spawn_local(async move {
            match fetch_bytes(url).await {
                Ok(_) if unless_loaded && (data.last_file.with_value(Option::is_some) || data.has_data()) => {}
                Ok(bytes) => data.load_file(url.rsplit('/').next().unwrap_or(url).into(), bytes, true),
                Err(e) => data.error.set(Some(format!("the sample {url} did not load: {e}"))),
            }
        });
    }

    fn take_file(&self, file: web_sys::File) {
        let name = file.name();
        let size = file.size();
        if size > MAX_FILE_BYTES {
            self.error.set(Some(format!(
                "{name} is {:.0} MiB; the page reads files up to {:.0} MiB (the CLI has no limit). The current dataset is kept.",
                size / 1048576.0,
                MAX_FILE_BYTES / 1048576.0
            )));
            return;
        }
        let data = *self;
        spawn_local(async move {
            match buffer_bytes(Ok(file.array_buffer())).await {
                Ok(bytes) => data.load_file(name, bytes, false),
                Err(e) => data.error.set(Some(format!("{name} could not be read: {e}"))),
            }
        });
    }

    fn choose_column(&self, chosen: String, is_text: bool) {
        let skip = self.skip_bad_rows.get_untracked();
        self.loaded.update(|slot| {
            if let Some(d) = slot.take() {
                let (text, label) =
                    if is_text { (chosen, d.label_column.clone()) } else { (d.text_column.clone(), chosen) };
                *slot = Some(d.with_columns(text, label, skip));
            }
        });
        self.summary.set(None);
    }
}

/// The data section; `max_length` is the budget's (the token lengths are counted against it) and `val_percent` its
/// validation share, set beside the columns.
#[component]
pub fn DataSection(max_length: RwSignal<String>, val_percent: RwSignal<String>) -> impl IntoView {
    let data = expect_context::<Data>();
    let status = expect_context::<Status>();
    let worker = expect_context::<WorkerLink>();
    // The token-length summary needs the tokenizer, which lives in the worker.
    Effect::new(move |_| {
        let ready = status.ready();
        let dataset = data.dataset();
        let max_length = max_length.get();
        if let (true, Some(dataset)) = (ready, dataset) {
            let max_length = max_length.trim().parse().unwrap_or(64);
            let request = worker.request(RequestKind::Summary);
            data.summary.set(None);
            worker.send(&ToWorker::Summarize { request, dataset, max_length });
        }
    });
    let on_drop = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        if let Some(file) = ev.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) {
            data.take_file(file);
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            data.take_file(file);
        }
        input.set_value("");
    };
    let samples = SAMPLES
        .iter()
        .map(|&(title, url)| view! { <button class="sample" on:click=move |_| data.load_sample(url, false)>{title}</button> })
        .collect_view();
    view! {
        <section id="data-section">
            <h2>"1. Data"</h2>
            <div class="drop" id="drop-zone" on:dragover=|ev: web_sys::DragEvent| ev.prevent_default() on:drop=on_drop>
                <p>"Drop a CSV, TSV, JSONL or JSON file here, or "
                    <label class="file-button">"choose one"<input id="file-input" type="file"
                        accept=".csv,.tsv,.tab,.jsonl,.ndjson,.json,.txt,text/*,application/json" on:change=on_pick /></label>
                    ". Samples: " {samples}</p>
            </div>
            <Show when=move || data.error.get().is_some()>
                <p id="data-error" class="error" role="alert">{move || data.error.get()}</p>
            </Show>
            {move || data.loaded.get().map(|loaded| view! { <Loaded loaded val_percent /> })}
        </section>
    }
}

/// The loaded file: its preview, the column pickers, its classes and token lengths.
#[component]
fn Loaded(loaded: LoadedData, val_percent: RwSignal<String>) -> impl IntoView {
    let data = expect_context::<Data>();
    let columns = loaded.table.columns.clone();
    let picker = move |id: &'static str, current: String, is_text: bool| {
        let options = columns
            .iter()
            .map(|c| view! { <option value=c.clone() selected=*c == current>{c.clone()}</option> })
            .collect_view();
        view! { <select id=id on:change=move |ev| data.choose_column(event_target_value(&ev), is_text)>{options}</select> }
    };
    let header = loaded.table.columns.iter().map(|c| view! { <th>{c.clone()}</th> }).collect_view();
    let rows = loaded
        .table
        .rows
        .iter()
        .take(PREVIEW_ROWS)
        .map(|row| view! { <tr>{row.iter().map(|cell| view! { <td>{truncate(cell, 120)}</td> }).collect_view()}</tr> })
        .collect_view();
    let dataset_view = match &loaded.dataset {
        Ok(dataset) => {
            let counts = dataset.class_counts();
            let classes = dataset
                .labels
                .iter()
                .zip(&counts)
                .take(20)
                .map(|(l, n)| view! { <li><b>{l.clone()}</b> " " {*n}</li> })
                .collect_view();
            let more = (dataset.labels.len() > 20).then(|| format!("… and {} more classes", dataset.labels.len() - 20));
            view! {
                <div id="class-counts" class="classes">
                    <span>{format!("{} examples, {} classes:", dataset.examples.len(), dataset.labels.len())}</span>
                    <ul>{classes}</ul>{more}
                    {(dataset.skipped_rows > 0).then(|| format!(" ({} bad rows skipped)", dataset.skipped_rows))}
                </div>
            }
            .into_any()
        }
        Err(e) => view! { <p id="dataset-error" class="error" role="alert">{e.clone()}</p> }.into_any(),
    };
    view! {
        <div class="loaded">
            <p><b id="data-name">{loaded.name.clone()}</b> {format!(
                " · {} · {} rows",
                loaded.format.map_or("as the interrupted comparison had it".into(), |f| format!("{f:?}")),
                loaded.table.rows.len()
            )}</p>
            <div class="table-wrap"><table id="preview"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table></div>
            <div class="pickers">
                <label>"Text column " {picker("text-column", loaded.text_column.clone(), true)}</label>
                <label>"Label column " {picker("label-column", loaded.label_column.clone(), false)}</label>
                <label><input id="skip-bad-rows" type="checkbox" prop:checked=move || data.skip_bad_rows.get()
                    on:change=move |ev| { data.skip_bad_rows.set(event_target_checked(&ev)); data.parse_last_file(); } />
                    "skip bad rows"</label>
                <label>"Validation " <input id="val-percent" type="number" min="0" max="90" step="5" class="short"
                    prop:value=move || val_percent.get() on:input=move |ev| val_percent.set(event_target_value(&ev)) />" %"</label>
            </div>
            {(!loaded.column_reasons.is_empty())
                .then(|| view! { <p id="column-reasons" class="muted">"Columns: " {loaded.column_reasons.join("; ")}</p> })}
            {loaded.table.quoted_lines.map(|q| view! { <p id="quoted-lines" class="warning">{q.to_string()}</p> })}
            {dataset_view}
            {move || data.summary.get().map(|s| match s {
                Ok(s) => view! {
                    <p id="summary" class="muted">{format!(
                        "Tokens per text: median {}, 90th percentile {}, 99th {}, longest {}; {} of {} texts are cut to the max length {}.",
                        s.token_length_p50, s.token_length_p90, s.token_length_p99, s.token_length_max, s.truncated, s.rows, s.max_length
                    )}</p>
                }.into_any(),
                Err(e) => view! { <p id="summary" class="error">{e}</p> }.into_any(),
            })}
        </div>
    }
}
