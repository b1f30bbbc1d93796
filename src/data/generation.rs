//! Data for decoders: plain text for causal language modelling, and prompt→completion examples (JSON Lines or a
//! JSON array: `prompt`/`completion`, `instruction`/`input`/`output`, or chat `messages`), where the loss is on the
//! completion only. Nothing is tokenised here: chat turns are rendered by the model's template when it is known.

use super::error::DataError;
use super::parse::{Format, NumberedObject, bad_rows_error, decode_utf8, json_objects};
use crate::model::chat::Message;

/// One training example for a decoder.
#[derive(Debug, Clone, PartialEq)]
pub enum Example {
    /// A document: the loss is on all of it.
    Text(String),
    /// The model reads `prompt` and learns to write `completion` (the loss is on the completion).
    Completion { prompt: String, completion: String },
    /// A conversation: the loss is on the assistant's turns.
    Chat(Vec<Message>),
}

impl Example {
    fn kind(&self) -> &'static str {
        match self {
            Self::Text(_) => "text",
            Self::Completion { .. } => "prompt→completion",
            Self::Chat(_) => "chat",
        }
    }
}

/// How a plain-text file holds its documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextLayout {
    /// One document per non-blank line.
    Lines,
    /// Documents separated by lines holding only `%`, as `fortune` files are.
    Percent,
    /// The whole file, cut into pieces of the maximum length when tokenised.
    Whole,
}

/// A decoder's dataset and what was made of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationData {
    pub examples: Vec<Example>,
    /// For a text file, the layout used (given, or chosen: `%` lines make it `Percent`, else `Lines`).
    pub layout: Option<TextLayout>,
    /// Lines or records skipped (with `skip_bad_rows`), 1-based, with the reason.
    pub skipped: Vec<(usize, String)>,
}

/// Reads a decoder's dataset: `.txt` (or any file that is not JSON) as plain text in `layout` (chosen when `None`),
/// JSON Lines and JSON arrays as records.
pub fn read(
    file_name: &str,
    bytes: &[u8],
    layout: Option<TextLayout>,
    skip_bad_rows: bool,
) -> Result<GenerationData, DataError> {
    let text = decode_utf8(bytes)?;
    if text.trim().is_empty() {
        return Err(nothing());
    }
    let lower = file_name.to_ascii_lowercase();
    let json = lower.ends_with(".jsonl") || lower.ends_with(".ndjson") || lower.ends_with(".json");
    if !json && (layout.is_some() || !text.trim_start().starts_with(['{', '['])) {
        return read_text(text, layout);
    }
    let format = Format::detect(file_name, text);
    let (objects, skipped) = json_objects(text, format, skip_bad_rows)?;
    read_records(objects, skipped, skip_bad_rows)
}

fn read_text(text: &str, layout: Option<TextLayout>) -> Result<GenerationData, DataError> {
    let percent_line = |line: &str| line.trim_end() == "%";
    let layout = layout.unwrap_or(if text.lines().any(percent_line) { TextLayout::Percent } else { TextLayout::Lines });
    let documents: Vec<String> = match layout {
        TextLayout::Lines => {
            text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).map(String::from).collect()
        }
        TextLayout::Percent => {
            let mut documents = vec![String::new()];
            for line in text.lines() {
                if percent_line(line) {
                    documents.push(String::new());
                } else {
                    let current = documents.last_mut().expect("one at least");
                    if !current.is_empty() {
                        current.push('\n');
                    }
                    current.push_str(line.trim_end());
                }
            }
            documents.into_iter().filter(|d| !d.trim().is_empty()).collect()
        }
        TextLayout::Whole => vec![text.to_string()],
    };
    if documents.is_empty() {
        return Err(nothing());
    }
    Ok(GenerationData {
        examples: documents.into_iter().map(Example::Text).collect(),
        layout: Some(layout),
        skipped: vec![],
    })
}

fn read_records(
    objects: Vec<NumberedObject>,
    mut skipped: Vec<(usize, String)>,
    skip_bad_rows: bool,
) -> Result<GenerationData, DataError> {
    let mut examples = Vec::with_capacity(objects.len());
    let mut first_kind = None;
    for (line, object) in objects {
        match record(line, &object) {
            Ok(example) => {
                let kind = example.kind();
                match first_kind {
                    None => first_kind = Some(kind),
                    Some(first) if first != kind => {
                        return Err(DataError::MixedRecords { line, kind, first_kind: first });
                    }
                    Some(_) => {}
                }
                examples.push(example);
            }
            Err(DataError::BadRecord { line, why }) if skip_bad_rows => skipped.push((line, why)),
            Err(e) => return Err(e),
        }
    }
    skipped.sort_by_key(|(line, _)| *line);
    if examples.is_empty() {
        return Err(if skipped.is_empty() { nothing() } else { bad_rows_error(skipped) });
    }
    Ok(GenerationData { examples, layout: None, skipped })
}

/// One record as an example, by its keys.
fn record(line: usize, object: &serde_json::Map<String, serde_json::Value>) -> Result<Example, DataError> {
    let bad = |why: String| DataError::BadRecord { line, why };
    let text = |key: &str| -> Result<Option<String>, DataError> {
        match object.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(format!("'{key}' must be text, not {}", json_kind(other)))),
        }
    };
    let needed = |key: &str, value: Option<String>| -> Result<String, DataError> {
        match value {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(bad(format!("'{key}' is empty: there is nothing to learn"))),
        }
    };
    if let Some(messages) = object.get("messages") {
        return chat(messages).map(Example::Chat).map_err(bad);
    }
    if object.contains_key("completion") {
        let prompt = text("prompt")?.unwrap_or_default();
        return Ok(Example::Completion { prompt, completion: needed("completion", text("completion")?)? });
    }
    if object.contains_key("output") && object.contains_key("instruction") {
        let instruction = needed("instruction", text("instruction")?)?;
        // Alpaca's records: the input, when there is one, follows the instruction after a blank line.
        let prompt = match text("input")?.filter(|i| !i.trim().is_empty()) {
            Some(input) => format!("{instruction}\n\n{input}"),
            None => instruction,
        };
        return Ok(Example::Completion { prompt, completion: needed("output", text("output")?)? });
    }
    if object.contains_key("text") {
        return Ok(Example::Text(needed("text", text("text")?)?));
    }
    Err(DataError::UnknownRecord { line, keys: object.keys().cloned().collect() })
}

/// A `messages` list: turns of system, user or assistant text, at least one of them the assistant's.
fn chat(messages: &serde_json::Value) -> Result<Vec<Message>, String> {
    let turns = messages
        .as_array()
        .ok_or_else(|| format!("'messages' must be a list of turns, not {}", json_kind(messages)))?;
    let mut out = Vec::with_capacity(turns.len());
    for (i, turn) in turns.iter().enumerate() {
        let field = |key: &str| turn.get(key).and_then(|v| v.as_str());
        let (Some(role), Some(content)) = (field("role"), field("content")) else {
            return Err(format!("turn {} of 'messages' needs \"role\" and \"content\" as text", i + 1));
        };
        if !matches!(role, "system" | "user" | "assistant") {
            return Err(format!("turn {} has role '{role}'; roles are system, user and assistant", i + 1));
        }
        out.push(Message { role: role.into(), content: content.into() });
    }
    if !out.iter().any(|m| m.role == "assistant" && !m.content.trim().is_empty()) {
        return Err("the conversation has no assistant turn: there is nothing to learn".into());
    }
    Ok(out)
}

fn nothing() -> DataError {
    DataError::Parse("the file holds no text: a decoder's dataset needs at least one document or example".into())
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "text",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}
