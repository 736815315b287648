//! Permission requests waiting for an answer. An agent's request to use a tool is shown on every
//! surface at once (the terminal, each browser); the first answer wins and goes to the agent, and
//! every later answer for the same request is refused, so a tool is never run twice or run after
//! being denied elsewhere.

use std::sync::Mutex;

use tether_engines::PermissionAnswer;
use tether_engines::permission::{PermissionQuestion, Responder};
use tether_protocol::Origin;
use tokio::sync::{mpsc, watch};

/// How a request stopped waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Someone answered; the answer went to the agent.
    Answered {
        /// What the agent was told: allow, or deny with an optional reason.
        answer: PermissionAnswer,
        /// The surface whose answer won: the terminal or a remote client.
        by: Origin,
    },
    /// The agent no longer needs the answer.
    Withdrawn,
    /// The turn ended (interrupted, or failed) before anyone answered; the agent was told no.
    Cancelled,
}

/// Why an answer was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Nothing is waiting under that id: it was answered already, withdrawn, or never asked.
    #[error("that request is no longer waiting for an answer")]
    NotPending,
}

/// The requests now waiting, in the order they were asked. Surfaces watch this to know when to
/// ask (and when to stop asking).
pub type Pending = Vec<PermissionQuestion>;

/// The permission requests of a session: who is waiting, and the first answer to each.
pub struct Approvals {
    waiting: Mutex<Vec<(PermissionQuestion, Responder)>>,
    pending: watch::Sender<Pending>,
    resolved: mpsc::UnboundedSender<(String, Resolution)>,
}

impl Approvals {
    /// The approvals and the stream of resolutions, which the turn that asked reads so that it
    /// can tell every surface.
    pub fn new() -> (Approvals, mpsc::UnboundedReceiver<(String, Resolution)>) {
        let (resolved, rx) = mpsc::unbounded_channel();
        (
            Approvals {
                waiting: Mutex::new(Vec::new()),
                pending: watch::channel(Vec::new()).0,
                resolved,
            },
            rx,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PermissionQuestion, Responder)>> {
        // A panic while holding the lock leaves the list consistent (every change is one push or
        // remove), so a poisoned lock is still usable.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, waiting: &[(PermissionQuestion, Responder)]) {
        self.pending
            .send_replace(waiting.iter().map(|(q, _)| q.clone()).collect());
    }

    /// Starts waiting for an answer to `question`. A request that reuses a waiting id replaces
    /// the older one, which is cancelled (the agent cannot be waiting for both).
    pub fn open(&self, question: PermissionQuestion, responder: Responder) {
        let mut waiting = self.lock();
        if let Some(at) = waiting
            .iter()
            .position(|(q, _)| q.request_id == question.request_id)
        {
            let (old, responder) = waiting.remove(at);
            responder.send(cancelled());
            let _ = self.resolved.send((old.request_id, Resolution::Cancelled));
        }
        waiting.push((question, responder));
        self.publish(&waiting);
    }

    /// Answers one request: the first answer wins.
    pub fn answer(
        &self,
        request_id: &str,
        answer: PermissionAnswer,
        by: Origin,
    ) -> Result<(), AnswerError> {
        let mut waiting = self.lock();
        let at = waiting
            .iter()
            .position(|(q, _)| q.request_id == request_id)
            .ok_or(AnswerError::NotPending)?;
        let (question, responder) = waiting.remove(at);
        self.publish(&waiting);
        drop(waiting);
        responder.send(answer.clone());
        let _ = self
            .resolved
            .send((question.request_id, Resolution::Answered { answer, by }));
        Ok(())
    }

    /// The agent withdrew a request; `false` if it was not waiting.
    pub fn withdraw(&self, request_id: &str) -> bool {
        let mut waiting = self.lock();
        let Some(at) = waiting.iter().position(|(q, _)| q.request_id == request_id) else {
            return false;
        };
        let (question, _) = waiting.remove(at);
        self.publish(&waiting);
        let _ = self
            .resolved
            .send((question.request_id, Resolution::Withdrawn));
        true
    }

    /// The turn is over: every request still waiting is denied and reported as cancelled.
    pub fn cancel_all(&self) {
        let mut waiting = self.lock();
        let all: Vec<_> = waiting.drain(..).collect();
        self.publish(&waiting);
        drop(waiting);
        for (question, responder) in all {
            responder.send(cancelled());
            let _ = self
                .resolved
                .send((question.request_id, Resolution::Cancelled));
        }
    }

    /// The requests waiting now, oldest first.
    pub fn pending(&self) -> Pending {
        self.pending.borrow().clone()
    }

    /// Follows the waiting requests as they change.
    pub fn watch(&self) -> watch::Receiver<Pending> {
        self.pending.subscribe()
    }
}

fn cancelled() -> PermissionAnswer {
    PermissionAnswer::Deny {
        message: "The request was cancelled before anyone answered it.".into(),
    }
}

/// What a typed line means while a request waits: `y`/`yes`/`allow` or `n`/`no`/`deny`
/// (any case); anything else is ordinary input.
pub fn parse_answer(line: &str) -> Option<PermissionAnswer> {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "allow" => Some(PermissionAnswer::Allow),
        "n" | "no" | "deny" => Some(PermissionAnswer::Deny {
            message: "The user denied this in the terminal.".into(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_engines::PermissionRequest;

    fn ask(approvals: &Approvals, id: &str) -> tokio::sync::oneshot::Receiver<PermissionAnswer> {
        let (request, rx) = PermissionRequest::new(
            id.into(),
            "Bash".into(),
            serde_json::json!({"command": "ls"}),
            None,
        );
        let (question, responder) = request.into_parts();
        approvals.open(question, responder);
        rx
    }

    #[tokio::test]
    async fn the_first_answer_wins() {
        let (approvals, mut resolved) = Approvals::new();
        let rx = ask(&approvals, "r1");
        assert_eq!(approvals.pending().len(), 1);
        approvals
            .answer("r1", PermissionAnswer::Allow, Origin::Bridge)
            .unwrap();
        assert_eq!(
            approvals.answer("r1", parse_answer("n").unwrap(), Origin::Terminal),
            Err(AnswerError::NotPending)
        );
        assert_eq!(rx.await.unwrap(), PermissionAnswer::Allow);
        assert_eq!(
            resolved.recv().await.unwrap(),
            (
                "r1".to_string(),
                Resolution::Answered {
                    answer: PermissionAnswer::Allow,
                    by: Origin::Bridge
                }
            )
        );
        assert!(approvals.pending().is_empty());
        assert!(resolved.try_recv().is_err(), "resolved exactly once");
    }

    #[tokio::test]
    async fn unknown_ids_are_refused() {
        let (approvals, _resolved) = Approvals::new();
        let _rx = ask(&approvals, "r1");
        assert_eq!(
            approvals.answer("r2", PermissionAnswer::Allow, Origin::Bridge),
            Err(AnswerError::NotPending)
        );
        assert_eq!(
            approvals.answer("", PermissionAnswer::Allow, Origin::Bridge),
            Err(AnswerError::NotPending)
        );
        assert_eq!(approvals.pending().len(), 1);
    }

    #[tokio::test]
    async fn ending_the_turn_denies_what_waits() {
        let (approvals, mut resolved) = Approvals::new();
        let a = ask(&approvals, "a");
        let b = ask(&approvals, "b");
        let mut watch = approvals.watch();
        approvals.cancel_all();
        assert!(matches!(a.await.unwrap(), PermissionAnswer::Deny { .. }));
        assert!(matches!(b.await.unwrap(), PermissionAnswer::Deny { .. }));
        assert_eq!(resolved.recv().await.unwrap().1, Resolution::Cancelled);
        assert_eq!(resolved.recv().await.unwrap().1, Resolution::Cancelled);
        assert!(watch.borrow_and_update().is_empty());
    }

    #[tokio::test]
    async fn withdrawn_and_reused_ids() {
        let (approvals, mut resolved) = Approvals::new();
        let first = ask(&approvals, "r");
        let _second = ask(&approvals, "r");
        assert!(matches!(
            first.await.unwrap(),
            PermissionAnswer::Deny { .. }
        ));
        assert_eq!(resolved.recv().await.unwrap().1, Resolution::Cancelled);
        assert_eq!(approvals.pending().len(), 1);
        assert!(approvals.withdraw("r"));
        assert!(!approvals.withdraw("r"));
        assert_eq!(resolved.recv().await.unwrap().1, Resolution::Withdrawn);
    }

    #[test]
    fn typed_answers() {
        for yes in ["y", "Y", " yes ", "ALLOW"] {
            assert_eq!(parse_answer(yes), Some(PermissionAnswer::Allow), "{yes}");
        }
        for no in ["n", "No", "deny"] {
            assert!(
                matches!(parse_answer(no), Some(PermissionAnswer::Deny { .. })),
                "{no}"
            );
        }
        for other in ["", "yess", "y n", "maybe", "/help"] {
            assert_eq!(parse_answer(other), None, "{other}");
        }
    }
}
