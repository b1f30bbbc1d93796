//! Byte-level BPE, the tokenizer of GPT-2 and of Llama-family decoders, read from a `tokenizer.json` or from a
//! GGUF file's vocabulary and merges: special tokens are split off first, the rest is cut into pieces by the
//! model's pre-tokenizer (GPT-2's, Llama-3's or SmolLM's pattern, written out as code: the patterns need
//! look-ahead), each piece's bytes are mapped to GPT-2's printable alphabet and merged by rank.

use std::collections::HashMap;

use unicode_categories::UnicodeCategories;

use super::gguf::{Gguf, Value};
use super::load::LoadError;

const SUPPORTED: &str = "supported: byte-level BPE with the GPT-2, Llama-3 or SmolLM pre-tokenizer";

/// How text is cut into pieces before merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT-2's pattern: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    Gpt2,
    /// Llama-3's: contractions in any case, a letter run with one leading non-letter, digits in threes, newlines
    /// kept with the whitespace before them.
    Llama3,
    /// SmolLM's: every digit on its own, then GPT-2's pattern.
    SmolLm,
}

/// The regex of a tokenizer.json `Split` pre-tokenizer that is Llama-3's pattern.
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A byte-level BPE tokenizer.
pub struct BpeTokenizer {
    pre: PreTokenizer,
    vocab: HashMap<String, u32>,
    /// Id to token text (GPT-2's alphabet), for decoding.
    tokens: Vec<String>,
    /// (left, right) ids to (rank, merged id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Tokens matched in the text before anything else, longest first.
    specials: Vec<(String, u32)>,
    /// GPT-2's byte-to-character table and its inverse.
    byte_chars: [char; 256],
    char_bytes: HashMap<char, u8>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// Whether a text the model reads alone starts with `bos` (Llama 2 and 3, TinyLlama; not GPT-2 or SmolLM2), as
    /// the tokenizer.json's post-processor or the GGUF file's `tokenizer.ggml.add_bos_token` says.
    pub add_bos: bool,
}

/// GPT-2's `bytes_to_unicode`: printable bytes stand for themselves, the others for 256 + their rank.
fn byte_chars() -> [char; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        out[b as usize] = if printable(b) {
            char::from(b)
        } else {
            next += 1;
            char::from_u32(next - 1).expect("below the surrogates")
        };
    }
    out
}

impl BpeTokenizer {
    /// `tokens` in id order, `merges` as "left right", `specials` (added and control tokens) by id.
    fn new(
        pre: PreTokenizer,
        tokens: Vec<String>,
        merges: &[(String, String)],
        specials: Vec<u32>,
        bos: Option<u32>,
        eos: Option<u32>,
    ) -> Result<Self, LoadError> {
        let mut vocab = HashMap::with_capacity(tokens.len());
        for (id, token) in tokens.iter().enumerate() {
            vocab.entry(token.clone()).or_insert(id as u32);
        }
        let mut merge_ranks = HashMap::with_capacity(merges.len());
        for (rank, (left, right)) in merges.iter().enumerate() {
            let id = |t: &str| {
                vocab.get(t).copied().ok_or_else(|| {
                    LoadError::Tokenizer(format!("merge {rank} ('{left} {right}') uses '{t}', which is not a token"))
                })
            };
            let pair = (id(left)?, id(right)?);
            let merged = id(&format!("{left}{right}"))?;
            merge_ranks.entry(pair).or_insert((rank as u32, merged));
        }
        let count = tokens.len() as u32;
        for id in [bos, eos].into_iter().flatten().chain(specials.iter().copied()) {
            if id >= count {
                return Err(LoadError::Tokenizer(format!("special token id {id} is beyond the {count} tokens")));
            }
        }
        let mut specials: Vec<(String, u32)> =
            specials.into_iter().map(|id| (tokens[id as usize].clone(), id)).filter(|(t, _)| !t.is_empty()).collect();
        specials.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        let byte_chars = byte_chars();
        let char_bytes = byte_chars.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        Ok(Self { pre, vocab, tokens, merges: merge_ranks, specials, byte_chars, char_bytes, bos, eos, add_bos: false })
    }

    /// The tokenizer a GGUF file carries (`tokenizer.ggml.model` "gpt2").
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, LoadError> {
        let meta = |e: super::gguf::GgufError| LoadError::GgufTokenizer(e.to_string());
        let model = gguf
            .get_str("tokenizer.ggml.model")
            .map_err(meta)?
            .ok_or_else(|| LoadError::GgufTokenizer("there is none (no tokenizer.ggml.model)".into()))?;
        if model != "gpt2" {
            return Err(LoadError::GgufTokenizer(format!("it is '{model}'; {SUPPORTED}")));
        }
        let pre = match gguf.get_str("tokenizer.ggml.pre").map_err(meta)?.unwrap_or("default") {
            "smollm" => PreTokenizer::SmolLm,
            "llama-bpe" | "llama3" => PreTokenizer::Llama3,
            "gpt-2" | "gpt2" | "default" => PreTokenizer::Gpt2,
            other => return Err(LoadError::GgufTokenizer(format!("the pre-tokenizer is '{other}'; {SUPPORTED}"))),
        };
        let strings = |key: &str| -> Result<Vec<String>, LoadError> {
            match gguf.get(key) {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| LoadError::GgufTokenizer(format!("{key} holds something other than text"))),
                _ => Err(LoadError::GgufTokenizer(format!("there is no {key}"))),
            }
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?
            .iter()
            .map(|m| split_merge(m).map_err(in_gguf))
            .collect::<Result<Vec<_>, _>>()?;
        // llama.cpp's token types: 3 control (<|im_start|>), 4 user-defined; both are matched whole.
        let specials = match gguf.get("tokenizer.ggml.token_type") {
            Some(Value::Array(types)) => types
                .iter()
                .enumerate()
                .filter(|(_, t)| matches!(t.as_u64(), Some(3 | 4)))
                .map(|(id, _)| id as u32)
                .collect(),
            _ => Vec::new(),
        };
        let id = |key: &str| -> Result<Option<u32>, LoadError> {
            Ok(gguf.get_u64(key).map_err(meta)?.map(|v| v.min(u32::MAX as u64) as u32))
        };
        let bos = id("tokenizer.ggml.bos_token_id")?;
        let add_bos = gguf.get_bool("tokenizer.ggml.add_bos_token").map_err(meta)?.unwrap_or(false);
        if add_bos && bos.is_none() {
            return Err(LoadError::GgufTokenizer(
                "it adds a start token but names none (tokenizer.ggml.bos_token_id)".into(),
            ));
        }
        let tokenizer = Self::new(pre, tokens, &merges, specials, bos, id("tokenizer.ggml.eos_token_id")?);
        Ok(Self { add_bos, ..tokenizer.map_err(in_gguf)? })
    }

    /// The tokenizer of a decoder's tokenizer.json (model "BPE", a byte-level pre-tokenizer).
    pub fn from_tokenizer_json(json: &[u8]) -> Result<Self, LoadError> {
        let root: serde_json::Value = serde_json::from_slice(json).map_err(|e| LoadError::Tokenizer(e.to_string()))?;
        let model = &root["model"];
        if model["type"] != "BPE" {
            return Err(LoadError::Tokenizer(format!("the model is {}; {SUPPORTED}", model["type"])));
        }
        let pre = pre_tokenizer_of(&root["pre_tokenizer"])?;
        let vocab =
            model["vocab"].as_object().ok_or_else(|| LoadError::Tokenizer("model.vocab is not a map".into()))?;
        let mut tokens = vec![String::new(); vocab.len()];
        for (token, id) in vocab {
            match id.as_u64().filter(|&id| (id as usize) < tokens.len()) {
                Some(id) => tokens[id as usize] = token.clone(),
                None => {
                    return Err(LoadError::Tokenizer(format!(
                        "'{token}' has id {id}; ids must run from 0 to {}",
                        tokens.len() - 1
                    )));
                }
            }
        }
        let mut specials = Vec::new();
        for added in root["added_tokens"].as_array().into_iter().flatten() {
            let (Some(content), Some(id)) = (added["content"].as_str(), added["id"].as_u64()) else { continue };
            let id = id as usize;
            if id >= tokens.len() {
                tokens.resize(id + 1, String::new());
            }
            tokens[id] = content.to_string();
            specials.push(id as u32);
        }
        let merges = model["merges"]
            .as_array()
            .ok_or_else(|| LoadError::Tokenizer("model.merges is not a list".into()))?
            .iter()
            .map(|m| match m {
                serde_json::Value::String(s) => split_merge(s),
                serde_json::Value::Array(pair) => {
                    match (pair.first().and_then(|v| v.as_str()), pair.get(1).and_then(|v| v.as_str())) {
                        (Some(a), Some(b)) if pair.len() == 2 => Ok((a.to_string(), b.to_string())),
                        _ => Err(LoadError::Tokenizer(format!("merge {m} is not a pair of tokens"))),
                    }
                }
                other => Err(LoadError::Tokenizer(format!("merge {other} is not a pair of tokens"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tokenizer = Self::new(pre, tokens, &merges, specials, None, None)?;
        match start_token(&root["post_processor"])? {
            None => Ok(tokenizer),
            Some(StartToken { id, token }) => {
                let id = id.filter(|&id| (id as usize) < tokenizer.vocab_size()).or(tokenizer.token_id(&token));
                let id = id.ok_or_else(|| {
                    LoadError::Tokenizer(format!(
                        "the post-processor starts texts with '{token}', which is not a token"
                    ))
                })?;
                Ok(Self { bos: Some(id), add_bos: true, ..tokenizer })
            }
        }
    }

    pub fn pre_tokenizer(&self) -> PreTokenizer {
        self.pre
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The id padding positions hold: masked and never learned, so any real token does; the end token, as
    /// transformers' decoders are usually padded.
    pub fn pad_id(&self) -> u32 {
        self.eos.unwrap_or(0)
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// The start token a text the model reads alone begins with, if the tokenizer adds one.
    pub fn start(&self) -> Option<u32> {
        self.bos.filter(|_| self.add_bos)
    }

    /// The ids of a text the model reads alone: the start token first where the tokenizer adds one, as transformers'
    /// `tokenizer(text)` does.
    pub fn encode_alone(&self, text: &str) -> Vec<u32> {
        self.start().into_iter().chain(self.encode(text)).collect()
    }

    /// The ids of `text`, special tokens matched whole, nothing added.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // The earliest special token, the longest at that place.
            let next = self
                .specials
                .iter()
                .filter_map(|(token, id)| rest.find(token.as_str()).map(|at| (at, std::cmp::Reverse(token.len()), *id)))
                .min();
            let (plain, after) = match next {
                Some((at, std::cmp::Reverse(len), _)) => (&rest[..at], &rest[at + len..]),
                None => (rest, ""),
            };
            for piece in pieces(self.pre, plain) {
                self.encode_piece(piece, &mut ids);
            }
            if let Some((_, _, id)) = next {
                ids.push(id);
            }
            rest = after;
        }
        ids
    }

    /// One piece: its bytes as GPT-2's characters, each a token, then merged lowest rank first (the leftmost of
    /// equal ranks), as Hugging Face's BPE does. A character with no token is dropped, as there (no unknown token).
    fn encode_piece(&self, piece: &str, ids: &mut Vec<u32>) {
        let mut symbols: Vec<u32> = piece
            .bytes()
            .filter_map(|b| {
                let mut buffer = [0u8; 4];
                self.vocab.get(&*self.byte_chars[b as usize].encode_utf8(&mut buffer)).copied()
            })
            .collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(at, pair)| self.merges.get(&(pair[0], pair[1])).map(|&(rank, id)| (rank, at, id)))
                .min();
            let Some((_, at, id)) = best else { break };
            symbols[at] = id;
            symbols.remove(at + 1);
        }
        ids.extend(symbols);
    }

    /// The text of `ids` (bytes that do not form UTF-8 become U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
    }

    /// The bytes of `ids`: a character may be split across tokens, so a stream of tokens decodes as bytes first.
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for &id in ids {
            let Some(token) = self.tokens.get(id as usize) else { continue };
            if self.specials.iter().any(|(_, s)| *s == id) {
                bytes.extend(token.as_bytes());
            } else {
                bytes.extend(token.chars().filter_map(|c| self.char_bytes.get(&c)));
            }
        }
        bytes
    }
}

/// What a post-processor puts before a text: its id where the template gives one, and its token.
struct StartToken {
    id: Option<u32>,
    token: String,
}

/// The token a tokenizer.json's post-processor puts before a single text: a `TemplateProcessing` (alone, or in a
/// `Sequence` of processors, as Llama 3's) whose `single` template starts with a special token, as Llama's
/// `<s> $A`. None for the others (GPT-2's `ByteLevel`, none at all); a template that adds anything after the text,
/// or two tokens before it, is refused rather than run otherwise than transformers would.
fn start_token(processor: &serde_json::Value) -> Result<Option<StartToken>, LoadError> {
    match processor["type"].as_str() {
        Some("Sequence") => {
            let mut start = None;
            for inner in processor["processors"].as_array().into_iter().flatten() {
                start = start.or(start_token(inner)?);
            }
            Ok(start)
        }
        Some("TemplateProcessing") => {
            let single = processor["single"].as_array().cloned().unwrap_or_default();
            let special = |piece: &serde_json::Value| piece["SpecialToken"]["id"].as_str().map(str::to_string);
            match single.as_slice() {
                [only] if only.get("Sequence").is_some() => Ok(None),
                [first, text] if text.get("Sequence").is_some() && special(first).is_some() => {
                    // The template names an entry of `special_tokens`, whose ids (or tokens) are what goes in.
                    let key = special(first).expect("matched");
                    let entry = &processor["special_tokens"][&key];
                    let id = entry["ids"][0].as_u64().and_then(|id| u32::try_from(id).ok());
                    let token = entry["tokens"][0].as_str().unwrap_or(&key).to_string();
                    Ok(Some(StartToken { id, token }))
                }
                _ => Err(LoadError::Tokenizer(format!(
                    "the post-processor's template {} is not one this tokenizer runs (a start token, then the text)",
                    serde_json::Value::Array(single)
                ))),
            }
        }
        _ => Ok(None),
    }
}

/// A tokenizer error as found in a GGUF file rather than a tokenizer.json.
fn in_gguf(error: LoadError) -> LoadError {
    match error {
        LoadError::Tokenizer(why) => LoadError::GgufTokenizer(why),
        other => other,
    }
}

/// "left right" of a merges list.
fn split_merge(merge: &str) -> Result<(String, String), LoadError> {
    match merge.split_once(' ') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains(' ') => Ok((a.into(), b.into())),
        _ => Err(LoadError::Tokenizer(format!("merge '{merge}' is not two tokens separated by a space"))),
    }
}

/// Which of ours a tokenizer.json pre-tokenizer is.
fn pre_tokenizer_of(pre: &serde_json::Value) -> Result<PreTokenizer, LoadError> {
    let byte_level_regex = |p: &serde_json::Value| p["type"] == "ByteLevel" && p["use_regex"] != false;
    let byte_level_plain = |p: &serde_json::Value| p["type"] == "ByteLevel" && p["use_regex"] == false;
    let no_prefix_space = |p: &serde_json::Value| p["add_prefix_space"] != true;
    let found = match pre["type"].as_str() {
        Some("ByteLevel") if byte_level_regex(pre) && no_prefix_space(pre) => Some(PreTokenizer::Gpt2),
        Some("Sequence") => {
            let parts = pre["pretokenizers"].as_array().map(Vec::as_slice).unwrap_or_default();
            match parts {
                [digits, byte_level]
                    if digits["type"] == "Digits"
                        && digits["individual_digits"] == true
                        && byte_level_regex(byte_level)
                        && no_prefix_space(byte_level) =>
                {
                    Some(PreTokenizer::SmolLm)
                }
                [split, byte_level]
                    if split["type"] == "Split"
                        && split["pattern"]["Regex"] == LLAMA3_PATTERN
                        && byte_level_plain(byte_level)
                        && no_prefix_space(byte_level) =>
                {
                    Some(PreTokenizer::Llama3)
                }
                _ => None,
            }
        }
        _ => None,
    };
    found.ok_or_else(|| LoadError::Tokenizer(format!("the pre_tokenizer is {pre}; {SUPPORTED}")))
}

/// The character classes of the patterns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_letter() {
        Class::Letter
    } else if c.is_number() {
        Class::Number
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Other
    }
}

/// `text` cut into pieces by `pre`.
pub fn pieces(pre: PreTokenizer, text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    match pre {
        PreTokenizer::Gpt2 => split(text, gpt2_match, &mut out),
        PreTokenizer::Llama3 => split(text, llama3_match, &mut out),
        PreTokenizer::SmolLm => {
            // Every numeric character alone (Hugging Face's Digits with individual_digits), GPT-2's pattern between.
            let mut start = 0;
            for (at, c) in text.char_indices() {
                if c.is_number() {
                    split(&text[start..at], gpt2_match, &mut out);
                    out.push(&text[at..at + c.len_utf8()]);
                    start = at + c.len_utf8();
                }
            }
            split(&text[start..], gpt2_match, &mut out);
        }
    }
    out
}

/// Repeatedly takes the match at the start of what is left (`matcher` gives its length in chars).
fn split<'a>(text: &'a str, matcher: fn(&[char]) -> usize, out: &mut Vec<&'a str>) {
    let chars: Vec<char> = text.chars().collect();
    let (mut at, mut byte) = (0, 0);
    while at < chars.len() {
        let n = matcher(&chars[at..]).max(1);
        let len: usize = chars[at..at + n].iter().map(|c| c.len_utf8()).sum();
        out.push(&text[byte..byte + len]);
        at += n;
        byte += len;
    }
}

/// Chars from the start of `s` while `keep`.
fn run(s: &[char], keep: impl Fn(char) -> bool) -> usize {
    s.iter().take_while(|&&c| keep(c)).count()
}

/// The contraction at the start of `s` ('s 't 're 've 'm 'll 'd), its length.
fn contraction(s: &[char], any_case: bool) -> Option<usize> {
    if s.first() != Some(&'\'') {
        return None;
    }
    let lower = |i: usize| s.get(i).map(|c| if any_case { c.to_ascii_lowercase() } else { *c });
    match (lower(1), lower(2)) {
        (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => Some(3),
        (Some('s' | 't' | 'm' | 'd'), _) => Some(2),
        _ => None,
    }
}

/// `\s+(?!\S)|\s+` at the start of `s` (which starts with whitespace): the run, less its last character when
/// something other than whitespace follows and the run is longer than one.
fn trailing_space(s: &[char]) -> usize {
    let n = run(s, char::is_whitespace);
    if n < s.len() && n > 1 { n - 1 } else { n }
}

/// GPT-2's pattern at the start of `s`, its length in chars.
fn gpt2_match(s: &[char]) -> usize {
    if let Some(n) = contraction(s, false) {
        return n;
    }
    let (lead, body) = if s[0] == ' ' && s.len() > 1 && class(s[1]) != Class::Space { (1, &s[1..]) } else { (0, s) };
    match class(body[0]) {
        Class::Space => trailing_space(s),
        kind => lead + run(body, |c| class(c) == kind),
    }
}

/// Llama-3's pattern at the start of `s`, its length in chars.
fn llama3_match(s: &[char]) -> usize {
    if let Some(n) = contraction(s, true) {
        return n;
    }
    let newline = |c: char| c == '\r' || c == '\n';
    let first = class(s[0]);
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if first == Class::Letter {
        return run(s, |c| class(c) == Class::Letter);
    }
    if !newline(s[0]) && first != Class::Number && s.get(1).is_some_and(|&c| class(c) == Class::Letter) {
        return 1 + run(&s[1..], |c| class(c) == Class::Letter);
    }
    // \p{N}{1,3}
    if first == Class::Number {
        return run(s, |c| class(c) == Class::Number).min(3);
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    let lead = usize::from(s[0] == ' ' && s.get(1).is_some_and(|&c| class(c) == Class::Other));
    if class(s[lead]) == Class::Other {
        let others = run(&s[lead..], |c| class(c) == Class::Other);
        return lead + others + run(&s[lead + others..], newline);
    }
    // \s*[\r\n]+ : the whitespace up to its last newline.
    let spaces = run(s, char::is_whitespace);
    if let Some(last) = s[..spaces].iter().rposition(|&c| newline(c)) {
        return last + 1;
    }
    trailing_space(s)
}
