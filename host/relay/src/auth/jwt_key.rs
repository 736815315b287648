//! The key that signs worker JWTs, when an operator supplies it (`--jwt-key-file`) rather than
//! letting the relay keep one in its database.
//!
//! A key in the database is shared by every node for free, but whoever reads a backup of the
//! database can then mint worker tokens. A key in a file (a secret mounted into each node) keeps
//! the two apart. The file's text is checked by one pure function so that a truncated copy, a
//! placeholder or a stray character is refused at start, not discovered as 401s on another node.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How many bytes a key has: the HS256 key size the relay always used.
pub const KEY_BYTES: usize = 32;

/// Fewer distinct bytes than this in 32 is not randomness (`00…`, `abab…`, a repeated word).
const MIN_DISTINCT_BYTES: usize = 8;

/// A 32-byte HS256 key. Its `Debug` shows only the fingerprint.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtKey([u8; KEY_BYTES]);

/// Why a key file's text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtKeyError {
    /// Nothing but whitespace.
    #[error("the key file is empty")]
    Empty,
    /// Not hex and not base64.
    #[error(
        "the key is neither 64 hex digits nor base64 of {KEY_BYTES} bytes (make one with `openssl rand -hex 32`)"
    )]
    Encoding,
    /// Decoded, but to the wrong number of bytes.
    #[error(
        "the key is {0} bytes; it must be exactly {KEY_BYTES} (make one with `openssl rand -hex 32`)"
    )]
    Length(usize),
    /// Too regular to have come from a random source.
    #[error("the key is not random (too few distinct bytes); make one with `openssl rand -hex 32`")]
    Weak,
}

impl JwtKey {
    /// Wraps bytes the relay made itself (the database's key).
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        JwtKey(bytes)
    }

    /// The key in a file's text: 64 hex digits, or base64 (standard or URL-safe, padded or not)
    /// of exactly 32 bytes, with surrounding whitespace ignored.
    pub fn parse(text: &str) -> Result<Self, JwtKeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(JwtKeyError::Empty);
        }
        let bytes = decode(text)?;
        let bytes: [u8; KEY_BYTES] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| JwtKeyError::Length(b.len()))?;
        let mut seen = [false; 256];
        for b in bytes {
            seen[usize::from(b)] = true;
        }
        if seen.iter().filter(|s| **s).count() < MIN_DISTINCT_BYTES {
            return Err(JwtKeyError::Weak);
        }
        Ok(JwtKey(bytes))
    }

    /// The raw key, for signing and verifying.
    pub fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    /// Sixteen hex digits that name the key without revealing it: nodes record theirs so that
    /// one started with a different key is reported, and an operator can compare nodes' logs.
    pub fn fingerprint(&self) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(b"tether relay jwt key fingerprint v1");
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JwtKey({})", self.fingerprint())
    }
}

fn decode(text: &str) -> Result<Vec<u8>, JwtKeyError> {
    if text.len() == 2 * KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(text).map_err(|_| JwtKeyError::Encoding);
    }
    if text.bytes().all(|b| b.is_ascii_hexdigit())
        && text.len().is_multiple_of(2)
        && text.len() < 40
    {
        // Short hex is a truncated `openssl rand -hex` more often than base64 of 32 bytes.
        return Err(JwtKeyError::Length(text.len() / 2));
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or(JwtKeyError::Encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "3f1c9a0e5b7d2486f0a1c3e5b7d9f1a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4";

    fn sample() -> [u8; 32] {
        hex::decode(HEX).unwrap().try_into().unwrap()
    }

    #[test]
    fn hex_and_every_base64_form_give_the_same_key() {
        let want = JwtKey::from_bytes(sample());
        let b = sample();
        for text in [
            HEX.to_owned(),
            HEX.to_uppercase(),
            format!("  {HEX}\n"),
            format!("{HEX}\r\n"),
            STANDARD.encode(b),
            STANDARD_NO_PAD.encode(b),
            URL_SAFE.encode(b),
            URL_SAFE_NO_PAD.encode(b),
            format!("{}\n", STANDARD.encode(b)),
        ] {
            assert_eq!(JwtKey::parse(&text), Ok(want.clone()), "{text:?}");
        }
    }

    #[test]
    fn an_empty_file_is_refused() {
        for text in ["", " ", "\n\n", "\t \r\n"] {
            assert_eq!(JwtKey::parse(text), Err(JwtKeyError::Empty), "{text:?}");
        }
    }

    #[test]
    fn a_key_of_the_wrong_length_is_refused_with_its_length() {
        assert_eq!(JwtKey::parse(&HEX[..32]), Err(JwtKeyError::Length(16)));
        assert_eq!(
            JwtKey::parse(&STANDARD.encode([7u8; 16])),
            Err(JwtKeyError::Length(16))
        );
        let long: Vec<u8> = (0..64).collect();
        assert_eq!(
            JwtKey::parse(&STANDARD.encode(&long)),
            Err(JwtKeyError::Length(64))
        );
        let mut hex66 = HEX.to_owned();
        hex66.push_str("ab");
        assert!(JwtKey::parse(&hex66).is_err());
    }

    #[test]
    fn text_that_is_not_a_key_is_refused() {
        for text in [
            "changeme",
            "my secret key",
            &format!("{} {}", &HEX[..32], &HEX[32..]),
            &format!("{}\u{1b}[2J", &HEX[..62]),
            "zz3f1c9a0e5b7d2486f0a1c3e5b7d9f1a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2",
            "-----BEGIN PRIVATE KEY-----",
            "\u{0}\u{0}\u{0}",
            "ÿÿÿÿ",
        ] {
            assert!(JwtKey::parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn a_placeholder_key_is_refused_as_not_random() {
        for text in [
            "0".repeat(64),
            "ab".repeat(32),
            "0123".repeat(16),
            STANDARD.encode([b'x'; 32]),
            STANDARD.encode(*b"passwordpasswordpasswordpassword"),
        ] {
            assert_eq!(JwtKey::parse(&text), Err(JwtKeyError::Weak), "{text:?}");
        }
    }

    #[test]
    fn the_debug_form_and_the_fingerprint_do_not_reveal_the_key() {
        let key = JwtKey::from_bytes(sample());
        let shown = format!("{key:?}");
        assert!(!shown.to_lowercase().contains(&HEX[..16]), "{shown}");
        assert_eq!(key.fingerprint().len(), 16);
        assert!(!HEX.contains(&key.fingerprint()));
        assert_ne!(key.fingerprint(), JwtKey::from_bytes([9; 32]).fingerprint());
        assert_eq!(key.fingerprint(), JwtKey::parse(HEX).unwrap().fingerprint());
    }
}
