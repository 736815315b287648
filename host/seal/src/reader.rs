//! A receiver on one stream: each event of a sealed type opened and placed among its sender's,
//! the relay's own plaintext events passed through, and trimmed history taken into account.

use serde_json::Value;
use tether_protocol::Event;

use crate::is_sealed;
use crate::key::SessionKey;
use crate::keys::Direction;
use crate::keys::Keys;
use crate::ledger::{Ledger, Order};
use crate::open::{Unverified, open};

/// What a receiver makes of one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// One of the relay's plaintext types (`session_state`, `worker_status`,
    /// `catch_up_truncated`): its payload as it came.
    Plain,
    /// Opened: the payload that was sealed, who sealed it, and where it stands in that
    /// sender's order ([`Order::InOrder`], or a gap or late event to warn about first).
    Verified {
        /// What was sealed.
        payload: Value,
        /// The sender.
        sender: String,
        /// Never [`Order::Repeat`]: repeats are [`Received::Repeat`].
        order: Order,
    },
    /// Opened, but its sender's counter was seen before: a replay. Drop it.
    Repeat,
    /// Not to be believed: never shown as content, run, or taken as an answer.
    Unverified(Unverified),
}

/// The keys of the current generation and the ledgers of the stream, one per direction, so
/// that a device cannot take the worker's sender id and spend its numbers (which would hide the
/// worker's events as repeats).
pub struct Reader {
    session: String,
    keys: Keys,
    /// The worker's senders, then the clients'.
    ledgers: [Ledger; 2],
}

impl Reader {
    /// A receiver in `session` holding `key`.
    pub fn new(key: &SessionKey, session: &str) -> Reader {
        Reader {
            session: session.to_owned(),
            keys: Keys::derive(key),
            ledgers: [Ledger::new(), Ledger::new()],
        }
    }

    /// Hold `key` from now on (after `/session revoke`): events of earlier generations no
    /// longer open.
    pub fn rekey(&mut self, key: &SessionKey) {
        self.keys = Keys::derive(key);
    }

    /// The generation held.
    pub fn generation(&self) -> u32 {
        self.keys.generation()
    }

    /// The ledger of `event`'s direction (`open` refused the relay's own source already).
    fn ledger(&mut self, event: &Event) -> &mut Ledger {
        match Direction::of(event.source) {
            Some(Direction::Client) => &mut self.ledgers[1],
            _ => &mut self.ledgers[0],
        }
    }

    /// Receive `event`, in stream order.
    pub fn receive(&mut self, event: &Event) -> Received {
        if !is_sealed(&event.kind) {
            if event.kind == "catch_up_truncated" {
                self.ledgers.iter_mut().for_each(Ledger::truncated);
            }
            return Received::Plain;
        }
        match open(&self.keys, &self.session, event) {
            Err(why) => Received::Unverified(why),
            Ok(opened) => match self.ledger(event).observe(&opened.sender, opened.counter) {
                Order::Repeat => Received::Repeat,
                order => Received::Verified {
                    payload: opened.payload,
                    sender: opened.sender,
                    order,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Direction;
    use crate::seal::Sealer;
    use serde_json::json;
    use tether_protocol::Source;

    const SESSION: &str = "session_local_3d1c6b9e-9a4f-4c1e-8f3a-2b7d5e6f7a8b";

    fn event(seq: u64, id: &str, kind: &str, source: Source, payload: Value) -> Event {
        Event {
            seq,
            id: id.into(),
            kind: kind.into(),
            source,
            created_at: "2026-12-02T00:00:00Z".into(),
            payload,
        }
    }

    fn id(n: u64) -> String {
        format!("00000000-0000-4000-8000-{n:012}")
    }

    #[test]
    fn a_stream_of_events_as_the_relay_might_deliver_them() {
        let key = SessionKey::generate(0).unwrap();
        let mut worker = Sealer::new(&key, SESSION, Direction::Worker, "w_1".into());
        let mut seal = |n: u64| {
            let payload = worker
                .seal(&id(n), "assistant_delta", &json!({"text": n}))
                .unwrap();
            event(n, &id(n), "assistant_delta", Source::Worker, payload)
        };
        let (e1, e2, e3, e4) = (seal(1), seal(2), seal(3), seal(4));
        let mut r = Reader::new(&key, SESSION);
        let order = |r: &mut Reader, e: &Event| match r.receive(e) {
            Received::Verified { order, payload, .. } => {
                assert_eq!(payload["text"], e.seq);
                Some(order)
            }
            Received::Repeat => None,
            other => panic!("{other:?}"),
        };
        assert_eq!(order(&mut r, &e1), Some(Order::InOrder));
        assert_eq!(order(&mut r, &e1), None, "a replay is dropped");
        assert_eq!(order(&mut r, &e3), Some(Order::Gap { missing: 1 }));
        assert_eq!(order(&mut r, &e2), Some(Order::Late));
        let state = event(
            9,
            &id(9),
            "session_state",
            Source::Worker,
            json!({"state": "idle"}),
        );
        assert_eq!(r.receive(&state), Received::Plain);
        let mut forged = e4.clone();
        forged.payload = json!({"text": "the relay speaking"});
        assert_eq!(
            r.receive(&forged),
            Received::Unverified(Unverified::Unsealed)
        );
        assert_eq!(order(&mut r, &e4), Some(Order::InOrder));
    }

    #[test]
    fn a_device_cannot_spend_the_workers_numbers() {
        let key = SessionKey::generate(0).unwrap();
        let mut worker = Sealer::new(&key, SESSION, Direction::Worker, "w_1".into());
        let mut impostor = Sealer::new(&key, SESSION, Direction::Client, "w_1".into());
        let from_impostor = event(
            1,
            &id(1),
            "user_message",
            Source::Client,
            impostor
                .seal(&id(1), "user_message", &json!({"text": "x"}))
                .unwrap(),
        );
        let from_worker = event(
            2,
            &id(2),
            "assistant_delta",
            Source::Worker,
            worker
                .seal(&id(2), "assistant_delta", &json!({"text": "y"}))
                .unwrap(),
        );
        let mut r = Reader::new(&key, SESSION);
        assert!(matches!(
            r.receive(&from_impostor),
            Received::Verified { .. }
        ));
        assert!(
            matches!(
                r.receive(&from_worker),
                Received::Verified {
                    order: Order::InOrder,
                    ..
                }
            ),
            "not a repeat"
        );
    }

    #[test]
    fn after_rekey_only_the_new_generation_opens() {
        let old = SessionKey::generate(0).unwrap();
        let new = old.next().unwrap();
        let mut phone = Sealer::new(&old, SESSION, Direction::Client, "d_1".into());
        let payload = phone
            .seal(&id(1), "user_message", &json!({"text": "hi"}))
            .unwrap();
        let from_old = event(1, &id(1), "user_message", Source::Client, payload);
        let mut r = Reader::new(&old, SESSION);
        r.rekey(&new);
        assert_eq!(r.generation(), 1);
        assert_eq!(
            r.receive(&from_old),
            Received::Unverified(Unverified::OlderKey(0))
        );
    }

    #[test]
    fn a_trimmed_history_lets_a_sender_start_late() {
        let key = SessionKey::generate(0).unwrap();
        let mut w = Sealer::new(&key, SESSION, Direction::Worker, "w_1".into());
        for n in 1..=5 {
            w.seal(&id(n), "assistant_delta", &json!({})).unwrap();
        }
        let sixth = event(
            6,
            &id(6),
            "assistant_delta",
            Source::Worker,
            w.seal(&id(6), "assistant_delta", &json!({})).unwrap(),
        );
        let mut r = Reader::new(&key, SESSION);
        let notice = event(
            5,
            &id(5),
            "catch_up_truncated",
            Source::Relay,
            json!({"oldest_seq": 6}),
        );
        assert_eq!(r.receive(&notice), Received::Plain);
        assert!(matches!(
            r.receive(&sixth),
            Received::Verified {
                order: Order::InOrder,
                ..
            }
        ));
        let mut fresh = Reader::new(&key, SESSION);
        assert!(matches!(
            fresh.receive(&sixth),
            Received::Verified {
                order: Order::Gap { missing: 5 },
                ..
            }
        ));
    }
}
