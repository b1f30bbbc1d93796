//! Which columns hold the text and the label: by name where a name says it, else by content. Files as they are
//! shipped often have neither name (`v1,v2`), an unnamed row index first, or a label column named after its
//! positive class (`spam`), so content decides what names do not: the text column has long, varied strings, the
//! label column few distinct values, and a column of increasing integers is an index, never either.

use serde::{Deserialize, Serialize};

use super::error::DataError;
use super::parse::Table;

/// Most classes a label column may have before we assume the wrong column was picked.
pub const MAX_CLASSES: usize = 1000;

const TEXT_NAMES: &[&str] = &[
    "text",
    "sentence",
    "review",
    "content",
    "document",
    "body",
    "comment",
    "tweet",
    "utterance",
    "input",
    "sentence1",
    "question",
    "message",
];
const LABEL_NAMES: &[&str] =
    &["label", "labels", "class", "category", "sentiment", "target", "intent", "y", "gold_label"];

/// The share of a text column's cells that may be numbers before it is refused as not text.
const NUMERIC_TEXT_SHARE: f64 = 0.9;

/// Which columns hold the text and the label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Columns {
    pub text: String,
    pub label: String,
}

/// The columns chosen for a table, with one sentence per decision (shown by the CLI's summary and the page).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnChoice {
    pub columns: Columns,
    pub reasons: Vec<String>,
}

/// What a column's cells look like.
struct Profile<'a> {
    name: &'a str,
    filled: usize,
    distinct: usize,
    mean_chars: f64,
    numbers: usize,
    /// The first and last value of a column of increasing integers (a row index).
    index: Option<(i64, i64)>,
}

impl<'a> Profile<'a> {
    fn new(table: &'a Table, column: usize) -> Self {
        let cells: Vec<&str> =
            table.rows.iter().map(|row| row[column].trim()).filter(|cell| !cell.is_empty()).collect();
        let distinct = cells.iter().collect::<std::collections::HashSet<_>>().len();
        let chars: usize = cells.iter().map(|c| c.chars().count()).sum();
        let integers: Vec<i64> = cells.iter().map_while(|c| c.parse::<i64>().ok()).collect();
        // Rows lost to broken quoting leave gaps, so increasing is enough.
        let index = (cells.len() >= 2 && integers.len() == cells.len() && integers.windows(2).all(|w| w[0] < w[1]))
            .then(|| (integers[0], integers[cells.len() - 1]));
        Self {
            name: &table.columns[column],
            filled: cells.len(),
            distinct,
            mean_chars: if cells.is_empty() { 0.0 } else { chars as f64 / cells.len() as f64 },
            numbers: cells.iter().filter(|c| looks_numeric(c)).count(),
            index,
        }
    }

    fn mostly_numbers(&self) -> bool {
        self.filled > 0 && self.numbers as f64 >= NUMERIC_TEXT_SHARE * self.filled as f64
    }
}

/// A number as a spreadsheet would read it (`12`, `-3.5`, `1e3`), not `inf` or `NaN`, which are words.
fn looks_numeric(cell: &str) -> bool {
    cell.parse::<f64>().is_ok_and(f64::is_finite)
}

fn quoted(name: &str) -> String {
    if name.is_empty() { "the unnamed column".into() } else { format!("'{name}'") }
}

impl Columns {
    /// Explicit names win (and must exist); then well-known names, case-insensitively; then content, among the
    /// columns that are mostly filled and not an index.
    pub fn choose(table: &Table, text: Option<&str>, label: Option<&str>) -> Result<ColumnChoice, DataError> {
        let profiles: Vec<Profile> = (0..table.columns.len()).map(|i| Profile::new(table, i)).collect();
        let mut reasons = Vec::new();
        let by_name =
            |explicit: Option<&str>, names: &[&str], what: &str, reasons: &mut Vec<String>| {
                if let Some(name) = explicit {
                    return table.columns.iter().find(|c| *c == name).cloned().map(Some).ok_or_else(|| {
                        DataError::MissingColumn { name: name.into(), available: table.columns.clone() }
                    });
                }
                let found = names.iter().find_map(|n| table.columns.iter().find(|c| c.eq_ignore_ascii_case(n)));
                if let Some(name) = found {
                    reasons.push(format!("{what}: {} by its name", quoted(name)));
                }
                Ok(found.cloned())
            };
        let named_text = by_name(text, TEXT_NAMES, "text", &mut reasons)?;
        let named_label = by_name(label, LABEL_NAMES, "label", &mut reasons)?;
        let usable: Vec<&Profile> = profiles
            .iter()
            .filter(|p| {
                if let Some((first, last)) = p.index
                    && named_text.as_deref() != Some(p.name)
                    && named_label.as_deref() != Some(p.name)
                {
                    reasons.push(format!(
                        "{} skipped: increasing integers {first} to {last}, a row index",
                        quoted(p.name)
                    ));
                    return false;
                }
                2 * p.filled > table.rows.len()
            })
            .collect();
        let ambiguous = |what| DataError::AmbiguousColumn { what, available: table.columns.clone() };
        let text = match named_text {
            Some(name) => name,
            None => {
                let not_label = |p: &&&Profile| named_label.as_deref() != Some(p.name);
                // Varied strings first (most cells distinct); a column of few long values is rather a label.
                let candidates: Vec<&&Profile> =
                    usable.iter().filter(not_label).filter(|p| !p.mostly_numbers() && p.distinct >= 2).collect();
                let varied = candidates.iter().filter(|p| 2 * p.distinct > p.filled);
                let best = varied
                    .max_by(|a, b| a.mean_chars.total_cmp(&b.mean_chars))
                    .or_else(|| candidates.iter().max_by(|a, b| a.mean_chars.total_cmp(&b.mean_chars)))
                    .ok_or_else(|| ambiguous("text"))?;
                reasons.push(format!(
                    "text: {} by content, the longest varied strings ({:.0} characters on average, {} distinct of {})",
                    quoted(best.name),
                    best.mean_chars,
                    best.distinct,
                    best.filled
                ));
                best.name.to_string()
            }
        };
        let label = match named_label {
            Some(name) => name,
            None => {
                let best = usable
                    .iter()
                    .filter(|p| {
                        p.name != text && p.distinct >= 2 && p.distinct <= MAX_CLASSES && 2 * p.distinct <= p.filled
                    })
                    .min_by_key(|p| p.distinct)
                    .ok_or_else(|| ambiguous("label"))?;
                reasons.push(format!("label: {} by content, {} distinct values", quoted(best.name), best.distinct));
                best.name.to_string()
            }
        };
        Ok(ColumnChoice { columns: Columns { text, label }, reasons })
    }
}

/// Refuses a text column whose cells are mostly numbers (an index, a score, an id picked by mistake).
pub fn check_text_column(table: &Table, column: &str) -> Result<(), DataError> {
    let Some(at) = table.columns.iter().position(|c| c == column) else { return Ok(()) };
    let profile = Profile::new(table, at);
    if !profile.mostly_numbers() {
        return Ok(());
    }
    let examples = table.rows.iter().map(|row| row[at].trim()).filter(|c| !c.is_empty()).take(3);
    Err(DataError::NumericText {
        column: column.into(),
        numbers: profile.numbers,
        filled: profile.filled,
        examples: examples.map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect(),
            skipped: vec![],
            quoted_lines: None,
        }
    }

    #[test]
    fn names_decide_first_and_must_exist_when_given() {
        let t = table(&["Sentence", "sentiment"], &[&["a", "pos"]]);
        let choice = Columns::choose(&t, None, None).unwrap();
        assert_eq!(choice.columns, Columns { text: "Sentence".into(), label: "sentiment".into() });
        assert_eq!(choice.reasons, ["text: 'Sentence' by its name", "label: 'sentiment' by its name"]);
        let err = Columns::choose(&t, None, Some("label")).unwrap_err();
        assert_eq!(err.to_string(), "no column 'label'; columns are: Sentence, sentiment");
    }

    #[test]
    fn content_decides_when_names_do_not() {
        // An unnamed row index, the label named after its positive class, the text under an opaque name.
        let rows: Vec<[String; 3]> = (0..12)
            .map(|i| [i.to_string(), (i % 3 == 0).to_string(), format!("message number {i} with some words")])
            .collect();
        let refs: Vec<Vec<&str>> = rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
        let refs: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
        let t = table(&["", "spam", "v2"], &refs);
        let choice = Columns::choose(&t, None, None).unwrap();
        assert_eq!(choice.columns, Columns { text: "v2".into(), label: "spam".into() });
        assert_eq!(
            choice.reasons,
            [
                "the unnamed column skipped: increasing integers 0 to 11, a row index",
                "text: 'v2' by content, the longest varied strings (32 characters on average, 12 distinct of 12)",
                "label: 'spam' by content, 2 distinct values",
            ]
        );
        // A named label leaves the text to content, and the other way round.
        let t = table(&["id", "label", "a"], &refs);
        assert_eq!(Columns::choose(&t, None, None).unwrap().columns.text, "a");
        let t = table(&["id", "b", "text"], &refs);
        assert_eq!(Columns::choose(&t, None, None).unwrap().columns.label, "b");
    }

    #[test]
    fn a_table_without_text_or_label_is_ambiguous() {
        let t = table(&["a", "b"], &[&["1", "2"], &["3", "4"], &["5", "6"]]);
        assert!(matches!(Columns::choose(&t, None, None), Err(DataError::AmbiguousColumn { what: "text", .. })));
        let t = table(&["a", "b"], &[&["x y", "p"], &["y z", "q"], &["z w", "r"]]);
        assert!(matches!(Columns::choose(&t, None, None), Err(DataError::AmbiguousColumn { what: "label", .. })));
    }

    #[test]
    fn a_numeric_text_column_is_refused() {
        let t = table(&["text", "label"], &[&["1", "a"], &["2.5", "b"], &["3", "a"]]);
        let err = check_text_column(&t, "text").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the text column 'text' holds numbers (3 of 3 cells, e.g. 1, 2.5, 3), not text; name the text column"
        );
        let t = table(&["text", "label"], &[&["NaN", "a"], &["inf", "b"], &["3", "a"]]);
        assert!(check_text_column(&t, "text").is_ok());
    }
}
