//! The test clients' side of end-to-end encryption (docs/protocol.md §4.7): the session key
//! from the link a terminal printed, events sealed as a phone seals them, and a stream's events
//! opened as a phone opens them. It uses `tether-seal`, the terminal's own crate; the web
//! client's separate implementation is held to the same known-answer vector.

use std::sync::Mutex;

use serde_json::{Value, json};
use tether_protocol::Event;
use tether_seal::{Direction, Reader, Received, Sealer, SessionKey, is_sealed, sender_id};

/// The session key in `url`'s fragment.
#[track_caller]
pub fn key_of(url: &str) -> SessionKey {
    let (_, fragment) = url
        .split_once('#')
        .unwrap_or_else(|| panic!("no key in the link {url}"));
    SessionKey::from_fragment(fragment).unwrap_or_else(|e| panic!("{e}: {url}"))
}

/// `envelope` (a sealed payload) with a bit of its ciphertext changed, as a tampering relay
/// would: it must no longer open.
pub fn flipped(envelope: &Value) -> Value {
    let mut changed = envelope.clone();
    let ct = envelope["ct"].as_str().expect("an envelope");
    // The first character's bits, changed within the base64url alphabet.
    let first = if ct.starts_with('A') { 'B' } else { 'A' };
    changed["ct"] = json!(format!("{first}{}", &ct[1..]));
    changed
}

/// One device's publisher: a sender id of its own, counting from 1.
pub struct Phone {
    sealer: Mutex<Sealer>,
}

impl Phone {
    /// A new device holding `key` in `session`.
    pub fn new(key: &SessionKey, session: &str) -> Phone {
        Phone {
            sealer: Mutex::new(Sealer::new(
                key,
                session,
                Direction::Client,
                sender_id("d_"),
            )),
        }
    }

    /// `event` (`{id, type, payload}`) with its payload sealed, if its type is sealed.
    pub fn seal(&self, mut event: Value) -> Value {
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        if is_sealed(&kind) {
            let id = event["id"].as_str().unwrap_or_default().to_owned();
            let sealed = self
                .sealer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .seal(&id, &kind, &event["payload"])
                .expect("sealed");
            event["payload"] = sealed;
        }
        event
    }
}

/// A reader of one stream: each event opened in order.
pub struct Opener {
    reader: Reader,
}

impl Opener {
    /// A reader holding `key` in `session`.
    pub fn new(key: &SessionKey, session: &str) -> Opener {
        Opener {
            reader: Reader::new(key, session),
        }
    }

    /// `event` as the page would take it: a sealed payload replaced by what it opened to (a
    /// gap or late arrival noted as `"order"`), one that does not open replaced by
    /// `{"unverified": why}`, a repeat dropped (`None`). The relay's plaintext types as they
    /// came.
    pub fn open(&mut self, mut event: Value) -> Option<Value> {
        let Ok(typed) = serde_json::from_value::<Event>(event.clone()) else {
            event["payload"] = json!({"unverified": "not an event"});
            return Some(event);
        };
        match self.reader.receive(&typed) {
            Received::Plain => {}
            Received::Repeat => return None,
            Received::Unverified(why) => event["payload"] = json!({"unverified": why.to_string()}),
            Received::Verified { payload, order, .. } => {
                event["payload"] = payload;
                if order.is_warning() {
                    event["order"] = json!(format!("{order:?}"));
                }
            }
        }
        Some(event)
    }
}
