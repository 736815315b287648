//! The typed payload of every event type tether knows, one variant per `type` (docs/protocol.md,
//! "Events"), as sshx types its `WsServer`/`WsClient` messages.
//!
//! The relay stores and routes an event's payload as it arrived, so that newer workers and clients
//! keep working through an older relay; everything that *acts* on a payload (the bridge, the
//! driver, the session's wire mapping, the relay's transcript page) converts it here, once, at the
//! edge. Nothing outside this crate builds event JSON by hand. A payload of a type this version
//! does not know, or of a known type whose fields do not have the documented shape, becomes
//! [`Payload::Unknown`], which is never acted on and is passed on untouched.
//!
//! Parsing is strict where a field decides what happens (a verdict of `allow` must be exactly
//! that) and lenient where it only describes (a `user_message`'s `origin`, a deny's `message`),
//! so that a client with an extra or odd field is still heard.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::api::WorkerState;
use crate::event::{Event, NewEvent, types};

/// An event's payload, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `system_init` (worker): what a client needs to draw the session.
    SystemInit(SystemInit),
    /// `user_message` (worker or client): a message for the conversation.
    UserMessage(UserMessage),
    /// `assistant_delta` (worker): a piece of a reply as it streams.
    AssistantDelta(AssistantDelta),
    /// `assistant_message` (worker): a reply, complete.
    AssistantMessage(AssistantMessage),
    /// `command_output` (worker): what a slash command printed, an error, or a notice.
    CommandOutput(CommandOutput),
    /// `conversation_cleared` (worker): surfaces may clear their view.
    ConversationCleared,
    /// `control_request` (worker asks permission; a client asks for an interrupt).
    ControlRequest(ControlRequest),
    /// `control_response` (client): the answer to a permission request.
    ControlResponse(ControlResponse),
    /// `control_cancel` (worker): a request stopped waiting; every surface stops asking.
    ControlCancel(ControlCancel),
    /// `session_state` (published by the relay for the worker's `PUT …/worker`).
    SessionState(SessionState),
    /// `worker_status` (relay): whether the terminal is connected.
    WorkerStatus(WorkerStatus),
    /// `catch_up_truncated` (relay): events before `oldest_seq` are no longer kept.
    CatchUpTruncated(CatchUpTruncated),
    /// A type this version does not know, or a known type without its documented fields: kept as
    /// sent, never acted on.
    Unknown {
        /// The event's `type`.
        kind: String,
        /// The payload as it arrived.
        payload: Value,
    },
}

/// Who typed a message or answered a request, as the wire names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// The terminal that runs the session.
    Terminal,
    /// A browser or phone connected through the relay.
    Client,
}

impl From<crate::Origin> for Speaker {
    fn from(origin: crate::Origin) -> Speaker {
        match origin {
            crate::Origin::Terminal => Speaker::Terminal,
            crate::Origin::Bridge => Speaker::Client,
        }
    }
}

/// `system_init`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInit {
    /// The commands a client may run over the bridge.
    #[serde(default)]
    pub commands: Vec<CommandEntry>,
    /// The model provider's name (`anthropic`, `exec`, …).
    #[serde(default)]
    pub engine: String,
    /// The model, as the engine names it.
    #[serde(default)]
    pub model: String,
    /// The terminal's working directory.
    #[serde(default)]
    pub cwd: String,
    /// The session's title.
    #[serde(default)]
    pub title: String,
}

/// One command in `system_init`, for a client's completion menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandEntry {
    /// The name, without the slash.
    pub name: String,
    /// One line saying what it does.
    #[serde(default)]
    pub description: String,
    /// What its argument looks like; empty when it takes none.
    #[serde(default)]
    pub argument_hint: String,
}

/// `user_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMessage {
    /// What was typed.
    pub text: String,
    /// Where it was typed. Informative only: the relay's `source` says who published it. An
    /// unknown value reads as absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub origin: Option<Speaker>,
}

/// `assistant_delta`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistantDelta {
    /// The reply this piece belongs to.
    pub message_id: String,
    /// The new text.
    pub text: String,
}

/// `assistant_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// The reply (the same id as its deltas).
    pub message_id: String,
    /// The whole text.
    pub text: String,
    /// What the turn cost in tokens.
    #[serde(default)]
    pub usage: MessageUsage,
    /// The user stopped the reply.
    #[serde(default)]
    pub interrupted: bool,
}

/// The tokens of one reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageUsage {
    /// Input tokens, cached ones included.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
}

/// How a `command_output`'s text is meant to be drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextFormat {
    /// Plain text.
    #[default]
    Text,
    /// CommonMark.
    Markdown,
}

/// `command_output`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutput {
    /// The command's name; empty for tether's own notices and errors.
    #[serde(default)]
    pub command: String,
    /// What to show.
    pub text: String,
    /// How to draw `text`.
    #[serde(default)]
    pub format: TextFormat,
    /// Something went wrong.
    #[serde(default, skip_serializing_if = "is_false")]
    pub error: bool,
    /// A message taken back out of the conversation because its turn failed: a client marks it
    /// as not sent and offers to send it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsent: Option<String>,
    /// The id of the `user_message` event that carried `unsent`, so a client marks exactly that
    /// message (two messages may have the same text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsent_id: Option<String>,
}

/// `control_request`, by `subtype`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "subtype", rename_all = "snake_case")]
pub enum ControlRequest {
    /// The agent asks whether it may use a tool (only the worker's count).
    CanUseTool {
        /// Answered by a `control_response` with the same id.
        request_id: String,
        /// The tool's name, as the agent gives it.
        tool_name: String,
        /// The tool's input, as the agent gives it.
        #[serde(default)]
        input: Value,
        /// The agent's own words on what the call does.
        #[serde(default)]
        description: Option<String>,
    },
    /// A client asks to stop the reply that is running.
    Interrupt {
        /// The request's own id.
        request_id: String,
    },
}

/// `control_response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlResponse {
    /// The `control_request` this answers.
    pub request_id: String,
    /// The answer.
    pub response: Verdict,
}

/// An answer to a permission request, by `behavior` (exactly `allow` or `deny`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "behavior", rename_all = "snake_case")]
pub enum Verdict {
    /// Run the tool.
    Allow,
    /// Do not; `message` tells the agent why (a non-string reads as absent).
    Deny {
        /// What the agent is told.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "lenient"
        )]
        message: Option<String>,
    },
}

/// `control_cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlCancel {
    /// The request that stopped waiting.
    pub request_id: String,
    /// Why it stopped.
    #[serde(flatten)]
    pub reason: CancelReason,
}

/// Why a permission request stopped waiting, by `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum CancelReason {
    /// Someone answered first.
    Answered {
        /// Who.
        by: Speaker,
        /// What they chose.
        behavior: Behavior,
    },
    /// The agent no longer needs the answer.
    Withdrawn,
    /// The turn ended before anyone answered; the agent was told no.
    Cancelled,
}

/// The choice in an answer, without its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behavior {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

/// `session_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    /// What the terminal is doing.
    pub state: WorkerState,
    /// With `requires_action`, what it waits for ([`WaitingFor`] from tether's own worker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// The `details` of a `requires_action` state: the request the terminal waits on. Only its id:
/// `session_state` is plaintext for the relay, so what the request asks stays in the sealed
/// `control_request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingFor {
    /// The waiting request.
    pub request_id: String,
}

impl WaitingFor {
    /// As the `details` value of `PUT …/worker`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `worker_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// The terminal is connected.
    pub online: bool,
}

/// `catch_up_truncated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchUpTruncated {
    /// The oldest `seq` still kept.
    pub oldest_seq: u64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An optional field that reads as absent when it has another shape than expected.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

fn parsed<T: serde::de::DeserializeOwned>(payload: &Value) -> Option<T> {
    // Only an object is a payload; serde would read a struct out of an array too.
    payload
        .is_object()
        .then(|| T::deserialize(payload).ok())
        .flatten()
}

fn value<T: Serialize>(payload: &T) -> Value {
    // Every payload type serialises to an object: plain structs and enums of named fields.
    serde_json::to_value(payload).unwrap_or_else(|_| Value::Object(Default::default()))
}

impl Payload {
    /// The payload of an event of type `kind`.
    pub fn parse(kind: &str, payload: &Value) -> Payload {
        let typed = match kind {
            types::SYSTEM_INIT => parsed(payload).map(Payload::SystemInit),
            types::USER_MESSAGE => parsed(payload).map(Payload::UserMessage),
            types::ASSISTANT_DELTA => parsed(payload).map(Payload::AssistantDelta),
            types::ASSISTANT_MESSAGE => parsed(payload).map(Payload::AssistantMessage),
            types::COMMAND_OUTPUT => parsed(payload).map(Payload::CommandOutput),
            types::CONVERSATION_CLEARED if payload.is_object() => {
                Some(Payload::ConversationCleared)
            }
            types::CONTROL_REQUEST => parsed(payload).map(Payload::ControlRequest),
            types::CONTROL_RESPONSE => parsed(payload).map(Payload::ControlResponse),
            types::CONTROL_CANCEL => parsed(payload).map(Payload::ControlCancel),
            types::SESSION_STATE => parsed(payload).map(Payload::SessionState),
            types::WORKER_STATUS => parsed(payload).map(Payload::WorkerStatus),
            types::CATCH_UP_TRUNCATED => parsed(payload).map(Payload::CatchUpTruncated),
            _ => None,
        };
        typed.unwrap_or_else(|| Payload::Unknown {
            kind: kind.to_owned(),
            payload: payload.clone(),
        })
    }

    /// The event `type` this payload travels under.
    pub fn kind(&self) -> &str {
        match self {
            Payload::SystemInit(_) => types::SYSTEM_INIT,
            Payload::UserMessage(_) => types::USER_MESSAGE,
            Payload::AssistantDelta(_) => types::ASSISTANT_DELTA,
            Payload::AssistantMessage(_) => types::ASSISTANT_MESSAGE,
            Payload::CommandOutput(_) => types::COMMAND_OUTPUT,
            Payload::ConversationCleared => types::CONVERSATION_CLEARED,
            Payload::ControlRequest(_) => types::CONTROL_REQUEST,
            Payload::ControlResponse(_) => types::CONTROL_RESPONSE,
            Payload::ControlCancel(_) => types::CONTROL_CANCEL,
            Payload::SessionState(_) => types::SESSION_STATE,
            Payload::WorkerStatus(_) => types::WORKER_STATUS,
            Payload::CatchUpTruncated(_) => types::CATCH_UP_TRUNCATED,
            Payload::Unknown { kind, .. } => kind,
        }
    }

    /// The payload as the JSON object the wire carries.
    pub fn to_value(&self) -> Value {
        match self {
            Payload::SystemInit(p) => value(p),
            Payload::UserMessage(p) => value(p),
            Payload::AssistantDelta(p) => value(p),
            Payload::AssistantMessage(p) => value(p),
            Payload::CommandOutput(p) => value(p),
            Payload::ConversationCleared => Value::Object(Default::default()),
            Payload::ControlRequest(p) => value(p),
            Payload::ControlResponse(p) => value(p),
            Payload::ControlCancel(p) => value(p),
            Payload::SessionState(p) => value(p),
            Payload::WorkerStatus(p) => value(p),
            Payload::CatchUpTruncated(p) => value(p),
            Payload::Unknown { payload, .. } => payload.clone(),
        }
    }
}

impl Event {
    /// This event's payload, typed.
    pub fn typed(&self) -> Payload {
        Payload::parse(&self.kind, &self.payload)
    }
}

impl NewEvent {
    /// An event carrying `payload`, with a fresh id.
    pub fn typed(payload: &Payload) -> NewEvent {
        NewEvent::new(payload.kind(), payload.to_value())
    }
}

impl From<&Payload> for NewEvent {
    fn from(payload: &Payload) -> NewEvent {
        NewEvent::typed(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(kind: &str, wire: Value) -> Payload {
        let typed = Payload::parse(kind, &wire);
        assert!(
            !matches!(typed, Payload::Unknown { .. }),
            "{kind} {wire} did not parse"
        );
        assert_eq!(typed.kind(), kind);
        assert_eq!(typed.to_value(), wire, "{kind} does not keep its shape");
        typed
    }

    #[test]
    fn every_known_type_keeps_its_wire_shape() {
        round_trip(
            "system_init",
            json!({"commands": [{"name": "cost", "description": "Cost", "argument_hint": ""}],
                   "engine": "exec", "model": "m", "cwd": "/w", "title": "t"}),
        );
        round_trip("user_message", json!({"text": "hi", "origin": "terminal"}));
        round_trip("user_message", json!({"text": "hi"}));
        round_trip("assistant_delta", json!({"message_id": "m", "text": "he"}));
        round_trip(
            "assistant_message",
            json!({"message_id": "m", "text": "hello",
                   "usage": {"input_tokens": 3, "output_tokens": 1}, "interrupted": false}),
        );
        round_trip(
            "command_output",
            json!({"command": "cost", "text": "$0", "format": "markdown"}),
        );
        round_trip(
            "command_output",
            json!({"command": "", "text": "no", "format": "text", "error": true, "unsent": "hi",
                   "unsent_id": "6f1f4f0e-7a43-4c53-9d0c-2b1f7b0c9a11"}),
        );
        round_trip("conversation_cleared", json!({}));
        round_trip(
            "control_request",
            json!({"request_id": "r1", "subtype": "can_use_tool", "tool_name": "Bash",
                   "input": {"command": "ls"}, "description": null}),
        );
        round_trip(
            "control_request",
            json!({"request_id": "r1", "subtype": "interrupt"}),
        );
        round_trip(
            "control_response",
            json!({"request_id": "r1", "response": {"behavior": "allow"}}),
        );
        round_trip(
            "control_response",
            json!({"request_id": "r1", "response": {"behavior": "deny", "message": "no"}}),
        );
        round_trip(
            "control_cancel",
            json!({"request_id": "r1", "reason": "answered", "by": "client", "behavior": "deny"}),
        );
        round_trip(
            "control_cancel",
            json!({"request_id": "r1", "reason": "cancelled"}),
        );
        round_trip(
            "control_cancel",
            json!({"request_id": "r1", "reason": "withdrawn"}),
        );
        round_trip(
            "session_state",
            json!({"state": "requires_action", "details": {"request_id": "r", "tool_name": "Bash"}}),
        );
        round_trip("session_state", json!({"state": "idle"}));
        round_trip("worker_status", json!({"online": true}));
        round_trip("catch_up_truncated", json!({"oldest_seq": 5}));
    }

    #[test]
    fn verdicts_are_exact_and_descriptions_lenient() {
        let answer = |response: Value| match Payload::parse(
            "control_response",
            &json!({"request_id": "r", "response": response}),
        ) {
            Payload::ControlResponse(r) => Some(r.response),
            _ => None,
        };
        assert_eq!(answer(json!({"behavior": "allow"})), Some(Verdict::Allow));
        // A client's extra fields do not make its answer unreadable.
        assert_eq!(
            answer(json!({"behavior": "allow", "updatedInput": {}})),
            Some(Verdict::Allow)
        );
        assert_eq!(
            answer(json!({"behavior": "deny", "message": 5})),
            Some(Verdict::Deny { message: None })
        );
        for hostile in [
            json!("allow"),
            json!({"behavior": "ALLOW"}),
            json!({"behavior": true}),
            json!({}),
            json!(null),
        ] {
            assert_eq!(answer(hostile.clone()), None, "{hostile}");
        }
        assert!(matches!(
            Payload::parse("user_message", &json!({"text": "hi", "origin": "phone"})),
            Payload::UserMessage(UserMessage { origin: None, .. })
        ));
    }

    #[test]
    fn unknown_types_and_malformed_payloads_pass_through_untouched() {
        for (kind, payload) in [
            ("some_future_type", json!({"x": 1})),
            ("user_message", json!({"origin": "client"})),
            ("user_message", json!({"text": 5})),
            ("user_message", json!(["hi"])),
            ("control_request", json!({"request_id": "r"})),
            (
                "control_request",
                json!({"request_id": "r", "subtype": "reboot"}),
            ),
            (
                "control_response",
                json!({"response": {"behavior": "allow"}}),
            ),
            ("catch_up_truncated", json!({"oldest_seq": -1})),
            ("conversation_cleared", json!(null)),
        ] {
            let typed = Payload::parse(kind, &payload);
            assert_eq!(
                typed,
                Payload::Unknown {
                    kind: kind.into(),
                    payload: payload.clone()
                },
                "{kind} {payload}"
            );
            assert_eq!(typed.kind(), kind);
            assert_eq!(typed.to_value(), payload);
        }
    }

    #[test]
    fn a_typed_event_is_one_the_relay_accepts() {
        let e = NewEvent::typed(&Payload::WorkerStatus(WorkerStatus { online: true }));
        assert_eq!(e.kind, "worker_status");
        assert_eq!(e.payload, json!({"online": true}));
        let e = NewEvent::typed(&Payload::UserMessage(UserMessage {
            text: "hi".into(),
            origin: Some(Speaker::Client),
        }));
        assert!(crate::check_publish(crate::Source::Client, &e).is_ok());
    }
}
