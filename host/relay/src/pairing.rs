//! One-time pairing secrets for the embedded relay: the QR code's URL carries one, and whoever
//! opens it first is logged in (a browser login cookie for the local account). A secret works
//! once and only for a short time, so a photo of the QR code taken later is worthless.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::auth::secret::random_bytes;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The embedded relay's live pairing secrets, by digest, each for one account until its deadline.
#[derive(Debug, Default)]
pub struct Pairings {
    live: HashMap<[u8; 32], (i64, Instant)>,
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Pairings {
    /// A new secret that logs its user in as `account`, valid for `ttl` from `now`.
    pub fn issue(&mut self, account: i64, ttl: Duration, now: Instant) -> String {
        self.live.retain(|_, (_, expires)| *expires > now);
        let secret = URL_SAFE_NO_PAD.encode(random_bytes::<24>());
        self.live.insert(digest(&secret), (account, now + ttl));
        secret
    }

    /// Spend `secret`: the account it logs in, once; `None` if unknown, used or expired.
    pub fn redeem(&mut self, secret: &str, now: Instant) -> Option<i64> {
        if secret.len() > 128 {
            return None;
        }
        let (account, expires) = self.live.remove(&digest(secret))?;
        (expires > now).then_some(account)
    }

    /// Whether `secret` could still be redeemed (the terminal asks, to know when to show a
    /// fresh QR code).
    pub fn is_live(&self, secret: &str, now: Instant) -> bool {
        self.live
            .get(&digest(secret))
            .is_some_and(|(_, expires)| *expires > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_works_once_and_only_in_time() {
        let mut p = Pairings::default();
        let t0 = Instant::now();
        let a = p.issue(7, Duration::from_secs(60), t0);
        let b = p.issue(7, Duration::from_secs(60), t0);
        assert_ne!(a, b);
        assert!(p.is_live(&a, t0));
        assert_eq!(p.redeem(&a, t0), Some(7));
        assert_eq!(p.redeem(&a, t0), None, "single use");
        assert!(!p.is_live(&a, t0));
        assert_eq!(p.redeem(&b, t0 + Duration::from_secs(61)), None, "expired");
        assert_eq!(p.redeem("", t0), None);
        assert_eq!(p.redeem(&"x".repeat(10_000), t0), None);
    }
}
