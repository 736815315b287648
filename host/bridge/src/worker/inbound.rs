//! What clients said, as the terminal gets it: each event once, in order, turned into the few
//! shapes the terminal acts on.

use serde_json::Value;
use tether_protocol::Event;
use tether_protocol::event::types;

use super::dedup::DedupWindow;

/// Ids remembered to drop a repeated event.
const DEDUP_WINDOW: usize = 4096;

/// Something for the terminal, from the worker stream (or from the worker itself).
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// `user_message` from a client: a prompt typed on the phone.
    UserMessage {
        id: String,
        text: String,
        payload: Value,
    },
    /// `control_request` from a client, such as `interrupt`.
    ControlRequest {
        id: String,
        request_id: String,
        subtype: String,
        payload: Value,
    },
    /// `control_response` from a client: the answer to a prompt the terminal published.
    ControlResponse {
        id: String,
        request_id: String,
        payload: Value,
    },
    /// Anything else (including `catch_up_truncated`, and events of types this version does not
    /// know, or of a known type with fields missing), untouched.
    Other(Event),
    /// The worker stopped for good and will send nothing more; `reason` is for the person.
    Stopped { reason: String },
}

fn text(payload: &Value, field: &str) -> Option<String> {
    payload.get(field)?.as_str().map(str::to_owned)
}

/// The shape the terminal acts on for `event`.
pub(crate) fn to_inbound(event: Event) -> Inbound {
    let p = &event.payload;
    let shaped = match event.kind.as_str() {
        types::USER_MESSAGE => text(p, "text").map(|text| Inbound::UserMessage {
            id: event.id.clone(),
            text,
            payload: p.clone(),
        }),
        types::CONTROL_REQUEST => {
            text(p, "request_id")
                .zip(text(p, "subtype"))
                .map(|(request_id, subtype)| Inbound::ControlRequest {
                    id: event.id.clone(),
                    request_id,
                    subtype,
                    payload: p.clone(),
                })
        }
        types::CONTROL_RESPONSE => {
            text(p, "request_id").map(|request_id| Inbound::ControlResponse {
                id: event.id.clone(),
                request_id,
                payload: p.clone(),
            })
        }
        _ => None,
    };
    shaped.unwrap_or(Inbound::Other(event))
}

/// Where the worker is in the stream: the last `seq` seen (a reconnect resumes after it) and the
/// recent ids (a repeat is dropped even if its seq looked new).
pub(crate) struct Cursor {
    last_seq: u64,
    seen: DedupWindow,
}

impl Cursor {
    pub(crate) fn new() -> Self {
        Cursor {
            last_seq: 0,
            seen: DedupWindow::new(DEDUP_WINDOW),
        }
    }

    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Whether `event` is new; advances the cursor. `catch_up_truncated` (`seq` = the oldest kept
    /// minus one) moves the cursor like any event, so resuming from it does not repeat it.
    pub(crate) fn accept(&mut self, event: &Event) -> bool {
        if event.seq <= self.last_seq {
            return false;
        }
        self.last_seq = event.seq;
        self.seen.insert(&event.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tether_protocol::Source;

    fn event(seq: u64, id: &str, kind: &str, payload: Value) -> Event {
        Event {
            seq,
            id: id.into(),
            kind: kind.into(),
            source: Source::Client,
            created_at: "2026-01-01T00:00:00Z".into(),
            payload,
        }
    }

    #[test]
    fn client_events_get_their_shapes() {
        let m = event(
            1,
            "a",
            "user_message",
            json!({"text": "hi", "origin": "client"}),
        );
        assert_eq!(
            to_inbound(m.clone()),
            Inbound::UserMessage {
                id: "a".into(),
                text: "hi".into(),
                payload: m.payload
            }
        );
        let r = event(
            2,
            "b",
            "control_request",
            json!({"request_id": "r1", "subtype": "interrupt"}),
        );
        assert_eq!(
            to_inbound(r.clone()),
            Inbound::ControlRequest {
                id: "b".into(),
                request_id: "r1".into(),
                subtype: "interrupt".into(),
                payload: r.payload
            }
        );
        let a = event(
            3,
            "c",
            "control_response",
            json!({"request_id": "r2", "response": {"behavior": "allow"}}),
        );
        assert_eq!(
            to_inbound(a.clone()),
            Inbound::ControlResponse {
                id: "c".into(),
                request_id: "r2".into(),
                payload: a.payload
            }
        );
    }

    #[test]
    fn unknown_or_incomplete_events_pass_through() {
        for e in [
            event(1, "a", "catch_up_truncated", json!({"oldest_seq": 5})),
            event(2, "b", "user_message", json!({"origin": "client"})),
            event(3, "c", "control_request", json!({"request_id": "r"})),
            event(4, "d", "some_future_type", json!({})),
        ] {
            assert_eq!(to_inbound(e.clone()), Inbound::Other(e));
        }
    }

    #[test]
    fn the_cursor_drops_old_seqs_and_repeated_ids() {
        let mut c = Cursor::new();
        let e = |seq, id: &str| event(seq, id, "user_message", json!({}));
        assert!(c.accept(&e(3, "a")));
        assert!(!c.accept(&e(3, "a")));
        assert!(!c.accept(&e(2, "z")), "older than the cursor");
        assert!(!c.accept(&e(5, "a")), "the same id under a new seq");
        assert_eq!(c.last_seq(), 5);
        assert!(c.accept(&e(9, "truncated-notice")));
        assert!(c.accept(&e(10, "b")));
        assert_eq!(c.last_seq(), 10);
    }
}
