//! What can be wrong with a dataset file. Messages say what is wrong and what would fix it, in words: each edge
//! (the CLI, the page) adds its own control for the fix through [`DataError::remedy`].

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("the dataset is empty: it needs a header row and at least one example per class")]
    Empty,
    #[error(
        "this looks like a binary file, not text (it has a NUL byte at offset {0}); save the data as UTF-8 CSV, TSV or JSON"
    )]
    Binary(usize),
    #[error("the file is not UTF-8 text (first invalid byte at offset {byte}, line {line}); save it as UTF-8")]
    NotUtf8 { line: usize, byte: usize },
    #[error("{0}")]
    Parse(String),
    #[error("{count} row(s) cannot be read ({}); fix them or skip bad rows", describe_rows(.first))]
    BadRows { count: usize, first: Vec<(usize, String)> },
    #[error("no column '{name}'; columns are: {}", .available.join(", "))]
    MissingColumn { name: String, available: Vec<String> },
    #[error("cannot tell which column holds the {what}; columns are: {}; name the {what} column", .available.join(", "))]
    AmbiguousColumn { what: &'static str, available: Vec<String> },
    #[error(
        "the text column '{column}' holds numbers ({numbers} of {filled} cells, e.g. {}), not text; name the text column",
        .examples.join(", ")
    )]
    NumericText { column: String, numbers: usize, filled: usize, examples: Vec<String> },
    #[error("label column '{column}' has {count} class(es) ({}); need at least 2", .labels.join(", "))]
    OneClass { column: String, count: usize, labels: Vec<String> },
    #[error(
        "label column '{column}' has {count} distinct values; at most {max} classes are supported (is it the right column?)"
    )]
    TooManyClasses { column: String, count: usize, max: usize },
    #[error("{count} row(s) have an empty text or label (first at row {first}); fix them or skip bad rows")]
    EmptyCells { count: usize, first: usize },
    #[error("{part} labels {} do not occur in the training data", .labels.join(", "))]
    UnknownLabels { part: &'static str, labels: Vec<String> },
    #[error(
        "the held-out fractions (validation {validation}, test {test}) must each be above 0 and leave some of the data \
         for training (together below 1)"
    )]
    HeldOutFractions { validation: f64, test: f64 },
    #[error(
        "line {line} has {}; a decoder's examples need prompt and completion, instruction and output (input \
         optional), messages, or text",
        describe_keys(.keys)
    )]
    UnknownRecord { line: usize, keys: Vec<String> },
    #[error("line {line} is a {kind} example, but the first is a {first_kind} one; use one kind per file")]
    MixedRecords { line: usize, kind: &'static str, first_kind: &'static str },
    #[error("line {line}: {why}; fix it or skip bad rows")]
    BadRecord { line: usize, why: String },
}

fn describe_keys(keys: &[String]) -> String {
    if keys.is_empty() { "no keys".into() } else { format!("keys {}", keys.join(", ")) }
}

fn describe_rows(rows: &[(usize, String)]) -> String {
    rows.iter().map(|(line, why)| format!("line {line}: {why}")).collect::<Vec<_>>().join("; ")
}

/// A fix that the CLI and the page each offer as their own control (a flag, a checkbox, a column picker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    SkipBadRows,
    /// Name the column that holds the text or the label.
    NameColumn(&'static str),
}

impl DataError {
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            Self::BadRows { .. } | Self::EmptyCells { .. } | Self::BadRecord { .. } => Some(Remedy::SkipBadRows),
            Self::AmbiguousColumn { what, .. } => Some(Remedy::NameColumn(what)),
            Self::NumericText { .. } => Some(Remedy::NameColumn("text")),
            _ => None,
        }
    }
}
