//! Opaque bearer secrets. Each kind has its own prefix so a leaked token is recognisable (and
//! greppable by secret scanners), and only its SHA-256 is stored: these are 256-bit random
//! values, so a fast hash is enough, unlike passwords.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// What a secret is for: each kind has a prefix of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// A browser login cookie.
    BrowserLogin,
    /// An OAuth access token.
    AccessToken,
    /// An OAuth refresh token.
    RefreshToken,
    /// A trusted device's token.
    DeviceToken,
    /// An RFC 8628 device code.
    DeviceCode,
}

impl SecretKind {
    /// The prefix that says what a token is (and makes leaked ones easy to scan for).
    pub fn prefix(self) -> &'static str {
        match self {
            SecretKind::BrowserLogin => "tthr_bl_",
            SecretKind::AccessToken => "tthr_at_",
            SecretKind::RefreshToken => "tthr_rt_",
            SecretKind::DeviceToken => "tthr_dt_",
            SecretKind::DeviceCode => "tthr_dc_",
        }
    }
}

/// `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf
}

/// A fresh secret of `kind`.
pub fn generate(kind: SecretKind) -> String {
    format!(
        "{}{}",
        kind.prefix(),
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// What is stored and looked up. A secret of the wrong kind hashes to nothing stored, but the
/// prefix is checked first so that, say, a refresh token sent as an access token is refused
/// without a database lookup.
pub fn digest(kind: SecretKind, secret: &str) -> Option<[u8; 32]> {
    let body = secret.strip_prefix(kind.prefix())?;
    if body.len() != 43 || URL_SAFE_NO_PAD.decode(body).is_err() {
        return None;
    }
    Some(Sha256::digest(secret.as_bytes()).into())
}

/// Whether two secrets are equal, in time that depends neither on where they differ nor on
/// their lengths: the digests compared are always 32 bytes (comparing the bytes themselves
/// would answer at once for a presented secret of another length, telling the expected one's).
pub fn same(presented: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let expected: [u8; 32] = Sha256::digest(expected.as_bytes()).into();
    presented.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_is_equality_whatever_the_lengths() {
        assert!(same("tthr_mt_abc", "tthr_mt_abc"));
        assert!(same("", ""));
        for other in [
            "tthr_mt_abd",
            "tthr_mt_ab",
            "tthr_mt_abcd",
            "",
            "TTHR_MT_ABC",
        ] {
            assert!(!same(other, "tthr_mt_abc"), "{other:?}");
        }
    }

    #[test]
    fn secrets_are_distinct_and_hash_only_as_their_kind() {
        let a = generate(SecretKind::AccessToken);
        let b = generate(SecretKind::AccessToken);
        assert_ne!(a, b);
        assert!(a.starts_with("tthr_at_"));
        assert!(digest(SecretKind::AccessToken, &a).is_some());
        assert!(digest(SecretKind::RefreshToken, &a).is_none());
        assert_ne!(
            digest(SecretKind::AccessToken, &a),
            digest(SecretKind::AccessToken, &b)
        );
    }

    #[test]
    fn malformed_secrets_have_no_digest() {
        for bad in [
            "",
            "tthr_at_",
            "tthr_at_short",
            "tthr_at_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            "Bearer x",
        ] {
            assert!(digest(SecretKind::AccessToken, bad).is_none(), "{bad}");
        }
        let long = format!("tthr_at_{}", "A".repeat(10_000));
        assert!(digest(SecretKind::AccessToken, &long).is_none());
    }
}
