//! Answers the database gave within the last second, for the checks every request repeats: an
//! access token, a session's owner. A client that posts each event (the SSE path) would
//! otherwise read both from the database for every one. The bound on staleness is the point:
//! a token deleted behind the relay's back (another node, `tether relay user remove`) or a
//! session deleted elsewhere is refused within `ttl` however it went; a login revoked through
//! the relay is refused at once, since every hit is checked against the revocations first (see
//! `extract.rs`). Memory is bounded too: at `max` entries the stale ones go, and if none is
//! stale, all of them (the next requests read the database again).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tether_protocol::SessionId;

/// The answers of a relay's checks.
pub struct Checks {
    /// Live access tokens, by hash.
    pub access: Remembered<[u8; 32], Access>,
    /// Sessions and the account that owns each.
    pub owners: Remembered<(SessionId, i64), ()>,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            access: Remembered::new(TTL, MAX),
            owners: Remembered::new(TTL, MAX),
        }
    }
}

/// What a live access token stands for, as the database said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The account it acts for.
    pub account: i64,
    /// When its device login was approved.
    pub login_at: u64,
    /// Its login (token family).
    pub family: uuid::Uuid,
    /// When it expires (Unix seconds): never used past that, whatever the TTL.
    pub expires_at: u64,
}

/// How long an answer is used without asking the database again.
pub const TTL: Duration = Duration::from_secs(1);

/// Answers kept at most, per kind.
pub const MAX: usize = 16_384;

/// Recent answers by key, each used for `ttl` after it was read.
pub struct Remembered<K, V> {
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> Remembered<K, V> {
    /// Empty, keeping answers for `ttl` and at most `max` of them.
    pub fn new(ttl: Duration, max: usize) -> Self {
        Remembered {
            ttl,
            max: max.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key` if it was read less than `ttl` before `now`.
    pub fn get(&self, key: &K, now: Instant) -> Option<V> {
        let mut entries = self.entries();
        match entries.get(key) {
            Some((value, read)) if now.saturating_duration_since(*read) < self.ttl => {
                Some(value.clone())
            }
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remember `value` for `key`, read from the database at `now`.
    pub fn put(&self, key: K, value: V, now: Instant) {
        let mut entries = self.entries();
        if entries.len() >= self.max && !entries.contains_key(&key) {
            let ttl = self.ttl;
            entries.retain(|_, (_, read)| now.saturating_duration_since(*read) < ttl);
            if entries.len() >= self.max {
                entries.clear();
            }
        }
        entries.insert(key, (value, now));
    }

    /// Forget every answer `stale` picks (a session just deleted, a login just revoked).
    pub fn forget(&self, stale: impl Fn(&K, &V) -> bool) {
        self.entries().retain(|k, (v, _)| !stale(k, v));
    }

    /// How many answers are kept (for the tests of the bound).
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_used_for_the_ttl_and_never_after() {
        let r = Remembered::new(TTL, 10);
        let t0 = Instant::now();
        assert_eq!(r.get(&1, t0), None);
        r.put(1, "a", t0);
        assert_eq!(r.get(&1, t0), Some("a"));
        assert_eq!(r.get(&1, t0 + TTL - Duration::from_millis(1)), Some("a"));
        assert_eq!(r.get(&1, t0 + TTL), None, "stale at the bound");
        assert_eq!(r.len(), 0, "a stale answer is dropped when seen");
        // Read again, it counts from then.
        r.put(1, "b", t0 + TTL);
        assert_eq!(r.get(&1, t0 + TTL + Duration::from_millis(500)), Some("b"));
        // A clock that goes backwards (another thread's `now`) does not extend anything.
        assert_eq!(r.get(&1, t0), Some("b"));
    }

    #[test]
    fn memory_stays_within_max_keeping_fresh_answers_first() {
        let r = Remembered::new(TTL, 4);
        let t0 = Instant::now();
        for k in 0..4 {
            r.put(k, k, t0);
        }
        assert_eq!(r.len(), 4);
        // Full of fresh answers: all go, the new one stays.
        r.put(9, 9, t0);
        assert_eq!(r.len(), 1);
        assert_eq!(r.get(&9, t0), Some(9));
        // Full with some stale: only the stale go.
        let later = t0 + TTL;
        for k in 0..3 {
            r.put(k, k, later);
        }
        assert_eq!(r.len(), 4);
        r.put(5, 5, later);
        assert_eq!(r.get(&9, later), None);
        assert_eq!(r.len(), 4, "9 was stale and went; 0, 1, 2 and 5 stay");
        // Replacing a key never evicts.
        r.put(5, 50, later);
        assert_eq!((r.len(), r.get(&5, later)), (4, Some(50)));
        for k in 0..100_000 {
            r.put(k, k, later);
            assert!(r.len() <= 4);
        }
    }

    #[test]
    fn forget_drops_what_it_picks() {
        let r = Remembered::new(TTL, 10);
        let t0 = Instant::now();
        for k in 0..6 {
            r.put(k, k % 2, t0);
        }
        r.forget(|_, v| *v == 1);
        assert_eq!(r.len(), 3);
        assert!((0..6).all(|k| (r.get(&k, t0).is_some()) == (k % 2 == 0)));
    }
}
