//! How many streams may be open at once, per session and per account. Each open stream costs a
//! connection and up to a stream buffer of memory (`weight.rs`), so without a cap one account
//! could open streams until the relay runs out of either.

use std::collections::HashMap;
use std::sync::Mutex;

use tether_protocol::SessionId;

use crate::config::Limits;

/// Why a stream may not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefusal {
    /// The session has the most streams allowed.
    #[error(
        "This session already has {0} open streams, the most allowed; close one (another tab or \
         device following it) and try again."
    )]
    Session(usize),
    /// The account has the most streams allowed.
    #[error(
        "This account already has {0} open streams, the most allowed; close some (tabs or \
         devices following its sessions) and try again."
    )]
    Account(usize),
}

/// Whether one more stream may open, given how many are open on its session and its account.
pub fn admit(on_session: usize, on_account: usize, limits: &Limits) -> Result<(), StreamRefusal> {
    if on_session >= limits.max_streams_per_session {
        return Err(StreamRefusal::Session(limits.max_streams_per_session));
    }
    if on_account >= limits.max_streams_per_account {
        return Err(StreamRefusal::Account(limits.max_streams_per_account));
    }
    Ok(())
}

/// The open streams, counted. Checking and counting happen under one lock, so that two
/// streams opening at once cannot both take the last place.
#[derive(Default)]
pub struct StreamCounts {
    inner: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    by_session: HashMap<SessionId, usize>,
    by_account: HashMap<i64, usize>,
}

impl StreamCounts {
    /// Count a stream of `session` (owned by `account`) if the limits allow it. Every `Ok` must
    /// be matched by one [`close`](Self::close).
    pub fn open(
        &self,
        account: i64,
        session: &SessionId,
        limits: &Limits,
    ) -> Result<(), StreamRefusal> {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let on_session = c.by_session.get(session).copied().unwrap_or(0);
        let on_account = c.by_account.get(&account).copied().unwrap_or(0);
        admit(on_session, on_account, limits)?;
        *c.by_session.entry(session.clone()).or_default() += 1;
        *c.by_account.entry(account).or_default() += 1;
        Ok(())
    }

    /// A stream counted by `open` ended.
    pub fn close(&self, account: i64, session: &SessionId) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        decrement(&mut c.by_session, session);
        decrement(&mut c.by_account, &account);
    }

    /// Streams open on `session`.
    #[cfg(test)]
    pub fn on_session(&self, session: &SessionId) -> usize {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.by_session.get(session).copied().unwrap_or(0)
    }
}

/// Counts that reach zero are removed, so the maps follow what is open, not history.
fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_protocol::RelayKind;

    fn limits(per_session: usize, per_account: usize) -> Limits {
        Limits {
            max_streams_per_session: per_session,
            max_streams_per_account: per_account,
            ..Limits::default()
        }
    }

    #[test]
    fn admit_refuses_at_either_limit() {
        let l = limits(2, 3);
        for s in 0..5 {
            for a in 0..5 {
                let expected = if s >= 2 {
                    Err(StreamRefusal::Session(2))
                } else if a >= 3 {
                    Err(StreamRefusal::Account(3))
                } else {
                    Ok(())
                };
                assert_eq!(admit(s, a, &l), expected, "{s} {a}");
            }
        }
        assert!(
            StreamRefusal::Session(32)
                .to_string()
                .contains("32 open streams")
        );
    }

    #[test]
    fn counts_follow_opens_and_closes_per_session_and_account() {
        let l = limits(2, 3);
        let counts = StreamCounts::default();
        let (s1, s2) = (
            SessionId::new(RelayKind::Production),
            SessionId::new(RelayKind::Production),
        );
        assert_eq!(counts.open(1, &s1, &l), Ok(()));
        assert_eq!(counts.open(1, &s1, &l), Ok(()));
        assert_eq!(counts.open(1, &s1, &l), Err(StreamRefusal::Session(2)));
        assert_eq!(counts.open(1, &s2, &l), Ok(()));
        assert_eq!(counts.open(1, &s2, &l), Err(StreamRefusal::Account(3)));
        assert_eq!(
            counts.open(2, &SessionId::new(RelayKind::Production), &l),
            Ok(()),
            "another account"
        );
        counts.close(1, &s1);
        assert_eq!(counts.on_session(&s1), 1);
        assert_eq!(counts.open(1, &s2, &l), Ok(()));
        counts.close(1, &s1);
        counts.close(1, &s2);
        counts.close(1, &s2);
        assert_eq!(counts.on_session(&s1), 0);
        let c = counts.inner.lock().unwrap();
        assert!(
            !c.by_account.contains_key(&1),
            "emptied counts are forgotten"
        );
        assert!(!c.by_session.contains_key(&s1));
    }
}
