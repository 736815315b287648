//! RFC 8628 rules as pure functions: user codes, and what a poll of the token endpoint gets.

use crate::auth::secret::random_bytes;

/// RFC 8628 §6.1: consonants only (no vowels, so no words; no easily confused letters), eight
/// characters shown as `XXXX-XXXX`: 20^8 ≈ 2.6e10 codes.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A fresh user code, `XXXX-XXXX`.
pub fn new_user_code() -> String {
    let bytes = random_bytes::<8>();
    let chars: String = bytes
        .iter()
        // 256 = 12*20 + 16: reject-free mapping would bias; 8 independent bytes with a small
        // modulo bias is still far beyond what the attempt limit lets anyone guess.
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// What a person typed, in canonical `XXXX-XXXX` form, or `None` if it cannot be a user code.
/// Case, spaces and dashes are forgiven (RFC 8628 §6.1).
pub fn normalise_user_code(input: &str) -> Option<String> {
    let chars: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if chars.len() != 8 || !chars.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    Some(format!("{}-{}", &chars[..4], &chars[4..]))
}

/// Where a device authorization request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the user to decide.
    Pending,
    /// Approved; the next poll gets tokens.
    Approved,
    /// Denied; polls get `access_denied`.
    Denied,
    /// Tokens were issued; the device code is spent.
    Consumed,
}

impl Status {
    /// The status as stored.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Status::Pending,
            "approved" => Status::Approved,
            "denied" => Status::Denied,
            "consumed" => Status::Consumed,
            _ => return None,
        })
    }
}

/// A device authorization request as the poll sees it (times in Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Where it stands.
    pub status: Status,
    /// When it expires.
    pub expires_at: u64,
    /// The interval the CLI must poll at, in seconds.
    pub interval: u64,
    /// The previous poll, to tell polling too fast.
    pub last_poll_at: Option<u64>,
}

/// The answer to one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Issue tokens and mark the code consumed.
    Issue,
    /// `authorization_pending`.
    Pending,
    /// `slow_down`; the interval is now `new_interval` for this and every later poll.
    SlowDown {
        /// Seconds between polls from now on.
        new_interval: u64,
    },
    /// `access_denied`.
    Denied,
    /// `expired_token`.
    Expired,
    /// `invalid_grant`: the code was already used.
    Spent,
}

/// RFC 8628 §3.5. Polling faster than `interval` earns `slow_down` and 5 more seconds of
/// interval; expiry wins over everything except a code already spent.
pub fn poll(p: Pending, now: u64) -> Poll {
    if p.status == Status::Consumed {
        return Poll::Spent;
    }
    if now >= p.expires_at {
        return Poll::Expired;
    }
    if let Some(last) = p.last_poll_at
        && now < last.saturating_add(p.interval)
    {
        return Poll::SlowDown {
            new_interval: p.interval + 5,
        };
    }
    match p.status {
        Status::Pending => Poll::Pending,
        Status::Approved => Poll::Issue,
        Status::Denied => Poll::Denied,
        Status::Consumed => Poll::Spent,
    }
}

impl Poll {
    /// The RFC's error code for everything but `Issue`.
    pub fn error_code(self) -> Option<&'static str> {
        Some(match self {
            Poll::Issue => return None,
            Poll::Pending => "authorization_pending",
            Poll::SlowDown { .. } => "slow_down",
            Poll::Denied => "access_denied",
            Poll::Expired => "expired_token",
            Poll::Spent => "invalid_grant",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_well_formed_and_normalise() {
        for _ in 0..200 {
            let code = new_user_code();
            assert_eq!(code.len(), 9);
            assert_eq!(normalise_user_code(&code).as_deref(), Some(code.as_str()));
            let sloppy = code.to_lowercase().replace('-', " ");
            assert_eq!(normalise_user_code(&sloppy).as_deref(), Some(code.as_str()));
        }
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "AEIO-UBCD",
            "BCDF-GHJ1",
            "BCDF–GHJK",
            "ＢCDF-GHJK",
        ] {
            assert_eq!(normalise_user_code(bad), None, "{bad}");
        }
    }

    fn pending(status: Status, last: Option<u64>) -> Pending {
        Pending {
            status,
            expires_at: 1000,
            interval: 5,
            last_poll_at: last,
        }
    }

    #[test]
    fn every_poll_outcome() {
        assert_eq!(poll(pending(Status::Pending, None), 10), Poll::Pending);
        assert_eq!(poll(pending(Status::Pending, Some(10)), 15), Poll::Pending);
        assert_eq!(
            poll(pending(Status::Pending, Some(10)), 14),
            Poll::SlowDown { new_interval: 10 }
        );
        assert_eq!(poll(pending(Status::Approved, Some(10)), 20), Poll::Issue);
        assert_eq!(
            poll(pending(Status::Approved, Some(10)), 11),
            Poll::SlowDown { new_interval: 10 }
        );
        assert_eq!(poll(pending(Status::Denied, None), 20), Poll::Denied);
        assert_eq!(poll(pending(Status::Approved, None), 1000), Poll::Expired);
        assert_eq!(poll(pending(Status::Consumed, None), 20), Poll::Spent);
        assert_eq!(poll(pending(Status::Consumed, None), 5000), Poll::Spent);
        assert_eq!(Poll::Issue.error_code(), None);
        assert_eq!(
            Poll::SlowDown { new_interval: 1 }.error_code(),
            Some("slow_down")
        );
    }
}
