//! Files to tables: CSV, TSV, JSON Lines and JSON arrays of objects. Cells become strings; nothing is tensors yet.

use std::collections::BTreeSet;

use super::error::DataError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Format {
    Csv,
    Tsv,
    JsonLines,
    JsonArray,
}

impl Format {
    /// From the file name's extension, else from the first non-blank character and the first line.
    pub fn detect(file_name: &str, text: &str) -> Self {
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".tsv") || lower.ends_with(".tab") {
            return Self::Tsv;
        }
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            return Self::JsonLines;
        }
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        if lower.ends_with(".json") || trimmed.starts_with('[') {
            return if trimmed.starts_with('[') { Self::JsonArray } else { Self::JsonLines };
        }
        if trimmed.starts_with('{') {
            return Self::JsonLines;
        }
        let first_line = trimmed.lines().next().unwrap_or("");
        if first_line.contains('\t') && !first_line.contains(',') { Self::Tsv } else { Self::Csv }
    }
}

/// Most columns a table may have: every row holds a cell for each, so the union of keys of JSON objects that each
/// have their own would otherwise cost rows × keys.
pub const MAX_COLUMNS: usize = 256;

/// Rows of string cells under named columns, plus the rows that could not be read (1-based line numbers).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Line (or record) numbers of rows that failed to parse, with the reason, when skipping was allowed.
    pub skipped: Vec<(usize, String)>,
    /// Line breaks inside quoted fields of a CSV or TSV file.
    pub quoted_lines: Option<QuotedLines>,
}

/// Line breaks inside quoted fields: a few are multi-line cells, hundreds a quote left open that swallowed the
/// lines after it into one cell (and the rows they held).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuotedLines {
    pub breaks: usize,
    /// The lines of the field with the most breaks.
    pub longest_from: usize,
    pub longest_to: usize,
}

impl std::fmt::Display for QuotedLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} line(s) ended inside quoted fields, the longest field running from line {} to line {}; if a quote \
             was left open there, the lines after it were read as one cell",
            self.breaks, self.longest_from, self.longest_to
        )
    }
}

impl QuotedLines {
    /// Adds the breaks in a record's fields; `line` is where the record starts.
    fn tally(tally: &mut Option<Self>, record: &csv::StringRecord) {
        let Some(mut line) = record.position().map(|p| p.line() as usize) else { return };
        for field in record {
            let breaks = field.matches('\n').count();
            if breaks > 0 {
                let total = tally.get_or_insert(Self { breaks: 0, longest_from: line, longest_to: line });
                total.breaks += breaks;
                if breaks > total.longest_to - total.longest_from {
                    (total.longest_from, total.longest_to) = (line, line + breaks);
                }
            }
            line += breaks;
        }
    }
}

fn too_many_columns(count: usize) -> DataError {
    DataError::Parse(format!(
        "the file has {count} columns (or JSON keys), more than {MAX_COLUMNS}; a dataset needs a text and a label \
         column, with the same keys in every JSON object"
    ))
}

/// Decodes bytes as UTF-8 (a byte-order mark is dropped), naming the line of the first invalid byte. NUL bytes,
/// which no text format here contains, mark a binary (or UTF-16) file.
pub fn decode_utf8(bytes: &[u8]) -> Result<&str, DataError> {
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(DataError::Binary(at));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.strip_prefix('\u{feff}').unwrap_or(text)),
        Err(e) => {
            let at = e.valid_up_to();
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(DataError::NotUtf8 { line, byte: at })
        }
    }
}

/// Parses `text`; with `skip_bad_rows` unreadable rows are listed in [`Table::skipped`] instead of failing.
pub fn parse(text: &str, format: Format, skip_bad_rows: bool) -> Result<Table, DataError> {
    if text.trim().is_empty() {
        return Err(DataError::Empty);
    }
    let table = match format {
        Format::Csv => parse_delimited(text, b',', skip_bad_rows)?,
        Format::Tsv => parse_delimited(text, b'\t', skip_bad_rows)?,
        Format::JsonLines | Format::JsonArray => parse_json(text, format, skip_bad_rows)?,
    };
    if table.rows.is_empty() {
        return Err(DataError::Empty);
    }
    Ok(table)
}

pub(super) fn bad_rows_error(skipped: Vec<(usize, String)>) -> DataError {
    DataError::BadRows { count: skipped.len(), first: skipped.into_iter().take(5).collect() }
}

fn parse_delimited(text: &str, delimiter: u8, skip_bad_rows: bool) -> Result<Table, DataError> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| DataError::Parse(format!("the header row cannot be read: {e}")))?
        .iter()
        .map(|c| c.trim().to_string())
        .collect();
    if columns.iter().all(|c| c.is_empty()) {
        return Err(DataError::Parse("the first row must name the columns (e.g. text,label)".into()));
    }
    if columns.len() > MAX_COLUMNS {
        return Err(too_many_columns(columns.len()));
    }
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut quoted_lines = None;
    for record in reader.records() {
        if let Ok(r) = &record {
            QuotedLines::tally(&mut quoted_lines, r);
        }
        match record {
            Ok(r) if r.len() == columns.len() => rows.push(r.iter().map(str::to_string).collect()),
            Ok(r) if r.iter().all(|c| c.trim().is_empty()) => {} // blank line
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line() as usize);
                let hint = if r.iter().any(|c| c.contains('\n')) {
                    "; a quoted field runs across lines: is a quote left open?"
                } else {
                    ""
                };
                skipped.push((line, format!("{} fields, the header has {}{hint}", r.len(), columns.len())));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                skipped.push((line, e.to_string()));
                if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
    }
    if !skipped.is_empty() && !skip_bad_rows {
        return Err(bad_rows_error(skipped));
    }
    Ok(Table { columns, rows, skipped, quoted_lines })
}

/// Objects to rows; the columns are the union of keys in first-seen order.
fn objects_to_table(
    objects: Vec<serde_json::Map<String, serde_json::Value>>,
    skipped: Vec<(usize, String)>,
) -> Result<Table, DataError> {
    let mut columns: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for object in &objects {
        for key in object.keys() {
            if seen.insert(key.clone()) {
                columns.push(key.clone());
            }
        }
        if columns.len() > MAX_COLUMNS {
            return Err(too_many_columns(columns.len()));
        }
    }
    let rows = objects
        .into_iter()
        .map(|object| columns.iter().map(|c| object.get(c).map(cell_text).unwrap_or_default()).collect())
        .collect();
    Ok(Table { columns, rows, skipped, quoted_lines: None })
}

fn cell_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A JSON object of a dataset file and its line (JSON Lines) or item (JSON array) number, 1-based.
pub type NumberedObject = (usize, serde_json::Map<String, serde_json::Value>);

/// Rows that could not be read: their 1-based line numbers and why.
pub type SkippedRows = Vec<(usize, String)>;

/// The objects of a JSON Lines or JSON array file, with the lines that are not objects (JSON Lines; an error unless
/// `skip_bad_rows`). Blank lines are skipped.
pub fn json_objects(
    text: &str,
    format: Format,
    skip_bad_rows: bool,
) -> Result<(Vec<NumberedObject>, SkippedRows), DataError> {
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    if format == Format::JsonArray {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| DataError::Parse(format!("the JSON does not parse: {e}")))?;
        let serde_json::Value::Array(items) = value else {
            return Err(DataError::Parse(
                "a .json dataset must be an array of objects, e.g. [{\"text\": ..., \"label\": ...}]".into(),
            ));
        };
        for (i, item) in items.into_iter().enumerate() {
            match item {
                serde_json::Value::Object(o) => objects.push((i + 1, o)),
                _ => return Err(DataError::Parse(format!("array item {} is not an object", i + 1))),
            }
        }
        return Ok((objects, skipped));
    }
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(o)) => objects.push((i + 1, o)),
            Ok(_) => skipped.push((i + 1, "not a JSON object".into())),
            Err(e) => skipped.push((i + 1, format!("not JSON: {e}"))),
        }
    }
    if !skipped.is_empty() && !skip_bad_rows {
        return Err(bad_rows_error(skipped));
    }
    Ok((objects, skipped))
}

fn parse_json(text: &str, format: Format, skip_bad_rows: bool) -> Result<Table, DataError> {
    let (objects, skipped) = json_objects(text, format, skip_bad_rows)?;
    objects_to_table(objects.into_iter().map(|(_, o)| o).collect(), skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_by_name_then_content() {
        assert_eq!(Format::detect("a.tsv", "x,y"), Format::Tsv);
        assert_eq!(Format::detect("a.jsonl", "{}"), Format::JsonLines);
        assert_eq!(Format::detect("a.json", "[{}]"), Format::JsonArray);
        assert_eq!(Format::detect("data", "text\tlabel\nx\t1"), Format::Tsv);
        assert_eq!(Format::detect("data", "{\"text\":1}"), Format::JsonLines);
        assert_eq!(Format::detect("data.csv", "text,label"), Format::Csv);
    }

    #[test]
    fn csv_with_quotes_and_commas_parses() {
        let t = parse("text,label\n\"Hello, world\",1\n\"say \"\"hi\"\"\",0\n", Format::Csv, false).unwrap();
        assert_eq!(t.columns, vec!["text", "label"]);
        assert_eq!(t.rows, vec![vec!["Hello, world", "1"], vec!["say \"hi\"", "0"]]);
    }

    #[test]
    fn rows_with_wrong_field_counts_are_named_or_skipped() {
        let text = "text,label\ngood,1\nbad\nfine,0\n";
        match parse(text, Format::Csv, false) {
            Err(DataError::BadRows { count: 1, first }) => assert_eq!(first[0].0, 3),
            other => panic!("expected a bad-row error, got {other:?}"),
        }
        let t = parse(text, Format::Csv, true).unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.skipped.len(), 1);
    }

    #[test]
    fn json_lines_report_bad_lines() {
        let text = "{\"text\":\"a\",\"label\":1}\nnot json\n{\"text\":\"b\",\"label\":0}\n";
        match parse(text, Format::JsonLines, false) {
            Err(DataError::BadRows { count: 1, first }) => assert_eq!(first[0].0, 2),
            other => panic!("expected a bad-row error, got {other:?}"),
        }
        assert_eq!(parse(text, Format::JsonLines, true).unwrap().rows.len(), 2);
    }

    #[test]
    fn json_arrays_take_numbers_as_text() {
        let t =
            parse("[{\"text\":\"x\",\"class\":0},{\"text\":\"y\",\"class\":1},{}]", Format::JsonArray, false).unwrap();
        assert_eq!(t.columns, vec!["text", "class"]);
        assert_eq!(t.rows[1], vec!["y", "1"]);
        assert_eq!(t.rows[2], vec!["", ""]);
    }

    #[test]
    fn line_breaks_inside_quoted_fields_are_counted() {
        // Line 4 opens a quote that only line 7 closes: lines 4 to 7 become one cell.
        let text = "text,label\n\"two\nlines\",a\n\"open,b\nc,d\ne,f\ng\",h\ni,j\n";
        let t = parse(text, Format::Csv, true).unwrap();
        assert_eq!(t.quoted_lines, Some(QuotedLines { breaks: 4, longest_from: 4, longest_to: 7 }));
        assert_eq!(t.rows.len(), 3);
        assert_eq!(parse("text,label\na,b\n", Format::Csv, false).unwrap().quoted_lines, None);
    }

    #[test]
    fn objects_with_keys_of_their_own_are_refused() {
        let text: String = (0..=MAX_COLUMNS).map(|i| format!("{{\"k{i}\": 1}}\n")).collect();
        let err = parse(&text, Format::JsonLines, false).unwrap_err();
        assert!(err.to_string().starts_with("the file has 257 columns (or JSON keys), more than 256"), "{err}");
        let header: Vec<String> = (0..=MAX_COLUMNS).map(|i| format!("c{i}")).collect();
        assert!(parse(&header.join(","), Format::Csv, false).is_err());
    }

    #[test]
    fn empty_and_non_utf8_input_fail_clearly() {
        assert!(matches!(parse("  \n", Format::Csv, false), Err(DataError::Empty)));
        assert!(matches!(parse("text,label\n", Format::Csv, false), Err(DataError::Empty)));
        let err = decode_utf8(b"text,label\nok,1\n\xff\xfe,0\n").unwrap_err();
        assert!(matches!(err, DataError::NotUtf8 { line: 3, .. }), "{err:?}");
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert!(matches!(decode_utf8(png), Err(DataError::Binary(8))));
    }
}
