//! The envelope: a sealed event's `payload` on the wire,
//! `{"v": 1, "g": <generation>, "nonce": "<base64url>", "ct": "<base64url>"}`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The one envelope version.
pub const VERSION: u64 = 1;
/// Bytes of an AES-GCM nonce.
pub const NONCE_BYTES: usize = 12;
/// Bytes of the AES-GCM tag at the end of the ciphertext.
pub const TAG_BYTES: usize = 16;

/// A parsed envelope. Parsing checks only its shape; whether it opens is [`crate::open`]'s job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The key generation it claims (authenticated through the associated data).
    pub generation: u32,
    /// The nonce.
    pub nonce: [u8; NONCE_BYTES],
    /// The ciphertext followed by its tag.
    pub ciphertext: Vec<u8>,
}

impl Envelope {
    /// The envelope in `payload`, if it has the documented shape: `v` 1, `g` an integer that fits
    /// a generation, `nonce` 12 bytes and `ct` at least a tag, both base64url without padding.
    /// Extra fields are ignored: they are not authenticated, so nothing reads them.
    pub fn parse(payload: &Value) -> Option<Envelope> {
        let object = payload.as_object()?;
        if object.get("v")?.as_u64()? != VERSION {
            return None;
        }
        let generation = u32::try_from(object.get("g")?.as_u64()?).ok()?;
        let nonce = URL_SAFE_NO_PAD
            .decode(object.get("nonce")?.as_str()?)
            .ok()?
            .try_into()
            .ok()?;
        let ciphertext = URL_SAFE_NO_PAD.decode(object.get("ct")?.as_str()?).ok()?;
        if ciphertext.len() < TAG_BYTES {
            return None;
        }
        Some(Envelope {
            generation,
            nonce,
            ciphertext,
        })
    }

    /// As the event's payload.
    pub fn to_value(&self) -> Value {
        json!({
            "v": VERSION,
            "g": self.generation,
            "nonce": URL_SAFE_NO_PAD.encode(self.nonce),
            "ct": URL_SAFE_NO_PAD.encode(&self.ciphertext),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips_and_a_misshapen_one_is_refused() {
        let e = Envelope {
            generation: 2,
            nonce: [1; 12],
            ciphertext: vec![9; 20],
        };
        assert_eq!(Envelope::parse(&e.to_value()), Some(e.clone()));
        let mut extra = e.to_value();
        extra["note"] = json!("ignored");
        assert_eq!(Envelope::parse(&extra), Some(e.clone()));
        let good = e.to_value();
        let with = |field: &str, value: Value| {
            let mut v = good.clone();
            v[field] = value;
            v
        };
        let without = |field: &str| {
            let mut v = good.clone();
            v.as_object_mut().unwrap().remove(field);
            v
        };
        for bad in [
            json!(null),
            json!("text"),
            json!({"text": "plaintext"}),
            with("v", json!(2)),
            with("v", json!("1")),
            with("g", json!(-1)),
            with("g", json!(1.5)),
            with("g", json!(u64::from(u32::MAX) + 1)),
            with("nonce", json!(URL_SAFE_NO_PAD.encode([1u8; 11]))),
            with("nonce", json!(URL_SAFE_NO_PAD.encode([1u8; 13]))),
            with("nonce", json!("AQEBAQEBAQEBAQEB==")),
            with("ct", json!(URL_SAFE_NO_PAD.encode([1u8; 15]))),
            with("ct", json!("not base64!")),
            with("ct", json!(7)),
            without("v"),
            without("g"),
            without("nonce"),
            without("ct"),
        ] {
            assert_eq!(Envelope::parse(&bad), None, "{bad}");
        }
    }
}
