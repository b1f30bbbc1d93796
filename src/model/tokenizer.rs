//! tokenizer.json's BERT pipeline, read and run here: added tokens, BertNormalizer, BertPreTokenizer, WordPiece and
//! the `[CLS] $A [SEP]` post-processor, with the same Unicode tables as Hugging Face's `tokenizers` crate.
//!
//! The crate itself (its regex engine and the serde code of every model kind) was about 0.4 MB of the page's gzipped
//! wasm. tests/tokenizer.rs checks that ids equal the crate's on the sample data and Python's on tricky strings.
//! Other pipelines (BPE, Unigram, other normalizers) are refused with the field that names them.

use std::collections::HashMap;

use serde::Deserialize;
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

use super::load::LoadError;

/// One tokenised text: ids with special tokens, and its length before truncation.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    /// Counted up to [`COUNTED_TOKENS`] (or the kept length, if longer): a longer text counts as that long.
    pub full_length: usize,
}

/// How many content tokens of a text are counted for its length, at least: statistics need no more, and a
/// megabyte cell then costs what its first pieces cost.
pub const COUNTED_TOKENS: usize = 4096;

/// Texts are tokenised in pieces of about this many bytes, each cut before whitespace (where the pre-tokenizer
/// splits anyway), until the counted tokens are reached.
const CHUNK_BYTES: usize = 16 * 1024;

/// Most characters `max_input_chars_per_word` may allow (`tokenizers`' default is 100): a word is matched in time
/// quadratic in its length.
const MAX_CHARS_PER_WORD: usize = 1000;

/// Most special tokens the post-processor may put around a text.
const MAX_SPECIAL_TOKENS: usize = 16;

pub struct TextTokenizer {
    vocab: HashMap<String, u32>,
    /// Added tokens matched in the raw text, then those matched in the normalized text (content normalized).
    raw_added: Vec<AddedToken>,
    normalized_added: Vec<AddedToken>,
    normalizer: Option<BertNormalizer>,
    wordpiece: WordPiece,
    /// The ids around a text: `[CLS]` before, `[SEP]` after for BERT.
    before: Vec<u32>,
    after: Vec<u32>,
}

impl TextTokenizer {
    pub fn from_bytes(json: &[u8]) -> Result<Self, LoadError> {
        let file: TokenizerFile =
            serde_json::from_slice(json).map_err(|e| LoadError::Tokenizer(format!("does not parse: {e}")))?;
        let model: WordPieceFile = section(&file.model, "model", &["WordPiece"])?.1;
        let normalizer: Option<BertNormalizer> = match &file.normalizer {
            Some(n) => Some(section::<BertNormalizerFile>(n, "normalizer", &["BertNormalizer"])?.1.into()),
            None => None,
        };
        match &file.pre_tokenizer {
            Some(p) => section::<serde_json::Value>(p, "pre_tokenizer", &["BertPreTokenizer"])?,
            None => return Err(LoadError::Tokenizer(format!("pre_tokenizer is null; {SUPPORTED}"))),
        };
        let (before, after) = match &file.post_processor {
            None => (vec![], vec![]),
            Some(p) => {
                match section::<serde_json::Value>(p, "post_processor", &["TemplateProcessing", "BertProcessing"])? {
                    ("BertProcessing", _) => {
                        let bert: BertProcessingFile = parse_section(p, "post_processor")?;
                        (vec![bert.cls.1], vec![bert.sep.1])
                    }
                    _ => {
                        let template: TemplateFile = parse_section(p, "post_processor")?;
                        template_ids(&template.single, &template.special_tokens)?
                    }
                }
            }
        };
        let unk_id = *model.vocab.get(&model.unk_token).ok_or_else(|| {
            LoadError::Tokenizer(format!("the unknown token '{}' is not in model.vocab", model.unk_token))
        })?;
        let (mut raw_added, mut normalized_added) = (vec![], vec![]);
        for token in file.added_tokens {
            if token.single_word {
                return Err(LoadError::Tokenizer(format!(
                    "added token '{}' is single_word, which peft-lab does not support",
                    token.content
                )));
            }
            // A token that is empty (or normalizes to nothing: a control character, a lone accent) would match
            // everywhere without advancing.
            let (token, normalized) = match (&normalizer, token.normalized) {
                (Some(n), true) => (AddedToken { content: n.normalize(&token.content), ..token }, true),
                _ => (token, false),
            };
            if token.content.is_empty() {
                continue;
            }
            (if normalized { &mut normalized_added } else { &mut raw_added }).push(token);
        }
        if model.max_input_chars_per_word > MAX_CHARS_PER_WORD {
            return Err(LoadError::Tokenizer(format!(
                "model.max_input_chars_per_word is {}; at most {MAX_CHARS_PER_WORD} (tokenizers' default is 100)",
                model.max_input_chars_per_word
            )));
        }
        if before.len() + after.len() > MAX_SPECIAL_TOKENS {
            return Err(LoadError::Tokenizer(format!(
                "post_processor puts {} special tokens around each text; at most {MAX_SPECIAL_TOKENS}",
                before.len() + after.len()
            )));
        }
        let wordpiece = WordPiece {
            unk_id,
            prefix: model.continuing_subword_prefix,
            max_chars_per_word: model.max_input_chars_per_word,
        };
        Ok(Self { vocab: model.vocab, raw_added, normalized_added, normalizer, wordpiece, before, after })
    }

    /// The largest id this tokenizer can produce, with its token: the embedding table needs a row for it.
    pub fn max_id(&self) -> (u32, String) {
        let vocab = self.vocab.iter().map(|(token, &id)| (id, token.clone()));
        let added = self.raw_added.iter().chain(&self.normalized_added).map(|a| (a.id, a.content.clone()));
        let special = self.before.iter().chain(&self.after).map(|&id| (id, "a post_processor special token".into()));
        vocab.chain(added).chain(special).max_by_key(|(id, _)| *id).unwrap_or((self.wordpiece.unk_id, String::new()))
    }

    /// How many special tokens go around each text (`[CLS]` and `[SEP]`: 2).
    pub fn special_tokens(&self) -> usize {
        self.before.len() + self.after.len()
    }

    pub fn pad_id(&self) -> u32 {
        self.token_to_id("[PAD]").unwrap_or(0)
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        let added = self.raw_added.iter().chain(&self.normalized_added).find(|a| a.content == token);
        added.map(|a| a.id).or_else(|| self.vocab.get(token).copied())
    }

    /// Encodes with special tokens; texts longer than `max_length` lose content from the end, special tokens kept
    /// (`tokenizers`' own truncation). Any text encodes: what the vocabulary lacks becomes the unknown token.
    pub fn encode_all<S: AsRef<str>>(&self, texts: &[S], max_length: usize) -> Vec<Encoded> {
        let room = max_length.saturating_sub(self.before.len() + self.after.len());
        texts
            .iter()
            .map(|text| {
                let counted = room.max(COUNTED_TOKENS);
                let content = self.content_ids(text.as_ref(), counted);
                let full_length = self.special_tokens() + content.len().min(counted);
                let kept = &content[..content.len().min(room)];
                let ids = [self.before.as_slice(), kept, self.after.as_slice()].concat();
                Encoded { ids, full_length }
            })
            .collect()
    }

    /// The ids of a text without special tokens: all of them up to `limit`, possibly more (a piece's worth).
    fn content_ids(&self, text: &str, limit: usize) -> Vec<u32> {
        let mut ids = vec![];
        let mut rest = text;
        while !rest.is_empty() && ids.len() <= limit {
            let end = piece_end(rest);
            self.push_content_ids(&rest[..end], &mut ids);
            rest = &rest[end..];
        }
        ids
    }

    fn push_content_ids(&self, text: &str, ids: &mut Vec<u32>) {
        for raw in split_added(text, &self.raw_added) {
            let plain = match raw {
                Piece::Added(id) => {
                    ids.push(id);
                    continue;
                }
                Piece::Text(plain) => plain,
            };
            let normalized = match &self.normalizer {
                Some(n) => n.normalize(plain),
                None => plain.to_string(),
            };
            for piece in split_added(&normalized, &self.normalized_added) {
                match piece {
                    Piece::Added(id) => ids.push(id),
                    Piece::Text(text) => {
                        for word in pre_tokenize(text) {
                            self.wordpiece.push_ids(word, &self.vocab, ids);
                        }
                    }
                }
            }
        }
    }
}

/// Where the first piece of `text` ends: before the first whitespace at or after [`CHUNK_BYTES`], or at its end.
fn piece_end(text: &str) -> usize {
    if text.len() <= CHUNK_BYTES {
        return text.len();
    }
    let mut at = CHUNK_BYTES;
    while !text.is_char_boundary(at) {
        at += 1;
    }
    text[at..].char_indices().find(|(_, c)| c.is_whitespace()).map_or(text.len(), |(i, _)| at + i)
}

/// `single`'s ids before and after `$A`, looked up in `special_tokens`.
fn template_ids(
    single: &[TemplatePiece],
    specials: &HashMap<String, SpecialTokenFile>,
) -> Result<IdsAround, LoadError> {
    let (mut before, mut after, mut seen_sequence) = (vec![], vec![], false);
    for piece in single {
        match piece {
            TemplatePiece::Sequence { id } if id == "A" && !seen_sequence => seen_sequence = true,
            TemplatePiece::Sequence { id } => {
                return Err(LoadError::Tokenizer(format!(
                    "post_processor.single uses sequence '{id}'; a single text's template has one $A"
                )));
            }
            TemplatePiece::SpecialToken { id } => {
                let special = specials.get(id).ok_or_else(|| {
                    LoadError::Tokenizer(format!("post_processor.single names '{id}', which special_tokens lacks"))
                })?;
                (if seen_sequence { &mut after } else { &mut before }).extend(&special.ids);
            }
        }
    }
    if !seen_sequence {
        return Err(LoadError::Tokenizer("post_processor.single has no $A".into()));
    }
    Ok((before, after))
}

type IdsAround = (Vec<u32>, Vec<u32>);

enum Piece<'a> {
    Added(u32),
    Text(&'a str),
}

/// Splits out added tokens, leftmost and longest first, as `tokenizers`' added vocabulary does (`lstrip`/`rstrip`
/// take the whitespace beside a match with it).
fn split_added<'a>(text: &'a str, added: &[AddedToken]) -> Vec<Piece<'a>> {
    let mut pieces = vec![];
    let (mut done, mut at) = (0, 0);
    while at < text.len() {
        let longest = added.iter().filter(|a| text[at..].starts_with(&a.content)).max_by_key(|a| a.content.len());
        let Some(token) = longest else {
            at += text[at..].chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let mut start = at;
        let mut stop = at + token.content.len();
        if token.lstrip {
            start = done.max(text[..start].trim_end().len());
        }
        if token.rstrip {
            stop = text.len() - text[stop..].trim_start().len();
        }
        if done < start {
            pieces.push(Piece::Text(&text[done..start]));
        }
        pieces.push(Piece::Added(token.id));
        (done, at) = (stop, stop);
    }
    if done < text.len() {
        pieces.push(Piece::Text(&text[done..]));
    }
    pieces
}

/// BertPreTokenizer: words split at whitespace (dropped) and at punctuation (each mark its own word).
fn pre_tokenize(text: &str) -> impl Iterator<Item = &str> {
    text.split(char::is_whitespace).flat_map(|chunk| {
        let mut words = vec![];
        let mut start = 0;
        for (i, c) in chunk.char_indices() {
            if c.is_ascii_punctuation() || c.is_punctuation() {
                words.extend([&chunk[start..i], &chunk[i..i + c.len_utf8()]]);
                start = i + c.len_utf8();
            }
        }
        words.push(&chunk[start..]);
        words.into_iter().filter(|w| !w.is_empty())
    })
}

struct WordPiece {
    unk_id: u32,
    prefix: String,
    max_chars_per_word: usize,
}

impl WordPiece {
    /// Greedy longest match from the left, continuations prefixed (`##`); a word with any unmatched rest, or longer
    /// than `max_input_chars_per_word`, is one unknown token.
    fn push_ids(&self, word: &str, vocab: &HashMap<String, u32>, ids: &mut Vec<u32>) {
        if word.chars().count() > self.max_chars_per_word {
            ids.push(self.unk_id);
            return;
        }
        let first = ids.len();
        let mut start = 0;
        let mut candidate = String::new();
        while start < word.len() {
            let mut end = word.len();
            let found = loop {
                candidate.clear();
                if start > 0 {
                    candidate.push_str(&self.prefix);
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = vocab.get(&candidate) {
                    break Some(id);
                }
                end -= word[start..end].chars().next_back().map_or(1, char::len_utf8);
                if end == start {
                    break None;
                }
            };
            let Some(id) = found else {
                ids.truncate(first);
                ids.push(self.unk_id);
                return;
            };
            ids.push(id);
            start = end;
        }
    }
}

struct BertNormalizer {
    clean_text: bool,
    handle_chinese_chars: bool,
    strip_accents: bool,
    lowercase: bool,
}

impl BertNormalizer {
    /// Cleaning (control characters dropped, whitespace made spaces), spaces around CJK ideographs, accents
    /// stripped (NFD, nonspacing marks dropped), lowercase: in `tokenizers`' order.
    fn normalize(&self, text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        if self.clean_text {
            chars.retain(|&c| !(c == '\0' || c == '\u{fffd}' || is_control(c)));
            for c in &mut chars {
                if c.is_whitespace() {
                    *c = ' ';
                }
            }
        }
        if self.handle_chinese_chars {
            chars = chars.into_iter().flat_map(|c| if is_chinese(c) { vec![' ', c, ' '] } else { vec![c] }).collect();
        }
        let mut text: String = chars.into_iter().collect();
        if self.strip_accents {
            text = text.nfd().map(|(c, _)| c).filter(|c| !c.is_mark_nonspacing()).collect();
        }
        if self.lowercase {
            text = text.chars().flat_map(char::to_lowercase).collect();
        }
        text
    }
}

/// Unicode's "other" categories (Cc, Cf, Cn, Co, Cs), except the three that count as whitespace.
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// The CJK ideograph blocks that BERT splits into single characters.
fn is_chinese(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

const SUPPORTED: &str = "peft-lab reads BERT WordPiece tokenizers (BertNormalizer, BertPreTokenizer, WordPiece, \
                         TemplateProcessing or BertProcessing)";

/// A section's `type`, checked against the supported ones, and the section parsed as `T`.
fn section<'a, T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    field: &str,
    supported: &[&'a str],
) -> Result<(&'a str, T), LoadError> {
    let kind = value.get("type").and_then(|t| t.as_str());
    let Some(&kind) = supported.iter().find(|&&s| Some(s) == kind) else {
        let found = kind.map_or("missing".to_string(), |k| format!("'{k}'"));
        return Err(LoadError::Tokenizer(format!("{field}.type is {found}; {SUPPORTED}")));
    };
    Ok((kind, parse_section(value, field)?))
}

fn parse_section<T: serde::de::DeserializeOwned>(value: &serde_json::Value, field: &str) -> Result<T, LoadError> {
    T::deserialize(value).map_err(|e| LoadError::Tokenizer(format!("{field} does not parse: {e}")))
}

// tokenizer.json, the parts this pipeline reads.

#[derive(Deserialize)]
struct TokenizerFile {
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    normalizer: Option<serde_json::Value>,
    pre_tokenizer: Option<serde_json::Value>,
    post_processor: Option<serde_json::Value>,
    model: serde_json::Value,
}

#[derive(Deserialize)]
struct AddedToken {
    id: u32,
    content: String,
    #[serde(default)]
    single_word: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default = "yes")]
    normalized: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct WordPieceFile {
    vocab: HashMap<String, u32>,
    unk_token: String,
    continuing_subword_prefix: String,
    max_input_chars_per_word: usize,
}

#[derive(Deserialize)]
struct BertNormalizerFile {
    clean_text: bool,
    handle_chinese_chars: bool,
    /// null: strip accents exactly when lowercasing (`tokenizers`' rule).
    strip_accents: Option<bool>,
    lowercase: bool,
}

impl From<BertNormalizerFile> for BertNormalizer {
    fn from(n: BertNormalizerFile) -> Self {
        Self {
            clean_text: n.clean_text,
            handle_chinese_chars: n.handle_chinese_chars,
            strip_accents: n.strip_accents.unwrap_or(n.lowercase),
            lowercase: n.lowercase,
        }
    }
}

#[derive(Deserialize)]
struct BertProcessingFile {
    cls: (String, u32),
    sep: (String, u32),
}

#[derive(Deserialize)]
struct TemplateFile {
    single: Vec<TemplatePiece>,
    special_tokens: HashMap<String, SpecialTokenFile>,
}

#[derive(Deserialize)]
enum TemplatePiece {
    Sequence { id: String },
    SpecialToken { id: String },
}

#[derive(Deserialize)]
struct SpecialTokenFile {
    ids: Vec<u32>,
}
