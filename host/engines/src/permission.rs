//! An agent's request to use a tool, and its answer. The request carries the way back to the
//! engine, so whoever answers first (the terminal or any remote client) completes it and a
//! second answer has nowhere to go.

use tokio::sync::oneshot;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionAnswer {
    Allow,
    Deny { message: String },
}

#[derive(Debug)]
pub struct PermissionRequest {
    /// The agent's own id for the request; answers are matched by it.
    pub request_id: String,
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
    pub request_id: String,
    pub tool_name: String,
    pub input: serde_json::Value,
    pub description: Option<String>,
}

/// The way back to the engine for one request.
#[derive(Debug)]
pub struct Responder(oneshot::Sender<PermissionAnswer>);

impl Responder {
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
