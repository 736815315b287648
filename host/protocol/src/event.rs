//! Session events: the one envelope every message between worker, relay and clients travels in,
//! and the rules for who may publish what.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who produced an event. The relay sets it from the credential used, never from the body, so a
/// client cannot pass its message off as the terminal's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Worker,
    Client,
    Relay,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Worker => "worker",
            Source::Client => "client",
            Source::Relay => "relay",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "worker" => Some(Source::Worker),
            "client" => Some(Source::Client),
            "relay" => Some(Source::Relay),
            _ => None,
        }
    }
}

/// The event types PROTOCOL.md names. Others pass through untouched.
pub mod types {
    pub const SYSTEM_INIT: &str = "system_init";
    pub const USER_MESSAGE: &str = "user_message";
    pub const ASSISTANT_DELTA: &str = "assistant_delta";
    pub const ASSISTANT_MESSAGE: &str = "assistant_message";
    pub const COMMAND_OUTPUT: &str = "command_output";
    pub const SESSION_STATE: &str = "session_state";
    pub const CONTROL_REQUEST: &str = "control_request";
    pub const CONTROL_RESPONSE: &str = "control_response";
    pub const CONTROL_CANCEL: &str = "control_cancel";
    pub const WORKER_STATUS: &str = "worker_status";
    pub const CATCH_UP_TRUNCATED: &str = "catch_up_truncated";
}

/// An event as stored and streamed, with the relay's sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub source: Source,
    pub created_at: String,
    #[serde(default)]
    pub payload: Value,
}

/// An event as a publisher sends it: the relay adds `seq`, `source` and `created_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub payload: Value,
}

impl NewEvent {
    /// An event with a fresh UUID as its id: what every publisher mints, so that a retried
    /// batch carries the same ids and the relay can drop the copies.
    pub fn new(kind: impl Into<String>, payload: Value) -> NewEvent {
        NewEvent {
            id: uuid::Uuid::new_v4().to_string(),
            kind: kind.into(),
            payload,
        }
    }
}

/// Why the relay refuses a published event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventRefusal {
    #[error("event id `{0}` is not a UUID")]
    BadId(String),
    #[error("event type `{0}` is not a lower-case identifier of at most 64 characters")]
    BadType(String),
    #[error("{publisher} may not publish `{kind}` events")]
    Forbidden {
        publisher: &'static str,
        kind: String,
    },
    #[error("an event's payload must be a JSON object")]
    PayloadNotObject,
}

/// Decide whether `source` may publish `event`. A pure rule shared by the relay and its tests.
///
/// Clients may only speak for the person holding the phone: messages, answers to prompts, and
/// control requests such as `interrupt`. The worker may publish anything except what only the
/// relay may say (`worker_status`, `catch_up_truncated`), including types this version does
/// not know, so that newer workers keep working through older relays.
pub fn check_publish(source: Source, event: &NewEvent) -> Result<(), EventRefusal> {
    if uuid::Uuid::try_parse(&event.id).is_err() {
        return Err(EventRefusal::BadId(event.id.chars().take(64).collect()));
    }
    let kind = event.kind.as_str();
    let well_formed = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(EventRefusal::BadType(kind.chars().take(64).collect()));
    }
    if !event.payload.is_object() {
        return Err(EventRefusal::PayloadNotObject);
    }
    let allowed = match source {
        Source::Client => matches!(
            kind,
            types::USER_MESSAGE | types::CONTROL_RESPONSE | types::CONTROL_REQUEST
        ),
        Source::Worker => !matches!(kind, types::WORKER_STATUS | types::CATCH_UP_TRUNCATED),
        Source::Relay => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(EventRefusal::Forbidden {
            publisher: source.as_str(),
            kind: kind.to_owned(),
        })
    }
}

/// The one spelling of an event id: its UUID, hyphenated, in lower case. `Uuid::try_parse`
/// also reads upper case, braces, `urn:uuid:` and the bare 32 digits, and ids deduplicate
/// retries only if every spelling of one UUID is stored as the same text.
pub fn canonical_event_id(raw: &str) -> Result<String, EventRefusal> {
    uuid::Uuid::try_parse(raw)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| EventRefusal::BadId(raw.chars().take(64).collect()))
}

/// Whether the worker's stream carries `event`: the worker needs what clients said, and the
/// relay's notices, but not its own output echoed back.
pub fn for_worker(source: Source, kind: &str) -> bool {
    source == Source::Client || kind == types::CATCH_UP_TRUNCATED
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: [&str; 12] = [
        types::SYSTEM_INIT,
        types::USER_MESSAGE,
        types::ASSISTANT_DELTA,
        types::ASSISTANT_MESSAGE,
        types::COMMAND_OUTPUT,
        types::SESSION_STATE,
        types::CONTROL_REQUEST,
        types::CONTROL_RESPONSE,
        types::CONTROL_CANCEL,
        types::WORKER_STATUS,
        types::CATCH_UP_TRUNCATED,
        "some_future_type",
    ];

    fn event(kind: &str) -> NewEvent {
        NewEvent {
            id: uuid::Uuid::new_v4().to_string(),
            kind: kind.into(),
            payload: json!({}),
        }
    }

    #[test]
    fn who_may_publish_what() {
        for kind in ALL {
            let client = check_publish(Source::Client, &event(kind)).is_ok();
            let worker = check_publish(Source::Worker, &event(kind)).is_ok();
            let expect_client = matches!(
                kind,
                "user_message" | "control_request" | "control_response"
            );
            let expect_worker = !matches!(kind, "worker_status" | "catch_up_truncated");
            assert_eq!(client, expect_client, "client {kind}");
            assert_eq!(worker, expect_worker, "worker {kind}");
            assert!(check_publish(Source::Relay, &event(kind)).is_ok());
        }
    }

    #[test]
    fn malformed_events_are_refused() {
        let mut e = event("user_message");
        e.id = "not-a-uuid".into();
        assert!(matches!(
            check_publish(Source::Client, &e),
            Err(EventRefusal::BadId(_))
        ));
        for kind in [
            "",
            "User_Message",
            "user message",
            "x\u{0}",
            &"a".repeat(65),
            "ü",
        ] {
            let e = event(kind);
            assert!(
                matches!(
                    check_publish(Source::Worker, &e),
                    Err(EventRefusal::BadType(_))
                ),
                "{kind:?}"
            );
        }
        for payload in [json!(null), json!([1]), json!("text"), json!(3)] {
            let mut e = event("user_message");
            e.payload = payload;
            assert_eq!(
                check_publish(Source::Client, &e),
                Err(EventRefusal::PayloadNotObject)
            );
        }
    }

    #[test]
    fn every_spelling_of_a_uuid_has_one_canonical_id() {
        let canonical = "6f1f4f0e-7a43-4c53-9d0c-2b1f7b0c9a11";
        for spelling in [
            canonical.to_owned(),
            canonical.to_uppercase(),
            format!("{{{canonical}}}"),
            format!("{{{}}}", canonical.to_uppercase()),
            format!("urn:uuid:{canonical}"),
            canonical.replace('-', ""),
            "6F1f4F0e-7A43-4c53-9D0C-2b1f7b0c9A11".to_owned(),
        ] {
            assert_eq!(
                canonical_event_id(&spelling).as_deref(),
                Ok(canonical),
                "{spelling}"
            );
        }
        for bad in [
            "",
            "not-a-uuid",
            "6f1f4f0e-7a43-4c53-9d0c-2b1f7b0c9a1",
            " 6f1f4f0e-7a43-4c53-9d0c-2b1f7b0c9a11",
        ] {
            assert!(
                matches!(canonical_event_id(bad), Err(EventRefusal::BadId(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn worker_stream_carries_client_events_and_relay_notices_only() {
        assert!(for_worker(Source::Client, "user_message"));
        assert!(for_worker(Source::Relay, "catch_up_truncated"));
        assert!(!for_worker(Source::Relay, "worker_status"));
        assert!(!for_worker(Source::Worker, "assistant_delta"));
    }

    #[test]
    fn wire_shape_matches_the_protocol() {
        let e = Event {
            seq: 42,
            id: "2b0e".into(),
            kind: "assistant_delta".into(),
            source: Source::Worker,
            created_at: "2026-11-24T10:00:00Z".into(),
            payload: json!({"message_id": "m", "text": "hi"}),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            json!({"seq": 42, "id": "2b0e", "type": "assistant_delta", "source": "worker",
                   "created_at": "2026-11-24T10:00:00Z", "payload": {"message_id": "m", "text": "hi"}})
        );
    }
}
