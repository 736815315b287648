//! The relay's VAPID identity (RFC 8292): one P-256 key pair, made once and kept in the
//! database so that every node signs as the same server and a restart does not orphan the
//! subscriptions browsers made with its public key.
//!
//! The JWT is signed by `jwt-simple`; only the claims are ours. `aud` is the endpoint's origin
//! with its port when it is not the scheme's default (RFC 8292 §2: "the origin of the push
//! resource"), which `web-push-native`'s own VAPID helper leaves out.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::algorithms::{ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair};
use jwt_simple::claims::Claims;

/// How long a signature is good for: RFC 8292 §2 allows at most 24 hours.
pub const VALID_FOR: Duration = Duration::from_secs(12 * 60 * 60);

/// The relay's signing key, and who to contact about its pushes.
pub struct Vapid {
    key: ES256KeyPair,
    public: String,
    contact: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public", &self.public)
            .field("contact", &self.contact)
            .finish_non_exhaustive()
    }
}

impl Vapid {
    /// A fresh secret key, as the database keeps it (the 32-byte scalar).
    pub fn generate_secret() -> Vec<u8> {
        ES256KeyPair::generate().to_bytes()
    }

    /// The identity from its stored secret; `contact` is the `sub` claim (a `mailto:` or
    /// `https:` URL, RFC 8292 §2.1).
    pub fn from_secret(secret: &[u8], contact: String) -> Result<Vapid, String> {
        // jwt-simple panics on a scalar of the wrong length rather than refusing it.
        if secret.len() != 32 {
            return Err(format!(
                "the stored VAPID key is {} bytes, not 32",
                secret.len()
            ));
        }
        let key = ES256KeyPair::from_bytes(secret)
            .map_err(|e| format!("the stored VAPID key is not a P-256 key: {e}"))?;
        let public = URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed());
        Ok(Vapid {
            key,
            public,
            contact,
        })
    }

    /// The public key, uncompressed and base64url: a browser's `applicationServerKey`, and the
    /// `k` of every signature.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to `endpoint`.
    pub fn authorization(&self, endpoint: &http::Uri) -> Result<String, String> {
        let claims = Claims::create(VALID_FOR.into())
            .with_audience(audience(endpoint).ok_or("the endpoint has no origin")?)
            .with_subject(&self.contact);
        let token = self
            .key
            .sign(claims)
            .map_err(|e| format!("cannot sign the VAPID token: {e}"))?;
        Ok(format!("vapid t={token}, k={}", self.public))
    }
}

/// The origin of `endpoint`: scheme, host, and the port unless it is the scheme's default (the
/// same normal form the Origin check uses).
pub fn audience(endpoint: &http::Uri) -> Option<String> {
    crate::auth::origin::origin_of(&endpoint.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_simple::algorithms::ES256PublicKey;
    use jwt_simple::common::VerificationOptions;
    use std::collections::HashSet;

    #[test]
    fn the_audience_is_the_endpoints_origin() {
        let aud = |u: &str| audience(&u.parse().unwrap());
        assert_eq!(
            aud("https://fcm.googleapis.com/fcm/send/x").as_deref(),
            Some("https://fcm.googleapis.com")
        );
        assert_eq!(
            aud("https://fcm.googleapis.com:443/x").as_deref(),
            Some("https://fcm.googleapis.com")
        );
        assert_eq!(
            aud("http://127.0.0.1:8123/push/1").as_deref(),
            Some("http://127.0.0.1:8123")
        );
        assert_eq!(aud("/relative"), None);
    }

    #[test]
    fn a_signature_verifies_with_the_public_key_and_carries_the_claims() {
        let vapid =
            Vapid::from_secret(&Vapid::generate_secret(), "mailto:ops@example".into()).unwrap();
        let header = vapid
            .authorization(&"http://127.0.0.1:9/push/a".parse().unwrap())
            .unwrap();
        let (t, k) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap();
        assert_eq!(k, vapid.public_key());
        let public = ES256PublicKey::from_bytes(&URL_SAFE_NO_PAD.decode(k).unwrap()).unwrap();
        let options = VerificationOptions {
            allowed_audiences: Some(HashSet::from(["http://127.0.0.1:9".to_string()])),
            ..Default::default()
        };
        let claims = public
            .verify_token::<jwt_simple::claims::NoCustomClaims>(t, Some(options))
            .unwrap();
        assert_eq!(claims.subject.as_deref(), Some("mailto:ops@example"));
        let other = Vapid::from_secret(&Vapid::generate_secret(), "mailto:x@y".into()).unwrap();
        let stranger =
            ES256PublicKey::from_bytes(&URL_SAFE_NO_PAD.decode(other.public_key()).unwrap())
                .unwrap();
        assert!(
            stranger
                .verify_token::<jwt_simple::claims::NoCustomClaims>(t, None)
                .is_err()
        );
        assert!(Vapid::from_secret(b"short", "mailto:x@y".into()).is_err());
    }
}
