//! Tables to datasets: the text and label columns, label ids, the summary and the stratified split.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::columns::{Columns, MAX_CLASSES, check_text_column};
use super::error::DataError;
use super::parse::{Format, QuotedLines, Table, decode_utf8, parse};
use crate::rng::SplitMix64;

/// One example: its text and the index of its label in [`Dataset::labels`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub text: String,
    pub label: usize,
}

/// Labelled examples with their label names (integers sorted numerically, strings alphabetically).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub columns: Columns,
    pub labels: Vec<String>,
    pub examples: Vec<Example>,
    /// Rows dropped because they were unreadable or had empty cells (only with skipping allowed).
    pub skipped_rows: usize,
    /// Why these columns (where they were chosen, not named).
    #[serde(default)]
    pub column_reasons: Vec<String>,
    #[serde(default)]
    pub quoted_lines: Option<QuotedLines>,
}

impl Dataset {
    /// Builds examples from `table`. Rows with an empty text or label fail unless `skip_bad_rows`; a text column of
    /// numbers fails.
    pub fn from_table(table: &Table, columns: Columns, skip_bad_rows: bool) -> Result<Self, DataError> {
        check_text_column(table, &columns.text)?;
        let index = |name: &str| table.columns.iter().position(|c| c == name).expect("chosen from the table's columns");
        let (ti, li) = (index(&columns.text), index(&columns.label));
        let mut pairs = Vec::new();
        let mut empty = Vec::new();
        for (row_number, row) in table.rows.iter().enumerate() {
            let (text, label) = (row[ti].trim(), row[li].trim());
            // An entirely empty record (a trailing `{}`, a row of commas) is blank space, not a bad row.
            if row.iter().all(|cell| cell.trim().is_empty()) {
                continue;
            }
            if text.is_empty() || label.is_empty() {
                empty.push(row_number + 1);
            } else {
                pairs.push((text.to_string(), label.to_string()));
            }
        }
        if !empty.is_empty() && !skip_bad_rows {
            return Err(DataError::EmptyCells { count: empty.len(), first: empty[0] });
        }
        if pairs.is_empty() {
            return Err(DataError::Empty);
        }
        let labels = sorted_labels(pairs.iter().map(|(_, l)| l.as_str()));
        if labels.len() > MAX_CLASSES {
            return Err(DataError::TooManyClasses { column: columns.label, count: labels.len(), max: MAX_CLASSES });
        }
        if labels.len() < 2 {
            return Err(DataError::OneClass { column: columns.label, count: labels.len(), labels });
        }
        let examples = pairs
            .into_iter()
            .map(|(text, label)| Example {
                label: labels.iter().position(|l| *l == label).expect("collected above"),
                text,
            })
            .collect();
        Ok(Self {
            columns,
            labels,
            examples,
            skipped_rows: table.skipped.len() + empty.len(),
            column_reasons: Vec::new(),
            quoted_lines: table.quoted_lines,
        })
    }

    /// Reads any supported file from bytes: decode, detect the format, parse, pick columns, label.
    pub fn from_bytes(
        file_name: &str,
        bytes: &[u8],
        text_column: Option<&str>,
        label_column: Option<&str>,
        skip_bad_rows: bool,
    ) -> Result<Self, DataError> {
        let text = decode_utf8(bytes)?;
        let table = parse(text, Format::detect(file_name, text), skip_bad_rows)?;
        let choice = Columns::choose(&table, text_column, label_column)?;
        let dataset = Self::from_table(&table, choice.columns, skip_bad_rows)?;
        Ok(Self { column_reasons: choice.reasons, ..dataset })
    }

    /// Relabels `other` (a separate validation or test file: `part`) with this dataset's label ids.
    pub fn align_labels(&self, other: Dataset, part: &'static str) -> Result<Vec<Example>, DataError> {
        let unknown: Vec<String> = other.labels.iter().filter(|l| !self.labels.contains(l)).cloned().collect();
        if !unknown.is_empty() {
            return Err(DataError::UnknownLabels { part, labels: unknown });
        }
        Ok(other
            .examples
            .into_iter()
            .map(|e| Example {
                label: self.labels.iter().position(|l| *l == other.labels[e.label]).expect("checked"),
                text: e.text,
            })
            .collect())
    }

    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.labels.len()];
        for e in &self.examples {
            counts[e.label] += 1;
        }
        counts
    }

    /// The number of training examples [`Self::split`] leaves with these held-out fractions, without splitting.
    pub fn train_size(&self, held_out: &[f64]) -> usize {
        let held: usize = self.class_counts().into_iter().map(|n| part_sizes(n, held_out).iter().sum::<usize>()).sum();
        self.examples.len() - held
    }

    /// A stratified split into a training part and held-out parts: `held_out[i]` of each class (at least one
    /// example per part where the class has more members than parts, always one left for training) goes to part
    /// `i`, chosen by a seeded shuffle, so every method sees the same split. With one part this is the
    /// validation split it always was; a test part comes after it from the same shuffle.
    pub fn split(&self, held_out: &[f64], seed: u64) -> Split {
        let mut rng = SplitMix64::new(seed);
        let mut train = Vec::new();
        let mut parts = vec![Vec::new(); held_out.len()];
        for class in 0..self.labels.len() {
            let mut members: Vec<&Example> = self.examples.iter().filter(|e| e.label == class).collect();
            rng.shuffle(&mut members);
            let mut start = 0;
            for (part, take) in parts.iter_mut().zip(part_sizes(members.len(), held_out)) {
                part.extend(members[start..start + take].iter().map(|e| (*e).clone()));
                start += take;
            }
            train.extend(members[start..].iter().map(|e| (*e).clone()));
        }
        rng.shuffle(&mut train);
        for part in &mut parts {
            rng.shuffle(part);
        }
        Split { train, held_out: parts }
    }
}

/// How many of a class's `n` members each held-out part takes: `fraction` of them, at least one per part where the
/// class has more members than parts, always leaving one for training.
fn part_sizes(n: usize, held_out: &[f64]) -> Vec<usize> {
    let mut start = 0;
    held_out
        .iter()
        .enumerate()
        .map(|(i, fraction)| {
            // Enough left for one example in each later part and one for training.
            let keep = held_out.len() - i;
            let take = if n > held_out.len() {
                ((n as f64 * fraction).round() as usize).clamp(1, n - start - keep)
            } else {
                0
            };
            start += take;
            take
        })
        .collect()
}

/// A dataset's examples split for training and held out (validation, then test where asked).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<Example>,
    pub held_out: Vec<Vec<Example>>,
}

fn sorted_labels<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut set: Vec<String> =
        labels.map(str::to_string).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    if set.iter().all(|l| l.parse::<i64>().is_ok()) {
        set.sort_by_key(|l| l.parse::<i64>().expect("checked"));
    }
    set
}

/// Label names a classifier can have: 2 to [`MAX_CLASSES`], each once (links and adapter files carry them).
pub fn check_labels(labels: &[String]) -> Result<(), String> {
    if !(2..=MAX_CLASSES).contains(&labels.len()) {
        return Err(format!("{} label(s); a classifier here has 2 to {MAX_CLASSES}", labels.len()));
    }
    let mut seen = std::collections::HashSet::new();
    match labels.iter().find(|label| !seen.insert(*label)) {
        Some(twice) => Err(format!("the label '{twice}' appears twice; each class needs a name of its own")),
        None => Ok(()),
    }
}

/// What the page and the CLI show about a dataset before training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub columns: Columns,
    /// Why these columns, where they were chosen rather than named.
    pub column_reasons: Vec<String>,
    pub quoted_lines: Option<QuotedLines>,
    pub rows: usize,
    pub skipped_rows: usize,
    pub classes: BTreeMap<String, usize>,
    /// Token counts (special tokens included) at the 50th, 90th, 99th percentile and the maximum.
    pub token_length_p50: usize,
    pub token_length_p90: usize,
    pub token_length_p99: usize,
    pub token_length_max: usize,
    /// Examples longer than the max length, which training truncates.
    pub truncated: usize,
    pub max_length: usize,
}

impl Summary {
    pub fn new(dataset: &Dataset, full_lengths: &[usize], max_length: usize) -> Self {
        let mut sorted = full_lengths.to_vec();
        sorted.sort_unstable();
        let pct = |p: f64| if sorted.is_empty() { 0 } else { sorted[((sorted.len() - 1) as f64 * p).round() as usize] };
        Self {
            columns: dataset.columns.clone(),
            column_reasons: dataset.column_reasons.clone(),
            quoted_lines: dataset.quoted_lines,
            rows: dataset.examples.len(),
            skipped_rows: dataset.skipped_rows,
            classes: dataset.labels.iter().cloned().zip(dataset.class_counts()).collect(),
            token_length_p50: pct(0.5),
            token_length_p90: pct(0.9),
            token_length_p99: pct(0.99),
            token_length_max: sorted.last().copied().unwrap_or(0),
            truncated: full_lengths.iter().filter(|&&l| l > max_length).count(),
            max_length,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[(&str, &str)]) -> Table {
        Table {
            columns: vec!["Sentence".into(), "sentiment".into()],
            rows: rows.iter().map(|(t, l)| vec![t.to_string(), l.to_string()]).collect(),
            skipped: vec![],
            quoted_lines: None,
        }
    }

    #[test]
    fn labels_sort_numerically_when_integers() {
        let t = table(&[("a", "10"), ("b", "2"), ("c", "1"), ("d", "2")]);
        let d = Dataset::from_table(&t, Columns::choose(&t, None, None).unwrap().columns, false).unwrap();
        assert_eq!(d.labels, vec!["1", "2", "10"]);
        assert_eq!(d.examples[0].label, 2);
        assert_eq!(d.class_counts(), vec![1, 2, 1]);
    }

    #[test]
    fn one_class_and_empty_cells_are_refused() {
        let t = table(&[("a", "pos"), ("b", "pos")]);
        let err = Dataset::from_table(&t, Columns::choose(&t, None, None).unwrap().columns, false).unwrap_err();
        assert_eq!(err.to_string(), "label column 'sentiment' has 1 class(es) (pos); need at least 2");
        let t = table(&[("a", "pos"), ("", "neg"), ("c", "neg"), ("", "")]);
        let cols = Columns::choose(&t, None, None).unwrap().columns;
        assert!(matches!(
            Dataset::from_table(&t, cols.clone(), false),
            Err(DataError::EmptyCells { count: 1, first: 2 })
        ));
        assert_eq!(Dataset::from_table(&t, cols, true).unwrap().skipped_rows, 1);
    }

    #[test]
    fn too_many_classes_are_refused() {
        let rows: Vec<(String, String)> = (0..=MAX_CLASSES).map(|i| (format!("t{i}"), format!("l{i}"))).collect();
        let refs: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let t = table(&refs);
        let err = Dataset::from_table(&t, Columns::choose(&t, None, None).unwrap().columns, false).unwrap_err();
        assert!(matches!(err, DataError::TooManyClasses { count: 1001, .. }));
    }

    #[test]
    fn split_is_stratified_and_seeded() {
        let rows: Vec<(String, &str)> =
            (0..40).map(|i| (format!("t{i}"), if i % 4 == 0 { "a" } else { "b" })).collect();
        let refs: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        let t = table(&refs);
        let d = Dataset::from_table(&t, Columns::choose(&t, None, None).unwrap().columns, false).unwrap();
        let Split { train, held_out } = d.split(&[0.2], 7);
        let val = &held_out[0];
        assert_eq!(train.len() + val.len(), 40);
        assert_eq!(val.iter().filter(|e| e.label == 0).count(), 2);
        assert_eq!(val.iter().filter(|e| e.label == 1).count(), 6);
        assert_eq!(d.split(&[0.2], 7), Split { train: train.clone(), held_out: held_out.clone() });
        assert_ne!(&d.split(&[0.2], 8).held_out[0], val);
        // A test part comes from the same shuffle after the validation part, which keeps its examples.
        let three = d.split(&[0.2, 0.25], 7);
        let sorted = |part: &[Example]| {
            let mut texts: Vec<String> = part.iter().map(|e| e.text.clone()).collect();
            texts.sort();
            texts
        };
        assert_eq!(sorted(&three.held_out[0]), sorted(val));
        let test = &three.held_out[1];
        assert_eq!((three.train.len(), test.len()), (21, 11));
        assert_eq!(test.iter().filter(|e| e.label == 0).count(), 3);
        assert!(test.iter().all(|e| !val.contains(e) && !three.train.contains(e)));
        assert_eq!(d.train_size(&[0.2, 0.25]), 21);
    }

    #[test]
    fn small_classes_keep_one_training_example() {
        // Classes of 1, 2, 3 and 4 members split three ways: every part gets one where the class has more members
        // than parts; training always keeps one.
        let rows: Vec<(String, String)> =
            (1..=4).flat_map(|c| (0..c).map(move |i| (format!("t{c}-{i}"), format!("c{c}")))).collect();
        let refs: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let t = table(&refs);
        let d = Dataset::from_table(&t, Columns::choose(&t, None, None).unwrap().columns, false).unwrap();
        let s = d.split(&[0.9, 0.9], 1);
        let count = |part: &[Example], class: usize| part.iter().filter(|e| e.label == class).count();
        for (class, expected) in [(0, [1, 0, 0]), (1, [2, 0, 0]), (2, [1, 1, 1]), (3, [1, 2, 1])] {
            assert_eq!([count(&s.train, class), count(&s.held_out[0], class), count(&s.held_out[1], class)], expected);
        }
    }

    #[test]
    fn summary_percentiles_and_truncation() {
        let t = table(&[("a", "x"), ("b", "y"), ("c", "x"), ("d", "y")]);
        let d = Dataset::from_table(&t, Columns::choose(&t, None, None).unwrap().columns, false).unwrap();
        let s = Summary::new(&d, &[3, 10, 5, 70], 64);
        assert_eq!((s.token_length_p50, s.token_length_max, s.truncated), (10, 70, 1));
        assert_eq!(s.classes["x"], 2);
    }
}
