//! The session key: 32 random bytes made by the terminal, and its generation. It reaches a
//! browser only in the link's fragment (`#k=…&g=…`), which browsers never send to a server.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes in a session key.
pub const KEY_BYTES: usize = 32;

/// A session key and its generation (0 at the start, +1 at each `/session revoke`). Its bytes
/// are never printed: `Debug` shows only the generation.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey {
    bytes: [u8; KEY_BYTES],
    generation: u32,
}

/// Why a fragment carries no usable key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No `k=` in the fragment.
    #[error("the link carries no session key (#k=…)")]
    Missing,
    /// `k=` is not 32 bytes of base64url without padding.
    #[error("the session key in the link is not 32 bytes of base64url")]
    Malformed,
    /// `g=` is not a generation number.
    #[error("the key generation in the link is not a number")]
    BadGeneration,
    /// The system's random number generator failed.
    #[error("the system's random number generator failed")]
    Random,
}

impl SessionKey {
    /// A fresh random key of generation `generation`.
    pub fn generate(generation: u32) -> Result<SessionKey, KeyError> {
        let mut bytes = [0u8; KEY_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| KeyError::Random)?;
        Ok(SessionKey { bytes, generation })
    }

    /// The key made after this one by `/session revoke`: fresh random bytes, not derived, so a
    /// device holding this key learns nothing about the next.
    pub fn next(&self) -> Result<SessionKey, KeyError> {
        SessionKey::generate(self.generation + 1)
    }

    /// A key from known bytes (a test vector, or a key read back from a fragment).
    pub fn from_bytes(bytes: [u8; KEY_BYTES], generation: u32) -> SessionKey {
        SessionKey { bytes, generation }
    }

    /// Its generation.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.bytes
    }

    /// The URL fragment that carries it, without the `#`: `k=<base64url>`, with `&g=<n>` after
    /// the first generation.
    pub fn fragment(&self) -> String {
        let k = URL_SAFE_NO_PAD.encode(self.bytes);
        match self.generation {
            0 => format!("k={k}"),
            g => format!("k={k}&g={g}"),
        }
    }

    /// The key in a fragment (with or without its `#`): `k=` exactly 43 base64url characters,
    /// `g=` a generation (absent: 0). Other parameters are ignored; a repeated `k` or `g` is
    /// refused rather than guessed at.
    pub fn from_fragment(fragment: &str) -> Result<SessionKey, KeyError> {
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        let (mut k, mut g) = (None, None);
        for part in fragment.split('&') {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let slot = match name {
                "k" => &mut k,
                "g" => &mut g,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(if name == "k" {
                    KeyError::Malformed
                } else {
                    KeyError::BadGeneration
                });
            }
        }
        let k = k.ok_or(KeyError::Missing)?;
        // 43 characters is exactly 32 bytes; the decoder also refuses non-canonical trailing bits.
        if k.len() != 43 {
            return Err(KeyError::Malformed);
        }
        let decoded = URL_SAFE_NO_PAD.decode(k).map_err(|_| KeyError::Malformed)?;
        let bytes: [u8; KEY_BYTES] = decoded.try_into().map_err(|_| KeyError::Malformed)?;
        let generation = match g {
            None => 0,
            Some(g) if !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()) && g.len() <= 9 => {
                g.parse().map_err(|_| KeyError::BadGeneration)?
            }
            Some(_) => return Err(KeyError::BadGeneration),
        };
        Ok(SessionKey { bytes, generation })
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fragment_round_trips_and_says_its_generation_only_after_the_first() {
        let key = SessionKey::generate(0).unwrap();
        let f = key.fragment();
        assert!(
            f.starts_with("k=") && f.len() == 45 && !f.contains("&g="),
            "{f}"
        );
        assert_eq!(SessionKey::from_fragment(&f).unwrap(), key);
        assert_eq!(SessionKey::from_fragment(&format!("#{f}")).unwrap(), key);
        let next = key.next().unwrap();
        assert_eq!(next.generation(), 1);
        assert_ne!(next.bytes(), key.bytes(), "fresh bytes, not derived");
        assert!(next.fragment().ends_with("&g=1"));
        assert_eq!(SessionKey::from_fragment(&next.fragment()).unwrap(), next);
        assert_eq!(
            SessionKey::from_fragment(&format!("x=1&{}&y", next.fragment())).unwrap(),
            next,
            "other parameters are ignored"
        );
    }

    #[test]
    fn hostile_fragments_carry_no_key() {
        let good = SessionKey::from_bytes([7; 32], 0).fragment();
        let k = &good[2..];
        for (fragment, error) in [
            ("".to_owned(), KeyError::Missing),
            ("g=1".to_owned(), KeyError::Missing),
            ("k=".to_owned(), KeyError::Malformed),
            (format!("k={}", &k[..42]), KeyError::Malformed),
            (format!("k={k}A"), KeyError::Malformed),
            (format!("k={}+", &k[..42]), KeyError::Malformed),
            (format!("k={}=", &k[..42]), KeyError::Malformed),
            // The last character of 32 bytes in 43 carries 2 spare bits that must be zero.
            (format!("k={}B", &k[..42]), KeyError::Malformed),
            (format!("k={k}&k={k}"), KeyError::Malformed),
            (format!("k={k}&g="), KeyError::BadGeneration),
            (format!("k={k}&g=-1"), KeyError::BadGeneration),
            (format!("k={k}&g=1e3"), KeyError::BadGeneration),
            (format!("k={k}&g=99999999999"), KeyError::BadGeneration),
            (format!("k={k}&g=1&g=2"), KeyError::BadGeneration),
        ] {
            assert_eq!(
                SessionKey::from_fragment(&fragment),
                Err(error.clone()),
                "{fragment}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_bytes() {
        let key = SessionKey::from_bytes([0xAB; 32], 3);
        let shown = format!("{key:?}");
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("ab"),
            "{shown}"
        );
        assert!(shown.contains('3'));
    }
}
