//! The two AES-256-GCM keys of a generation, derived from the session key with HKDF-SHA256, one
//! per direction, so a ciphertext of one direction never opens as the other.

use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};

use crate::key::SessionKey;

/// The HKDF salt, and the first line of the associated data.
pub(crate) const LABEL: &str = "tether-e2e-v1";

/// Which way an event travels, named by the `source` the relay stamps on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the terminal's worker to the clients.
    Worker,
    /// From a client (browser, phone) to the worker and the other clients.
    Client,
}

impl Direction {
    /// The `source` spelling, which is also the HKDF `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Worker => "worker",
            Direction::Client => "client",
        }
    }

    /// The direction of events from `source`; the relay's own events are never sealed.
    pub fn of(source: tether_protocol::Source) -> Option<Direction> {
        match source {
            tether_protocol::Source::Worker => Some(Direction::Worker),
            tether_protocol::Source::Client => Some(Direction::Client),
            tether_protocol::Source::Relay => None,
        }
    }
}

/// A generation's keys, ready to seal and open.
pub struct Keys {
    worker: LessSafeKey,
    client: LessSafeKey,
    generation: u32,
}

impl Keys {
    /// `key(source) = HKDF-SHA256(IKM = K, salt = "tether-e2e-v1", info = source)`, 32 bytes each.
    pub fn derive(key: &SessionKey) -> Keys {
        Keys {
            worker: expand(key, Direction::Worker),
            client: expand(key, Direction::Client),
            generation: key.generation(),
        }
    }

    /// The generation these keys belong to.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    pub(crate) fn of(&self, direction: Direction) -> &LessSafeKey {
        match direction {
            Direction::Worker => &self.worker,
            Direction::Client => &self.client,
        }
    }
}

fn expand(key: &SessionKey, direction: Direction) -> LessSafeKey {
    let info: &[&[u8]] = &[direction.as_str().as_bytes()];
    let prk = Salt::new(HKDF_SHA256, LABEL.as_bytes()).extract(key.bytes());
    let okm = prk
        .expand(info, &AES_256_GCM)
        // `expand` fails only for outputs longer than 255 hash lengths; 32 bytes never is.
        .expect("HKDF-SHA256 expands to 32 bytes");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// The raw bytes of a derived key, for the known-answer test only.
#[cfg(test)]
pub(crate) fn raw(key: &SessionKey, direction: Direction) -> [u8; 32] {
    struct Len;
    impl ring::hkdf::KeyType for Len {
        fn len(&self) -> usize {
            32
        }
    }
    let info: &[&[u8]] = &[direction.as_str().as_bytes()];
    let mut out = [0u8; 32];
    Salt::new(HKDF_SHA256, LABEL.as_bytes())
        .extract(key.bytes())
        .expand(info, Len)
        .unwrap()
        .fill(&mut out)
        .unwrap();
    out
}
