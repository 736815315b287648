//! Engines produce the assistant's turns. The session sees only the [`Engine`] trait, so a
//! provider is a new implementation and nothing else changes.
//!
//! - [`echo`]: offline and deterministic, for demos and tests.
//! - `anthropic`: the Messages API, streamed over server-sent events.
//! - `openai`: any Chat Completions compatible server (OpenAI, Ollama, llama.cpp, vLLM).
//! - `exec`: an external agent process speaking newline-delimited JSON (Claude Code's
//!   `stream-json`), with its own tools and permission prompts.

// `deny`, not `forbid`: the exec engine kills its agent's process group with one `libc::kill`
// (exec/process.rs), the crate's only unsafe code, allowed there alone.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod alternate;
pub mod anthropic;
pub mod echo;
pub mod exec;
pub mod http;
pub mod openai;
pub mod permission;
pub mod prices;
pub mod secret;
pub mod sentence;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod usage;

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;

pub use permission::{PermissionAnswer, PermissionRequest};
pub use secret::ApiKey;
use usage::{Price, TurnUsage};

/// Who said a message of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    /// The person at the terminal (or a remote client).
    User,
    /// The engine, in an earlier turn.
    Assistant,
}

/// One message of the conversation an engine is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who said it.
    pub role: ChatRole,
    /// What was said, as plain text.
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

impl TurnRequest {
    /// A turn of one user message, no memory, plan mode off: the shape of a first turn, and
    /// what tests and one-off questions need without spelling out the whole conversation.
    pub fn user(text: impl Into<String>) -> TurnRequest {
        TurnRequest {
            messages: vec![ChatMessage {
                role: ChatRole::User,
                text: text.into(),
            }],
            ..Default::default()
        }
    }
}

/// The instruction that puts a model without a mode of its own in plan-only mode.
pub const PLAN_MODE_INSTRUCTION: &str = "You are in plan mode. Propose a plan: the steps, the \
    files and commands involved, the risks. Do not carry anything out and do not claim to have \
    done anything; the user will switch plan mode off when they want you to act.";

/// The system prompt for providers that take one: the memory file, then plan mode if on.
pub fn system_prompt(request: &TurnRequest) -> Option<String> {
    let parts: Vec<&str> = request
        .system
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .into_iter()
        .chain(request.plan_mode.then_some(PLAN_MODE_INSTRUCTION))
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// What a turn's stream yields, besides its error.
#[derive(Debug)]
pub enum EngineEvent {
    /// More reply text, to show at once.
    Delta(String),
    /// The turn's usage, reported once, usually last.
    Usage(TurnUsage),
    /// The provider asked us to wait (rate limit, overload, a server error); the engine retries
    /// after `after`. Shown so that a pause is explained rather than mistaken for a hang.
    Retrying {
        /// The attempt about to be made (2 for the first retry).
        attempt: u32,
        /// Attempts in all, the first included.
        of: u32,
        /// The wait before it.
        after: Duration,
        /// Why, shortly: `rate limited (429)`, `overloaded`.
        reason: String,
    },
    /// The agent asks whether it may use a tool. The turn waits until the request is answered
    /// (or the turn is cancelled, which denies it).
    Permission(PermissionRequest),
    /// The agent withdrew a request it made in this turn (it no longer needs the answer).
    PermissionWithdrawn {
        /// The [`PermissionRequest::request_id`] withdrawn.
        request_id: String,
    },
}

/// A turn that failed. The message is for the user: it says what happened and what to do, and
/// never contains a secret.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct EngineError(pub String);

/// One turn's reply: events until the turn ends, an error ending it early. Dropping it cancels
/// the turn.
pub type EngineStream = Pin<Box<dyn Stream<Item = Result<EngineEvent, EngineError>> + Send>>;

/// What produces the assistant's turns: the only thing the session knows of an engine.
#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    /// `echo`, `anthropic`, `openai`, `exec`.
    fn name(&self) -> &str;
    /// The model answering, as the provider names it. An agent process may only say once it
    /// has started, hence an owned string.
    fn model(&self) -> String;
    /// What the model costs, for the session's running total (zero when unknown or free).
    fn price(&self) -> Price;

    /// Streams one reply. Dropping the stream cancels the turn: the HTTP request is aborted, or
    /// the agent process is told to stop.
    fn reply(&self, request: TurnRequest) -> EngineStream;

    /// The conversation was cleared or compacted: an engine that keeps its own context (an
    /// agent process) starts afresh, so that it sees what the transcript now holds.
    fn reset(&self) {}

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
                EngineEvent::Retrying { .. } | EngineEvent::PermissionWithdrawn { .. } => {}
                // A summary needs no tools: refuse rather than wait for an answer nobody sees.
                EngineEvent::Permission(request) => request.answer(PermissionAnswer::Deny {
                    message: "tether is only asking for a summary; no tools are needed".into(),
                }),
            }
        }
        Ok((text, usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_prompt_joins_memory_and_plan_mode() {
        let mut r = TurnRequest::default();
        assert_eq!(system_prompt(&r), None);
        r.system = Some("  \n".into());
        assert_eq!(system_prompt(&r), None);
        r.system = Some("Be brief.".into());
        assert_eq!(system_prompt(&r).as_deref(), Some("Be brief."));
        r.plan_mode = true;
        let s = system_prompt(&r).unwrap();
        assert!(s.starts_with("Be brief.\n\n") && s.contains("plan mode"));
        r.system = None;
        assert_eq!(system_prompt(&r).as_deref(), Some(PLAN_MODE_INSTRUCTION));
    }
}
