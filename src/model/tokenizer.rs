//! tokenizer.json through Hugging Face's `tokenizers` crate, so ids equal Python's exactly.

use tokenizers::{Tokenizer, TruncationParams};

use super::load::LoadError;

/// One tokenised text: ids with special tokens, and its length before truncation.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub full_length: usize,
}

pub struct TextTokenizer {
    plain: Tokenizer,
}

impl TextTokenizer {
    pub fn from_bytes(json: &[u8]) -> Result<Self, LoadError> {
        let mut plain = Tokenizer::from_bytes(json).map_err(|e| LoadError::Tokenizer(e.to_string()))?;
        // The file's own padding/truncation settings (sentence-transformers ships 128) are ours to decide.
        plain.with_padding(None);
        plain.with_truncation(None).map_err(|e| LoadError::Tokenizer(e.to_string()))?;
        Ok(Self { plain })
    }

    pub fn pad_id(&self) -> u32 {
        self.plain.token_to_id("[PAD]").unwrap_or(0)
    }

    /// Encodes with special tokens; texts longer than `max_length` are truncated the way `tokenizers`'
    /// own truncation does it (content cut, special tokens kept). The error names the text's index.
    pub fn encode_all<S: AsRef<str>>(&self, texts: &[S], max_length: usize) -> Result<Vec<Encoded>, String> {
        let mut truncating = self.plain.clone();
        truncating
            .with_truncation(Some(TruncationParams { max_length, ..Default::default() }))
            .map_err(|e| e.to_string())?;
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let text = text.as_ref();
                let fail = |e: tokenizers::Error| format!("text {i} cannot be tokenised: {e}");
                let full = self.plain.encode(text, true).map_err(fail)?;
                let full_length = full.get_ids().len();
                let ids = if full_length <= max_length {
                    full.get_ids().to_vec()
                } else {
                    truncating.encode(text, true).map_err(fail)?.get_ids().to_vec()
                };
                Ok(Encoded { ids, full_length })
            })
            .collect()
    }
}
