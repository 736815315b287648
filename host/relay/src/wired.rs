//! An event in the form streams send it: its JSON, made once when the event enters memory (right
//! after its commit, or when a page is read from the database), and shared by every reader.
//! Ten readers of a session cost one serialisation, not ten; memory holds the text, not the
//! parsed tree.

use axum::extract::ws::Utf8Bytes;
use tether_protocol::Event;
use tether_protocol::event::for_worker;

/// One event, serialised: what a stream needs of it and nothing more.
#[derive(Debug)]
pub struct Wired {
    /// Its place in the session's log.
    pub seq: u64,
    /// Whether a worker's stream carries it (`for_worker`): decided once, with the event at hand.
    pub for_worker: bool,
    /// The event's JSON, as on the wire (one line: JSON escapes every newline in a string).
    pub json: Utf8Bytes,
}

impl Wired {
    /// `event`, serialised.
    pub fn new(event: &Event) -> Self {
        Wired {
            seq: event.seq,
            for_worker: for_worker(event.source, &event.kind),
            json: serde_json::to_string(event)
                .expect("events serialise")
                .into(),
        }
    }

    /// The bytes it holds in memory (the budget rule of `weight.rs`).
    pub fn weight(&self) -> usize {
        std::mem::size_of::<Wired>() + self.json.len()
    }

    /// Append it as one Server-Sent Events message: `id: <seq>`, `data: <json>`.
    pub fn write_sse(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        let _ = write!(out, "id: {}\ndata: ", self.seq);
        out.extend_from_slice(self.json.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tether_protocol::Source;

    fn event(source: Source, kind: &str, payload: serde_json::Value) -> Event {
        Event {
            seq: 7,
            id: "e7".into(),
            kind: kind.into(),
            source,
            created_at: "2026-12-04T10:00:00Z".into(),
            payload,
        }
    }

    #[test]
    fn the_json_is_the_events_and_one_sse_message_even_with_newlines() {
        let e = event(
            Source::Worker,
            "assistant_delta",
            json!({"text": "two\nlines\r\n\nand data: no"}),
        );
        let w = Wired::new(&e);
        let back: Event = serde_json::from_str(w.json.as_str()).unwrap();
        assert_eq!(back, e);
        let mut out = Vec::new();
        w.write_sse(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("id: 7\ndata: {"), "{text}");
        assert!(text.ends_with("}\n\n"), "{text}");
        assert_eq!(
            text.matches('\n').count(),
            3,
            "one id line, one data line: {text}"
        );
        assert!(!text.contains('\r'));
        assert!(w.weight() > w.json.len());
    }

    #[test]
    fn a_worker_gets_what_clients_said_and_the_truncation_notice_only() {
        let said = Wired::new(&event(Source::Client, "user_message", json!({})));
        let replied = Wired::new(&event(Source::Worker, "assistant_delta", json!({})));
        let notice = Wired::new(&event(Source::Relay, "catch_up_truncated", json!({})));
        let status = Wired::new(&event(Source::Relay, "worker_status", json!({})));
        assert!(said.for_worker && notice.for_worker);
        assert!(!replied.for_worker && !status.for_worker);
    }
}
