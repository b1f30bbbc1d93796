//! A decoder's examples as token ids with the labels the loss reads, and their padded batches.
//!
//! Labels follow transformers' convention: a label is the token itself where the loss counts it and -100 where it
//! does not; the model shifts them (position t predicts label t + 1). Documents learn every token; prompt→completion
//! examples learn the completion only; conversations learn the assistant's turns only (their text and the template's
//! end-of-turn marker), as TRL's `completion_only_loss` and `assistant_only_loss` do. Documents and completions end
//! with the tokenizer's end token, so that the model learns to stop, and start with its start token where the tokenizer
//! adds one (as transformers' `tokenizer(text)`; a chat template writes its own).

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::error::DataError;
use super::generation::{Example, GenerationData, TextLayout};
use crate::model::bpe::BpeTokenizer;
use crate::model::chat::{ChatTemplate, Message};
use crate::model::decoder::Targets;

/// The label of a token the loss leaves out.
pub const IGNORED: i64 = -100;

/// One tokenised example: ids, and per id its label (the id, or [`IGNORED`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LmExample {
    pub ids: Vec<u32>,
    pub labels: Vec<i64>,
}

impl LmExample {
    fn push(&mut self, ids: &[u32], learned: bool) {
        self.ids.extend(ids);
        self.labels.extend(ids.iter().map(|&id| if learned { id as i64 } else { IGNORED }));
    }

    /// How many of its tokens the loss reads: the first is predicted only after virtual input tokens (prompt tuning,
    /// P-tuning), otherwise nothing comes before it.
    pub fn learned_tokens(&self, first_predicted: bool) -> usize {
        let skipped = usize::from(!first_predicted);
        self.labels.iter().skip(skipped).filter(|&&l| l != IGNORED).count()
    }
}

/// What tokenising did to the data, for the summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LmTokenizing {
    /// Examples kept (a whole text file counts its pieces).
    pub examples: usize,
    /// Examples cut to the maximum length.
    pub truncated: usize,
    /// Examples left with nothing to learn once cut (a prompt longer than the maximum length), not kept.
    pub dropped: usize,
    pub tokens: usize,
    pub learned_tokens: usize,
}

impl std::ops::AddAssign for LmTokenizing {
    fn add_assign(&mut self, other: Self) {
        self.examples += other.examples;
        self.truncated += other.truncated;
        self.dropped += other.dropped;
        self.tokens += other.tokens;
        self.learned_tokens += other.learned_tokens;
    }
}

/// Tokenises `data` for a decoder whose inputs hold at most `max_length` tokens. Conversations need the model's chat
/// template (`chat`); a whole text file is cut into pieces of `max_length` tokens.
pub fn tokenize_lm(
    data: &GenerationData,
    tokenizer: &BpeTokenizer,
    chat: Option<&ChatTemplate>,
    max_length: usize,
) -> Result<(Vec<LmExample>, LmTokenizing), DataError> {
    if max_length < 2 {
        return Err(DataError::Parse(format!(
            "the maximum length {max_length} leaves nothing to predict; use at least 2 tokens"
        )));
    }
    let end: Vec<u32> = tokenizer.eos.into_iter().collect();
    let mut whole = Vec::new();
    let mut examples = Vec::with_capacity(data.examples.len());
    for example in &data.examples {
        let mut out = LmExample { ids: Vec::new(), labels: Vec::new() };
        match example {
            Example::Text(text) if data.layout == Some(TextLayout::Whole) => {
                whole.extend(tokenizer.encode_alone(text));
                continue;
            }
            Example::Text(text) => {
                out.push(&tokenizer.encode_alone(text), true);
                out.push(&end, true);
            }
            Example::Completion { prompt, completion } => {
                out.push(&tokenizer.encode_alone(prompt), false);
                out.push(&tokenizer.encode(completion), true);
                out.push(&end, true);
            }
            Example::Chat(messages) => {
                let template = chat.ok_or_else(|| {
                    DataError::Parse(
                        "the data holds conversations (\"messages\"), but the model has no chat template to write \
                         them with; use prompt/completion records or a chat model"
                            .into(),
                    )
                })?;
                conversation(&mut out, template, tokenizer, messages);
            }
        }
        examples.push(out);
    }
    if !whole.is_empty() {
        whole.extend(&end);
        for piece in whole.chunks(max_length) {
            let mut out = LmExample { ids: Vec::new(), labels: Vec::new() };
            out.push(piece, true);
            examples.push(out);
        }
    }
    let mut report = LmTokenizing::default();
    let mut kept = Vec::with_capacity(examples.len());
    for mut example in examples {
        if example.ids.len() > max_length {
            example.ids.truncate(max_length);
            example.labels.truncate(max_length);
            report.truncated += 1;
        }
        let learned = example.learned_tokens(false);
        if learned == 0 {
            report.dropped += 1;
            continue;
        }
        report.tokens += example.ids.len();
        report.learned_tokens += learned;
        kept.push(example);
    }
    report.examples = kept.len();
    if kept.is_empty() {
        return Err(DataError::Parse(format!(
            "no example has anything to learn within {max_length} tokens (every prompt fills them); raise the maximum \
             length"
        )));
    }
    Ok((kept, report))
}

/// A conversation as the template writes it, learning the assistant's turns.
fn conversation(out: &mut LmExample, template: &ChatTemplate, tokenizer: &BpeTokenizer, messages: &[Message]) {
    for (text, learned) in template.pieces(messages, false) {
        out.push(&tokenizer.encode(&text), learned);
    }
}

/// A padded batch for a decoder: ids and mask [batch, longest], and the learned labels' places; padding is masked and
/// never learned.
#[derive(Debug, Clone)]
pub struct LmBatch {
    pub input_ids: Tensor<2, Int>,
    pub mask: Tensor<2>,
    /// The learned labels, where the loss reads them.
    pub targets: Targets,
}

impl LmBatch {
    /// Right-pads `examples` to the longest with `pad_id`.
    pub fn new(examples: &[&LmExample], pad_id: u32, device: &Device) -> Self {
        let longest = examples.iter().map(|e| e.ids.len()).max().unwrap_or(1).max(1);
        Self::padded(examples, longest, pad_id, device)
    }

    /// Right-pads `examples` to `longest` ids, at least the longest example's.
    pub fn padded(examples: &[&LmExample], longest: usize, pad_id: u32, device: &Device) -> Self {
        assert!(examples.iter().all(|e| e.ids.len() <= longest), "an example is longer than the padded length");
        let rows = examples.len();
        let mut ids = vec![pad_id as i64; rows * longest];
        let mut mask = vec![0.0f32; rows * longest];
        let mut labels = vec![IGNORED; rows * longest];
        for (row, example) in examples.iter().enumerate() {
            let at = row * longest;
            for (col, (&id, &label)) in example.ids.iter().zip(&example.labels).enumerate() {
                ids[at + col] = id as i64;
                mask[at + col] = 1.0;
                labels[at + col] = label;
            }
        }
        let shape = [rows, longest];
        Self {
            input_ids: Tensor::from_data(TensorData::new(ids, shape), device),
            mask: Tensor::from_data(TensorData::new(mask, shape), device),
            targets: Targets::of_labels(&labels, longest),
        }
    }
}
