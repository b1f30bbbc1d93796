//! Generating text from a decoder for a person's prompt, streamed piece by piece (the CLI prints them as they come;
//! the page will show them the same way).

use super::Error;
use crate::model::chat::Message;
use crate::model::decoder::{CausalLm, PretrainedDecoder};
use crate::model::generate::{Finish, Generation, GenerationSettings, Step};
use crate::model::site::SidePath;
use burn::tensor::Device;

/// What a generation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub text: String,
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    pub finish: Finish,
}

/// The prompt as the model reads it: `prompt` itself, or as a user's turn in the model's chat template followed by
/// the opening of the assistant's turn.
pub fn prompt_text(pretrained: &PretrainedDecoder, prompt: &str, chat: bool) -> Result<String, Error> {
    Ok(match chat {
        true => pretrained.chat()?.render(&[Message { role: "user".into(), content: prompt.into() }], true),
        false => prompt.to_string(),
    })
}

/// Generates from `prompt` with `model` (the pretrained decoder, or it with a method attached), handing each piece of
/// text to `on_text` as soon as it is whole.
pub async fn generate<P: SidePath>(
    pretrained: &PretrainedDecoder,
    model: &CausalLm<P>,
    prompt: &str,
    chat: bool,
    settings: GenerationSettings,
    device: &Device,
    mut on_text: impl FnMut(&str),
) -> Result<Generated, Error> {
    // A chat template writes its own start; a plain prompt gets the tokenizer's, as transformers' `tokenizer(prompt)`.
    let text = prompt_text(pretrained, prompt, chat)?;
    let ids = match chat {
        true => pretrained.tokenizer.encode(&text),
        false => pretrained.tokenizer.encode_alone(&text),
    };
    let mut generation = Generation::new(model, &pretrained.tokenizer, &ids, settings, device)?;
    let mut text = String::new();
    loop {
        match generation.next().await? {
            Step::Text { text: piece, .. } => {
                on_text(&piece);
                text.push_str(&piece);
            }
            Step::Finished(finish) => {
                let new_tokens = generation.generated().len();
                return Ok(Generated { text, prompt_tokens: ids.len(), new_tokens, finish });
            }
        }
    }
}
