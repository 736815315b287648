//! A publisher's side: each event sealed under its direction's key with a fresh random nonce,
//! numbered inside the ciphertext so a receiver notices what the relay drops or reorders.

use ring::aead::{Aad, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

use crate::aad::associated_data;
use crate::envelope::Envelope;
use crate::key::SessionKey;
use crate::keys::{Direction, Keys};

/// One publisher: the worker (one per key generation) or one open page.
pub struct Sealer {
    keys: Keys,
    session: String,
    direction: Direction,
    sender: String,
    /// The counter of the last event sealed; the next is this + 1.
    counter: u64,
    /// The largest envelope (serialised) this publisher may make.
    limit: usize,
    random: SystemRandom,
}

/// Why an event was not sealed. No number is spent on it, so receivers see no gap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The system's random number generator failed.
    #[error("the system's random number generator failed")]
    Random,
    /// Sealed, it would be `bytes` long: over the publisher's limit.
    #[error("sealed, the event would be {bytes} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its sealed size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

/// A random sender id: `prefix` and 16 random hex digits (the documented alphabet is
/// `[A-Za-z0-9_-]`, so `prefix` must keep to it). Random, so that a publisher that starts
/// again under the same key (a restarted process) never reuses another's numbers.
pub fn sender_id(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &random[..16])
}

impl Sealer {
    /// A publisher in `session` sealing events of `direction` under `key`, as `sender`.
    pub fn new(key: &SessionKey, session: &str, direction: Direction, sender: String) -> Sealer {
        Sealer {
            keys: Keys::derive(key),
            session: session.to_owned(),
            direction,
            sender,
            counter: 0,
            limit: usize::MAX,
            random: SystemRandom::new(),
        }
    }

    /// Refuse to make envelopes longer than `bytes` (serialised), so that what the relay would
    /// refuse is never sealed and never spends a number.
    pub fn with_limit(mut self, bytes: usize) -> Sealer {
        self.limit = bytes;
        self
    }

    /// Who this publisher says it is inside each ciphertext.
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// The generation it seals under.
    pub fn generation(&self) -> u32 {
        self.keys.generation()
    }

    /// Events sealed so far.
    pub fn sealed(&self) -> u64 {
        self.counter
    }

    /// The envelope for `payload` as event `event_id` of type `kind`, numbered next. Seal an
    /// event once and resend that envelope on retries: sealing again would spend a number.
    pub fn seal(
        &mut self,
        event_id: &str,
        kind: &str,
        payload: &Value,
    ) -> Result<Value, SealError> {
        let counter = self.counter + 1;
        let data = plaintext(&self.sender, counter, payload);
        let bytes = envelope_size(data.len(), self.keys.generation());
        if bytes > self.limit {
            return Err(SealError::TooLarge {
                bytes,
                limit: self.limit,
            });
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let envelope = self.encrypt(nonce, data, event_id, kind);
        self.counter = counter;
        Ok(envelope.to_value())
    }

    /// Sealing with a given nonce and counter: the known-answer test's way in.
    #[cfg(test)]
    pub(crate) fn seal_with(
        &self,
        nonce: [u8; NONCE_LEN],
        counter: u64,
        event_id: &str,
        kind: &str,
        payload: &Value,
    ) -> Envelope {
        self.encrypt(
            nonce,
            plaintext(&self.sender, counter, payload),
            event_id,
            kind,
        )
    }

    fn encrypt(
        &self,
        nonce: [u8; NONCE_LEN],
        mut data: Vec<u8>,
        event_id: &str,
        kind: &str,
    ) -> Envelope {
        let aad = associated_data(
            &self.session,
            event_id,
            kind,
            self.direction,
            self.keys.generation(),
        );
        self.keys
            .of(self.direction)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut data,
            )
            // AES-GCM refuses only inputs near 64 GiB; an event is at most 256 KiB.
            .expect("AES-256-GCM seals an event");
        Envelope {
            generation: self.keys.generation(),
            nonce,
            ciphertext: data,
        }
    }
}

/// The serialised length of the envelope of a plaintext of `plain` bytes:
/// `{"ct":"…","g":G,"nonce":"…","v":1}`, base64url without padding.
pub(crate) fn envelope_size(plain: usize, generation: u32) -> usize {
    let base64 = |n: usize| (4 * n).div_ceil(3);
    let ct = base64(plain + crate::envelope::TAG_BYTES);
    r#"{"ct":"","g":,"nonce":"","v":1}"#.len()
        + ct
        + generation.to_string().len()
        + base64(NONCE_LEN)
}

/// `{"from": sender, "n": counter, "payload": payload}` as UTF-8 JSON, written straight from
/// the payload (no copy of it), fields in this order.
pub(crate) fn plaintext(sender: &str, counter: u64, payload: &Value) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Plain<'a> {
        from: &'a str,
        n: u64,
        payload: &'a Value,
    }
    serde_json::to_vec(&Plain {
        from: sender,
        n: counter,
        payload,
    })
    .expect("a JSON value serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_size_is_known_before_sealing_and_an_oversized_event_spends_no_number() {
        let key = SessionKey::generate(12).unwrap();
        let mut s = Sealer::new(&key, "session_x", Direction::Worker, "w_1".into());
        for len in [0, 1, 2, 3, 299, 300, 65536] {
            let payload = json!({"text": "x".repeat(len)});
            let sealed = s.seal("id", "assistant_delta", &payload).unwrap();
            let predicted = envelope_size(plaintext("w_1", s.sealed(), &payload).len(), 12);
            assert_eq!(sealed.to_string().len(), predicted, "{len}");
        }
        let before = s.sealed();
        let mut s = s.with_limit(1000);
        let big = json!({"text": "x".repeat(1000)});
        assert!(matches!(
            s.seal("id", "assistant_message", &big),
            Err(SealError::TooLarge { limit: 1000, .. })
        ));
        assert_eq!(s.sealed(), before, "no number spent");
        s.seal("id", "assistant_message", &json!({"text": "ok"}))
            .unwrap();
        assert_eq!(s.sealed(), before + 1);
    }
}
