//! What clients said, as the terminal gets it: each event once, in order, opened (docs/protocol.md
//! §4.7) and with its payload typed ([`Payload`]), so the terminal acts on verified types, never
//! on JSON. An event that does not open is only ever [`Inbound::Unverified`].

use tether_protocol::{Event, Payload};
use tether_seal::{Order, Reader, Received, SessionKey, Unverified};

use super::Protection;
use super::dedup::DedupWindow;

/// Ids remembered to drop a repeated event.
const DEDUP_WINDOW: usize = 4096;

/// Something for the terminal, from the worker stream (or from the worker itself).
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// An event on the worker stream: what a client published (a message, an answer, an
    /// interrupt) or a relay notice (`catch_up_truncated`). Types this version does not know,
    /// and known types without their fields, are [`Payload::Unknown`].
    Event {
        /// The event's id, as the relay stored it.
        id: String,
        /// Its place in the session's log.
        seq: u64,
        /// What it says.
        payload: Payload,
    },
    /// A client event that could not be verified (not sealed, sealed with another key, changed,
    /// or moved from elsewhere): it is not to be shown as content, run, or taken as an answer.
    Unverified {
        /// The event's id.
        id: String,
        /// Its type, as the relay says.
        kind: String,
        /// Why it was not believed.
        why: Unverified,
    },
    /// The next event ([`Inbound::Event`] with id `id`) is authentic, but the relay dropped
    /// events of its sender before it ([`Order::Gap`]) or held it back ([`Order::Late`]).
    OutOfOrder {
        /// The event that follows.
        id: String,
        /// What happened.
        order: Order,
    },
    /// A call ([`super::WorkerHandle::call`]) was not sent because someone is looking at the
    /// session now (a page visible and focused): the terminal calls again later if the
    /// request still waits.
    Held {
        /// The call's kind.
        kind: tether_protocol::push::PushKind,
        /// Its tag.
        tag: String,
    },
    /// The worker stopped for good and will send nothing more; `reason` is for the person.
    Stopped {
        /// Why, in words for the person.
        reason: String,
    },
}

/// The terminal's view of `event`, in plaintext (for [`Protection::Plaintext`]).
pub(crate) fn to_inbound(event: Event) -> Inbound {
    Inbound::Event {
        payload: event.typed(),
        id: event.id,
        seq: event.seq,
    }
}

/// Opens what clients sealed, and keeps their counters across the worker's reconnects.
pub(crate) struct Opener {
    reader: Option<Reader>,
}

impl Opener {
    pub(crate) fn new(protection: &Protection, session: &str) -> Opener {
        Opener {
            reader: match protection {
                Protection::EndToEnd(key) => Some(Reader::new(key, session)),
                Protection::Plaintext => None,
            },
        }
    }

    pub(crate) fn rekey(&mut self, key: &SessionKey) {
        if let Some(reader) = &mut self.reader {
            reader.rekey(key);
        }
    }

    /// What the terminal gets for `event` (already known new by [`Position`]): nothing for a
    /// replayed ciphertext, a warning before an event out of its sender's order.
    pub(crate) fn open(&mut self, mut event: Event) -> Vec<Inbound> {
        let Some(reader) = &mut self.reader else {
            return vec![to_inbound(event)];
        };
        match reader.receive(&event) {
            Received::Plain => vec![to_inbound(event)],
            Received::Repeat => Vec::new(),
            Received::Unverified(why) => vec![Inbound::Unverified {
                id: event.id,
                kind: event.kind,
                why,
            }],
            Received::Verified { payload, order, .. } => {
                event.payload = payload;
                let warning = order.is_warning().then(|| Inbound::OutOfOrder {
                    id: event.id.clone(),
                    order,
                });
                warning.into_iter().chain([to_inbound(event)]).collect()
            }
        }
    }
}

/// Where the worker is in the stream: the last `seq` seen (a reconnect resumes after it) and the
/// recent ids (a repeat is dropped even if its seq looked new).
pub(crate) struct Position {
    last_seq: u64,
    seen: DedupWindow,
}

impl Position {
    pub(crate) fn new() -> Self {
        Position {
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
    use serde_json::{Value, json};
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
    fn client_events_are_typed_with_their_ids() {
        let m = event(
            1,
            "a",
            "user_message",
            json!({"text": "hi", "origin": "client"}),
        );
        assert_eq!(
            to_inbound(m.clone()),
            Inbound::Event {
                id: "a".into(),
                seq: 1,
                payload: Payload::parse("user_message", &m.payload),
            }
        );
        let Inbound::Event { payload, .. } = to_inbound(m) else {
            panic!()
        };
        assert!(matches!(payload, Payload::UserMessage(u) if u.text == "hi"));
        for e in [
            event(1, "a", "catch_up_truncated", json!({"oldest_seq": 5})),
            event(2, "b", "user_message", json!({"origin": "client"})),
            event(3, "c", "control_request", json!({"request_id": "r"})),
            event(4, "d", "some_future_type", json!({})),
        ] {
            let Inbound::Event { id, payload, .. } = to_inbound(e.clone()) else {
                panic!()
            };
            assert_eq!(id, e.id);
            assert_eq!(payload.kind(), e.kind);
            assert_eq!(payload.to_value(), e.payload, "passed through untouched");
        }
    }

    #[test]
    fn the_cursor_drops_old_seqs_and_repeated_ids() {
        let mut c = Position::new();
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
