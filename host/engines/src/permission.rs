//! An agent's request to use a tool, and its answer. The request carries the way back to the
//! engine, so whoever answers first (the terminal or any remote client) completes it and a
//! second answer has nowhere to go.

use tokio::sync::oneshot;

/// The answer to a [`PermissionRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionAnswer {
    /// The agent may use the tool, this once.
    Allow,
    /// It may not.
    Deny {
        /// Why, for the agent (it may try something else).
        message: String,
    },
}

/// An agent asks whether it may use a tool; answering it (once) lets the turn go on.
#[derive(Debug)]
pub struct PermissionRequest {
    /// The agent's own id for the request; answers are matched by it.
    pub request_id: String,
    /// The tool, as the agent names it (`Bash`, `Edit`).
    pub tool_name: String,
    /// The tool's arguments, as the agent sent them.
    pub input: serde_json::Value,
    /// A sentence the agent wrote for the user, if any.
    pub description: Option<String>,
    reply: oneshot::Sender<PermissionAnswer>,
}

impl PermissionRequest {
    /// A request, and the receiver the engine awaits. If the request is dropped unanswered, the
    /// receiver errors, which the engine must treat as a denial.
    pub fn new(
        request_id: String,
        tool_name: String,
        input: serde_json::Value,
        description: Option<String>,
    ) -> (PermissionRequest, oneshot::Receiver<PermissionAnswer>) {
        let (reply, rx) = oneshot::channel();
        (
            PermissionRequest {
                request_id,
                tool_name,
                input,
                description,
                reply,
            },
            rx,
        )
    }

    /// Answers the request. An engine that has stopped waiting (the turn ended) ignores it.
    pub fn answer(self, answer: PermissionAnswer) {
        let _ = self.reply.send(answer);
    }

    /// Splits off the reply handle, so that the question can be shown while the answer waits.
    pub fn into_parts(self) -> (PermissionQuestion, Responder) {
        (
            PermissionQuestion {
                request_id: self.request_id,
                tool_name: self.tool_name,
                input: self.input,
                description: self.description,
            },
            Responder(self.reply),
        )
    }
}

/// What is shown to the user: the request without its reply handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionQuestion {
    /// As in [`PermissionRequest::request_id`].
    pub request_id: String,
    /// As in [`PermissionRequest::tool_name`].
    pub tool_name: String,
    /// As in [`PermissionRequest::input`].
    pub input: serde_json::Value,
    /// As in [`PermissionRequest::description`].
    pub description: Option<String>,
}

/// The way back to the engine for one request.
#[derive(Debug)]
pub struct Responder(oneshot::Sender<PermissionAnswer>);

impl Responder {
    /// Answers; an engine that has stopped waiting (the turn ended) simply never reads it.
    pub fn send(self, answer: PermissionAnswer) {
        let _ = self.0.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_reaches_the_engine_once() {
        let (request, rx) = PermissionRequest::new("r1".into(), "Bash".into(), "{}".into(), None);
        let (question, responder) = request.into_parts();
        assert_eq!(question.tool_name, "Bash");
        responder.send(PermissionAnswer::Allow);
        assert_eq!(rx.await.unwrap(), PermissionAnswer::Allow);
    }

    #[tokio::test]
    async fn a_dropped_request_is_seen_by_the_engine() {
        let (request, rx) = PermissionRequest::new("r1".into(), "Bash".into(), "{}".into(), None);
        drop(request);
        assert!(rx.await.is_err());
    }
}
