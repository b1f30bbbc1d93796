//! A decoder's chat template, as its GGUF (`tokenizer.chat_template`) or tokenizer_config.json gives it in Jinja:
//! recognised, not interpreted. ChatML (`<|im_start|>role\ncontent<|im_end|>\n`, SmolLM2's and Qwen's) is supported,
//! with the default system message a template adds when a conversation has none (SmolLM2's does).

use serde::{Deserialize, Serialize};

use super::load::LoadError;

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// A recognised chat template.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatTemplate {
    ChatMl {
        /// The system message put first when the conversation does not start with one.
        default_system: Option<String>,
    },
}

const START: &str = "<|im_start|>";
const END: &str = "<|im_end|>";
/// How SmolLM2's template adds its system message: `{% if loop.first and messages[0]['role'] != 'system' %}`.
const ADDS_SYSTEM: &str = "messages[0]['role'] != 'system'";

impl ChatTemplate {
    /// The template the Jinja source `template` writes, or why it is not one of ours.
    pub fn recognise(template: &str) -> Result<Self, LoadError> {
        if !(template.contains(START) && template.contains(END)) {
            let start: String = template.chars().take(80).collect();
            return Err(LoadError::Unsupported(format!(
                "the chat template is not ChatML (<|im_start|>role … <|im_end|>), the only one supported here; it \
                 starts: {start}"
            )));
        }
        let default_system = template.contains(ADDS_SYSTEM).then(|| {
            let opening = format!("{START}system\n");
            template
                .split_once(&opening)
                .and_then(|(_, rest)| rest.split_once(END))
                .map(|(system, _)| system.to_string())
        });
        match default_system {
            Some(None) => Err(LoadError::Unsupported(
                "the chat template adds a system message this reader cannot find (no <|im_start|>system block)".into(),
            )),
            found => Ok(Self::ChatMl { default_system: found.flatten() }),
        }
    }

    /// `messages` as the model reads them; with `generation_prompt`, followed by the opening of the assistant's turn.
    pub fn render(&self, messages: &[Message], generation_prompt: bool) -> String {
        self.pieces(messages, generation_prompt).into_iter().map(|(text, _)| text).collect()
    }

    /// The rendered conversation in pieces, each marked when it is what the assistant writes (its turn's text and
    /// end-of-turn marker: what training learns; the opening of its turn is the prompt's, as at generation time).
    pub fn pieces(&self, messages: &[Message], generation_prompt: bool) -> Vec<(String, bool)> {
        let Self::ChatMl { default_system } = self;
        let mut out = Vec::new();
        if let Some(system) = default_system.as_deref().filter(|_| messages.first().is_some_and(|m| m.role != "system"))
        {
            out.push((format!("{START}system\n{system}{END}\n"), false));
        }
        for message in messages {
            if message.role == "assistant" {
                out.push((format!("{START}assistant\n"), false));
                out.push((format!("{}{END}", message.content), true));
                out.push(("\n".into(), false));
            } else {
                out.push((format!("{START}{}\n{}{END}\n", message.role, message.content), false));
            }
        }
        if generation_prompt {
            out.push((format!("{START}assistant\n"), false));
        }
        out
    }
}
