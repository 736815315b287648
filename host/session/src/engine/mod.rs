//! Engines produce the assistant's turns. The session sees only this trait, so a provider is a
//! new implementation and nothing else changes.

pub mod echo;

use std::pin::Pin;

use futures::Stream;

use crate::usage::{Price, TurnUsage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub text: String,
}

/// Everything an engine needs for one turn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TurnRequest {
    /// The conversation so far, ending with the new user message.
    pub messages: Vec<ChatMessage>,
    /// Plan-only mode: the engine proposes and does not act.
    pub plan_mode: bool,
    /// Standing instructions (the memory file), if any.
    pub system: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// More reply text, to show at once.
    Delta(String),
    /// The turn's usage, reported once, usually last.
    Usage(TurnUsage),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct EngineError(pub String);

pub type EngineStream = Pin<Box<dyn Stream<Item = Result<EngineEvent, EngineError>> + Send>>;

#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    /// `echo`, `anthropic`, …
    fn name(&self) -> &str;
    fn model(&self) -> &str;
    fn price(&self) -> Price;

    /// Streams one reply. Dropping the stream cancels the turn.
    fn reply(&self, request: TurnRequest) -> EngineStream;

    /// A summary of `messages` for `/summary` and `/compact`, optionally focused by `focus`.
    /// The default asks the engine itself with a summarising instruction.
    async fn summarize(
        &self,
        messages: &[ChatMessage],
        focus: &str,
    ) -> Result<(String, TurnUsage), EngineError> {
        use futures::StreamExt;
        let mut instruction = String::from(
            "Summarise the conversation above in a few short paragraphs: the goals, the decisions \
             made, and what is still open. Keep names, numbers and file paths exact.",
        );
        if !focus.is_empty() {
            instruction.push_str(&format!(" Focus on: {focus}"));
        }
        let mut request = TurnRequest {
            messages: messages.to_vec(),
            ..Default::default()
        };
        request.messages.push(ChatMessage {
            role: ChatRole::User,
            text: instruction,
        });
        let mut stream = self.reply(request);
        let (mut text, mut usage) = (String::new(), TurnUsage::default());
        while let Some(event) = stream.next().await {
            match event? {
                EngineEvent::Delta(d) => text.push_str(&d),
                EngineEvent::Usage(u) => usage = u,
            }
        }
        Ok((text, usage))
    }
}
