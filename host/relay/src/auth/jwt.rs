//! Worker JWTs: HS256 only, verified by one pure function.
//!
//! A general JWT library accepts whatever algorithm the header names unless told otherwise; here
//! the only accepted header is the one this relay writes, so `alg: none`, `RS256` confusion or a
//! re-encoded header cannot get through. The claims bind the token to one account, one session,
//! one role, one worker epoch and the login it was minted from (so that revoking the login can
//! refuse it before it expires).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tether_protocol::SessionId;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// What a worker token says: which session, for which epoch, until when, from which login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerClaims {
    /// The account that owns the session.
    pub sub: i64,
    /// The session.
    pub sid: SessionId,
    /// [`WORKER_ROLE`]; a token with any other role is refused.
    pub role: String,
    /// The worker registration it was issued to; a newer one makes it stale.
    pub epoch: u64,
    /// The login (OAuth token family) whose access token minted it.
    pub fam: uuid::Uuid,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
}

/// The `role` of every worker token.
pub const WORKER_ROLE: &str = "worker";

/// Why a worker token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts with JSON in them.
    #[error("the token is not a JWT")]
    Malformed,
    /// A header naming another algorithm (`none` included).
    #[error("the token's algorithm is not HS256")]
    Algorithm,
    /// Not signed with this relay's key, or altered.
    #[error("the token's signature does not verify")]
    Signature,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// A role other than [`WORKER_ROLE`].
    #[error("the token is not a worker token")]
    Role,
    /// Signed by a relay from before tokens named their login: it cannot be checked against
    /// revocations, so it is refused (the worker registers again, for at most one lifetime).
    #[error("the token names no login")]
    Unbound,
}

/// The HS256 JWT of `claims` under `key`.
pub fn sign(key: &[u8], claims: &WorkerClaims) -> String {
    let header = URL_SAFE_NO_PAD.encode(HEADER);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let signing_input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(mac(key, &signing_input).finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Check `token` at time `now` (Unix seconds). No leeway: the worker refreshes well before
/// expiry, so a token presented after `exp` is simply expired.
pub fn verify(key: &[u8], token: &str, now: u64) -> Result<WorkerClaims, JwtError> {
    if token.len() > 4096 {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::Malformed)?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|_| JwtError::Malformed)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(JwtError::Algorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    let signing_input = &token[..token.rfind('.').ok_or(JwtError::Malformed)?];
    mac(key, signing_input)
        .verify_slice(&signature)
        .map_err(|_| JwtError::Signature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| JwtError::Malformed)?;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)?;
    let claims = match WorkerClaims::deserialize(&payload) {
        Ok(claims) => claims,
        Err(_) => return Err(unbound_or_malformed(&mut payload)),
    };
    if now >= claims.exp {
        return Err(JwtError::Expired);
    }
    if claims.role != WORKER_ROLE {
        return Err(JwtError::Role);
    }
    Ok(claims)
}

/// Why claims that did not parse were refused: `Unbound` if naming a login is all they lack.
fn unbound_or_malformed(payload: &mut serde_json::Value) -> JwtError {
    match payload.as_object_mut() {
        Some(claims) if !claims.contains_key("fam") => {
            claims.insert("fam".into(), uuid::Uuid::nil().to_string().into());
            match WorkerClaims::deserialize(&*payload) {
                Ok(_) => JwtError::Unbound,
                Err(_) => JwtError::Malformed,
            }
        }
        _ => JwtError::Malformed,
    }
}

/// Whether a bearer value has a JWT's shape, to tell "a worker token used as a client" (403)
/// from "no valid credential" (401).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|&b| b == b'.').count() == 2
}

fn mac(key: &[u8], input: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(input.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_protocol::RelayKind;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims() -> WorkerClaims {
        WorkerClaims {
            sub: 7,
            sid: SessionId::new(RelayKind::Production),
            role: WORKER_ROLE.into(),
            epoch: 3,
            fam: uuid::Uuid::from_u128(0x5eed),
            iat: 1000,
            exp: 2000,
        }
    }

    fn encode(header: &str, payload: &serde_json::Value, key: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let sig = URL_SAFE_NO_PAD.encode(mac(key, &input).finalize().into_bytes());
        format!("{input}.{sig}")
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let c = claims();
        let token = sign(KEY, &c);
        assert!(looks_like_jwt(&token));
        assert_eq!(verify(KEY, &token, 1999), Ok(c));
        assert_eq!(verify(KEY, &token, 2000), Err(JwtError::Expired));
    }

    #[test]
    fn another_key_or_a_changed_payload_fails() {
        let token = sign(KEY, &claims());
        assert_eq!(
            verify(b"another key entirely, 32 bytes!!", &token, 1500),
            Err(JwtError::Signature)
        );
        let mut tampered = claims();
        tampered.epoch = 4;
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap()),
            parts[2]
        );
        assert_eq!(verify(KEY, &forged, 1500), Err(JwtError::Signature));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let payload = serde_json::to_value(claims()).unwrap();
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        assert_eq!(verify(KEY, &none, 1500), Err(JwtError::Algorithm));
        for alg in [
            r#"{"alg":"HS512"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":"hs256"}"#,
        ] {
            assert_eq!(
                verify(KEY, &encode(alg, &payload, KEY), 1500),
                Err(JwtError::Algorithm)
            );
        }
    }

    #[test]
    fn only_the_worker_role_is_accepted() {
        let mut payload = serde_json::to_value(claims()).unwrap();
        payload["role"] = "client".into();
        assert_eq!(
            verify(KEY, &encode(HEADER, &payload, KEY), 1500),
            Err(JwtError::Role)
        );
    }

    #[test]
    fn a_token_without_its_login_is_refused() {
        let mut payload = serde_json::to_value(claims()).unwrap();
        payload.as_object_mut().unwrap().remove("fam");
        assert_eq!(
            verify(KEY, &encode(HEADER, &payload, KEY), 1500),
            Err(JwtError::Unbound)
        );
        payload["fam"] = "not a uuid".into();
        assert_eq!(
            verify(KEY, &encode(HEADER, &payload, KEY), 1500),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "eyJ.eyJ.",
            &"x".repeat(5000),
        ] {
            assert!(verify(KEY, bad, 0).is_err(), "{bad:?}");
        }
        let payload = serde_json::json!({"sub": "nope"});
        assert_eq!(
            verify(KEY, &encode(HEADER, &payload, KEY), 0),
            Err(JwtError::Malformed)
        );
    }
}
