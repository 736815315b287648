//! The driver's rules as pure functions: what a client's event asks of the conversation, how a
//! client's verdict reaches the agent, and which worker state an output moves the session to.

use tether_engines::PermissionAnswer;
use tether_protocol::api::WorkerState;
use tether_protocol::payload::{ControlRequest, Payload, Verdict, WaitingFor};

use crate::output::Output;

/// What a client's event asks of the conversation: a pure rule over the typed payload.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientAction {
    /// A message for the conversation.
    Message(String),
    /// Stop the running reply.
    Interrupt,
    /// Answer a permission request.
    Answer {
        /// The request.
        request_id: String,
        /// The answer.
        answer: PermissionAnswer,
    },
    /// Nothing to do (relay notices, unknown types, a malformed answer).
    Ignore,
}

/// The deny message a client's answer carries at most, in characters.
const DENY_MESSAGE_MAX: usize = 2000;

/// What `payload`, published by a client, asks for.
pub fn client_action(payload: Payload) -> ClientAction {
    match payload {
        Payload::UserMessage(m) => ClientAction::Message(m.text),
        Payload::ControlRequest(ControlRequest::Interrupt { .. }) => ClientAction::Interrupt,
        Payload::ControlResponse(r) => ClientAction::Answer {
            request_id: r.request_id,
            answer: answer_from(r.response),
        },
        Payload::Unknown { kind, .. }
            if kind == tether_protocol::event::types::CONTROL_RESPONSE =>
        {
            tracing::warn!("a control_response without a behavior of allow or deny was ignored");
            ClientAction::Ignore
        }
        _ => ClientAction::Ignore,
    }
}

/// A client's verdict as the agent gets it: a deny always says something, and not too much.
pub fn answer_from(verdict: Verdict) -> PermissionAnswer {
    match verdict {
        Verdict::Allow => PermissionAnswer::Allow,
        Verdict::Deny { message } => PermissionAnswer::Deny {
            message: message
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| "The user denied this from a connected device.".into())
                .chars()
                .take(DENY_MESSAGE_MAX)
                .collect(),
        },
    }
}

/// The worker state an output moves the session to, if any: a waiting request is
/// `requires_action`; once none waits, `running` again.
pub fn state_after(
    output: &Output,
    still_waiting: bool,
) -> Option<(WorkerState, Option<WaitingFor>)> {
    match output {
        Output::PermissionRequest(q) => Some((
            WorkerState::RequiresAction,
            Some(WaitingFor {
                request_id: q.request_id.clone(),
            }),
        )),
        Output::PermissionResolved { .. } if !still_waiting => Some((WorkerState::Running, None)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tether_engines::permission::PermissionQuestion;

    fn from_client(kind: &str, payload: serde_json::Value) -> ClientAction {
        client_action(Payload::parse(kind, &payload))
    }

    #[test]
    fn control_response_answers() {
        assert_eq!(
            from_client(
                "control_response",
                json!({"request_id": "r", "response": {"behavior": "allow"}})
            ),
            ClientAction::Answer {
                request_id: "r".into(),
                answer: PermissionAnswer::Allow
            }
        );
        assert_eq!(
            from_client(
                "control_response",
                json!({"request_id": "r", "response": {"behavior": "deny", "message": "not now"}})
            ),
            ClientAction::Answer {
                request_id: "r".into(),
                answer: PermissionAnswer::Deny {
                    message: "not now".into()
                }
            }
        );
        assert!(matches!(
            from_client("control_response", json!({"request_id": "r", "response": {"behavior": "deny", "message": "  "}})),
            ClientAction::Answer { answer: PermissionAnswer::Deny { message }, .. } if message.contains("connected device")
        ));
        for hostile in [
            json!({"request_id": "r"}),
            json!({"request_id": "r", "response": "allow"}),
            json!({"request_id": "r", "response": {"behavior": "ALLOW"}}),
            json!({"request_id": "r", "response": {"behavior": true}}),
            json!({"request_id": "r", "behavior": "allow"}),
            json!({"response": {"behavior": "allow"}}),
        ] {
            assert_eq!(
                from_client("control_response", hostile.clone()),
                ClientAction::Ignore,
                "{hostile}"
            );
        }
        let long = "x".repeat(10_000);
        assert!(matches!(
            from_client("control_response", json!({"request_id": "r", "response": {"behavior": "deny", "message": long}})),
            ClientAction::Answer { answer: PermissionAnswer::Deny { message }, .. } if message.len() == 2000
        ));
    }

    #[test]
    fn client_events_become_actions() {
        assert_eq!(
            from_client("user_message", json!({"text": "hi", "origin": "client"})),
            ClientAction::Message("hi".into())
        );
        assert_eq!(
            from_client(
                "control_request",
                json!({"request_id": "r", "subtype": "interrupt"})
            ),
            ClientAction::Interrupt
        );
        for (kind, payload) in [
            ("user_message", json!({"origin": "client"})),
            // Only the terminal asks permission; a client's request is not acted on.
            (
                "control_request",
                json!({"request_id": "r", "subtype": "can_use_tool", "tool_name": "Bash"}),
            ),
            ("control_request", json!({"subtype": "interrupt"})),
            ("catch_up_truncated", json!({"oldest_seq": 3})),
            ("some_future_type", json!({})),
        ] {
            assert_eq!(
                from_client(kind, payload.clone()),
                ClientAction::Ignore,
                "{kind} {payload}"
            );
        }
    }

    #[test]
    fn the_worker_state_follows_the_requests() {
        let q = PermissionQuestion {
            request_id: "r1".into(),
            tool_name: "Bash".into(),
            input: json!({}),
            description: None,
        };
        assert_eq!(
            state_after(&Output::PermissionRequest(q), true),
            Some((
                WorkerState::RequiresAction,
                Some(WaitingFor {
                    request_id: "r1".into(),
                })
            ))
        );
        let resolved = Output::PermissionResolved {
            request_id: "r1".into(),
            resolution: crate::approvals::Resolution::Cancelled,
        };
        assert_eq!(
            state_after(&resolved, false),
            Some((WorkerState::Running, None))
        );
        assert_eq!(state_after(&resolved, true), None, "another still waits");
        assert_eq!(state_after(&Output::Info("x".into()), false), None);
    }
}
