//! A receiver's first step: one event, opened under its direction's key and bound to where the
//! relay says it belongs, or refused with the reason.

use ring::aead::{Aad, Nonce};
use serde_json::Value;
use tether_protocol::Event;

use crate::aad::associated_data;
use crate::envelope::Envelope;
use crate::keys::{Direction, Keys};

/// What a sealed event said, and who said it.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// The publisher's random id.
    pub sender: String,
    /// Its number among that publisher's events.
    pub counter: u64,
    /// The payload that was sealed.
    pub payload: Value,
}

/// Why an event of a sealed type cannot be believed. None of these is ever shown as content,
/// run, or taken as an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    /// Its payload is not an envelope.
    #[error("it was not sealed")]
    Unsealed,
    /// Sealed under a newer key than this receiver holds: the key was replaced, rescan.
    #[error("it was sealed with a newer key of this session (generation {0})")]
    NewerKey(u32),
    /// Sealed under an older key: from before the key was replaced.
    #[error("it was sealed with an earlier key of this session (generation {0})")]
    OlderKey(u32),
    /// It does not open: changed, moved from another session, event, type or direction, or
    /// made without the key.
    #[error("it does not open with this session's key")]
    Forged,
    /// It opens, but what is inside is not the documented plaintext.
    #[error("its content is malformed")]
    Malformed,
}

/// Open `event` of `session` with `keys`: the envelope's shape, its generation, the
/// authenticated decryption bound to the event as stored, then the plaintext's shape.
pub fn open(keys: &Keys, session: &str, event: &Event) -> Result<Opened, Unverified> {
    let envelope = Envelope::parse(&event.payload).ok_or(Unverified::Unsealed)?;
    // The relay's own events are never sealed, so one that claims to be is made up.
    let direction = Direction::of(event.source).ok_or(Unverified::Forged)?;
    let ours = keys.generation();
    if envelope.generation > ours {
        return Err(Unverified::NewerKey(envelope.generation));
    }
    if envelope.generation < ours {
        return Err(Unverified::OlderKey(envelope.generation));
    }
    let aad = associated_data(session, &event.id, &event.kind, direction, ours);
    let mut data = envelope.ciphertext;
    let plain = keys
        .of(direction)
        .open_in_place(
            Nonce::assume_unique_for_key(envelope.nonce),
            Aad::from(aad.as_bytes()),
            &mut data,
        )
        .map_err(|_| Unverified::Forged)?;
    parse_plaintext(plain).ok_or(Unverified::Malformed)
}

/// `{"from": sender, "n": counter ≥ 1, "payload": {…}}`, sender 1–64 of `[A-Za-z0-9_-]`.
fn parse_plaintext(bytes: &[u8]) -> Option<Opened> {
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    let object = value.as_object_mut()?;
    let sender = object.get("from")?.as_str()?.to_owned();
    let valid_sender = (1..=64).contains(&sender.len())
        && sender
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let counter = object.get("n")?.as_u64()?;
    if !valid_sender || counter == 0 || !object.get("payload")?.is_object() {
        return None;
    }
    let payload = object.remove("payload")?;
    Some(Opened {
        sender,
        counter,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::SessionKey;
    use crate::seal::Sealer;
    use serde_json::json;
    use tether_protocol::Source;

    const SESSION: &str = "session_3d1c6b9e-9a4f-4c1e-8f3a-2b7d5e6f7a8b";
    const ID: &str = "4a6f0c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b";

    fn sealed(key: &SessionKey, direction: Direction, kind: &str, payload: Value) -> Event {
        let mut sealer = Sealer::new(key, SESSION, direction, "d_test".into());
        Event {
            seq: 1,
            id: ID.into(),
            kind: kind.into(),
            source: match direction {
                Direction::Worker => Source::Worker,
                Direction::Client => Source::Client,
            },
            created_at: "2026-12-02T00:00:00Z".into(),
            payload: sealer.seal(ID, kind, &payload).unwrap(),
        }
    }

    #[test]
    fn a_sealed_event_opens_where_it_was_sealed_and_nowhere_else() {
        let key = SessionKey::generate(0).unwrap();
        let keys = Keys::derive(&key);
        let said = json!({"text": "marker-7f3a", "origin": "client"});
        let event = sealed(&key, Direction::Client, "user_message", said.clone());
        let opened = open(&keys, SESSION, &event).unwrap();
        assert_eq!((opened.sender.as_str(), opened.counter), ("d_test", 1));
        assert_eq!(opened.payload, said);
        assert!(!event.payload.to_string().contains("marker"));

        let mut moved = event.clone();
        moved.id = "5a6f0c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b".into();
        let mut retyped = event.clone();
        retyped.kind = "control_response".into();
        let mut turned = event.clone();
        turned.source = Source::Worker;
        let mut from_relay = event.clone();
        from_relay.source = Source::Relay;
        let mut flipped = event.clone();
        let ct = flipped.payload["ct"].as_str().unwrap().to_owned();
        let c = if ct.starts_with('A') { "B" } else { "A" };
        flipped.payload["ct"] = json!(format!("{c}{}", &ct[1..]));
        let mut unsealed = event.clone();
        unsealed.payload = said.clone();
        for (name, e, session, why) in [
            ("another event id", &moved, SESSION, Unverified::Forged),
            ("another type", &retyped, SESSION, Unverified::Forged),
            ("the other direction", &turned, SESSION, Unverified::Forged),
            (
                "the relay as source",
                &from_relay,
                SESSION,
                Unverified::Forged,
            ),
            ("a flipped byte", &flipped, SESSION, Unverified::Forged),
            ("plaintext", &unsealed, SESSION, Unverified::Unsealed),
            (
                "another session",
                &event,
                "session_00000000-0000-4000-8000-000000000000",
                Unverified::Forged,
            ),
        ] {
            assert_eq!(open(&keys, session, e), Err(why), "{name}");
        }
        let other = Keys::derive(&SessionKey::generate(0).unwrap());
        assert_eq!(open(&other, SESSION, &event), Err(Unverified::Forged));
    }

    #[test]
    fn another_generation_is_named_not_opened() {
        let old = SessionKey::generate(0).unwrap();
        let new = old.next().unwrap();
        let event = sealed(
            &new,
            Direction::Worker,
            "assistant_delta",
            json!({"text": "x"}),
        );
        assert_eq!(
            open(&Keys::derive(&old), SESSION, &event),
            Err(Unverified::NewerKey(1))
        );
        let event = sealed(
            &old,
            Direction::Worker,
            "assistant_delta",
            json!({"text": "x"}),
        );
        assert_eq!(
            open(&Keys::derive(&new), SESSION, &event),
            Err(Unverified::OlderKey(0))
        );
        // A relay that rewrites the generation in the envelope gains nothing.
        let mut claimed = event.clone();
        claimed.payload["g"] = json!(1);
        assert_eq!(
            open(&Keys::derive(&new), SESSION, &claimed),
            Err(Unverified::Forged)
        );
    }

    #[test]
    fn a_well_sealed_but_misshapen_plaintext_is_refused() {
        for (sender, n, payload) in [
            ("", 1, json!({})),
            ("has space", 1, json!({})),
            (&*"x".repeat(65), 1, json!({})),
            ("ok", 0, json!({})),
            ("ok", 1, json!("text")),
        ] {
            assert_eq!(
                parse_plaintext(&crate::seal::plaintext(sender, n, &payload)),
                None,
                "{sender} {n} {payload}"
            );
        }
        assert_eq!(parse_plaintext(b"not json"), None);
        assert_eq!(
            parse_plaintext(br#"{"from":"a","n":-1,"payload":{}}"#),
            None
        );
        assert!(parse_plaintext(&crate::seal::plaintext("w_1-A", 9, &json!({}))).is_some());
    }
}
