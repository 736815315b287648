//! The order of the steps after a commit, on PostgreSQL. The hub must follow each session's log
//! in commit order (its head, its recent events), but nothing relates two sessions, so the order
//! is kept per session: a write and the step after it hold their sessions' stripes, and writes
//! to other sessions run meanwhile on the pool's other connections. One lock for every session
//! made a node append one event at a time, however many connections it had.
//!
//! Sessions hash to a fixed number of stripes. A writer takes its stripes in ascending order,
//! each once, so two writers never wait on each other in a cycle.

use std::hash::{Hash as _, Hasher as _};

use tether_protocol::SessionId;
use tokio::sync::{Mutex, MutexGuard};

/// Stripes: enough that a node's pool (16 connections) rarely finds two busy sessions on one.
const STRIPES: usize = 256;

/// The per-session order of a node's writes.
pub struct Order {
    stripes: Box<[Mutex<()>]>,
}

impl Default for Order {
    fn default() -> Self {
        Order {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

/// What a writer holds until the step after its commit is done.
pub struct Held<'a> {
    _guards: Vec<MutexGuard<'a, ()>>,
}

impl Order {
    /// Hold the order of `sessions`. (Nothing holds every session's: one session held up in
    /// the database would hold up everything waiting behind such a lock.)
    pub async fn lock(&self, sessions: &[SessionId]) -> Held<'_> {
        let stripes = stripes_of(sessions);
        let mut guards = Vec::with_capacity(stripes.len());
        for i in stripes {
            guards.push(self.stripes[i].lock().await);
        }
        Held { _guards: guards }
    }
}

/// `sessions` in groups that share an order (one stripe each), for work over many sessions
/// that takes one order at a time.
pub fn group_by_order(sessions: Vec<SessionId>) -> Vec<Vec<SessionId>> {
    let mut groups: std::collections::BTreeMap<usize, Vec<SessionId>> = Default::default();
    for id in sessions {
        groups.entry(stripe(&id)).or_default().push(id);
    }
    groups.into_values().collect()
}

/// The stripes `sessions` fall in, ascending, each once: the order a writer takes them in.
fn stripes_of(sessions: &[SessionId]) -> Vec<usize> {
    let mut stripes: Vec<usize> = sessions.iter().map(stripe).collect();
    stripes.sort_unstable();
    stripes.dedup();
    stripes
}

pub(crate) fn stripe(id: &SessionId) -> usize {
    // SipHash with fixed keys: the same stripe for a session on every call.
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    (h.finish() % STRIPES as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tether_protocol::RelayKind;

    fn ids(n: usize) -> Vec<SessionId> {
        (0..n)
            .map(|_| SessionId::new(RelayKind::Production))
            .collect()
    }

    #[test]
    fn stripes_are_stable_ascending_and_once_each() {
        let sessions = ids(600);
        let stripes = stripes_of(&sessions);
        assert!(stripes.windows(2).all(|w| w[0] < w[1]), "{stripes:?}");
        assert!(stripes.iter().all(|&s| s < STRIPES));
        let one = &sessions[7];
        let twice = stripes_of(&[one.clone(), one.clone()]);
        assert_eq!(twice, [stripe(one)]);
        assert_eq!(stripe(one), stripe(&one.clone()));
        // 600 random sessions cover most of the stripes: they spread.
        assert!(stripes.len() > STRIPES / 2, "{}", stripes.len());
    }

    #[tokio::test]
    async fn one_session_waits_for_itself_and_not_for_others() {
        let order = Order::default();
        let sessions = ids(64);
        let a = sessions[0].clone();
        let other = sessions
            .iter()
            .find(|s| stripe(s) != stripe(&a))
            .unwrap()
            .clone();
        let held = order.lock(std::slice::from_ref(&a)).await;
        // Another session goes ahead at once.
        let _other = tokio::time::timeout(
            Duration::from_millis(100),
            order.lock(std::slice::from_ref(&other)),
        )
        .await
        .expect("another session is not held up");
        // The same session, or everything, waits until the holder is done.
        assert!(
            tokio::time::timeout(
                Duration::from_millis(50),
                order.lock(std::slice::from_ref(&a))
            )
            .await
            .is_err()
        );
        // Both at once waits too, and holds up neither's stripe-mates meanwhile: it takes
        // `other`'s only once it has `a`'s, or the other way round, in stripe order.
        drop(_other);
        let both = [a.clone(), other.clone()];
        assert!(
            tokio::time::timeout(Duration::from_millis(50), order.lock(&both))
                .await
                .is_err()
        );
        drop(held);
        let _both = tokio::time::timeout(Duration::from_millis(100), order.lock(&both))
            .await
            .expect("free again");
    }

    #[test]
    fn groups_share_a_stripe_and_cover_every_session_once() {
        let sessions = ids(1000);
        let groups = group_by_order(sessions.clone());
        let mut seen: Vec<SessionId> = groups.iter().flatten().cloned().collect();
        assert_eq!(seen.len(), sessions.len());
        seen.sort();
        let mut want = sessions;
        want.sort();
        assert_eq!(seen, want);
        for g in &groups {
            assert!(g.iter().all(|id| stripe(id) == stripe(&g[0])));
        }
        assert!(group_by_order(Vec::new()).is_empty());
    }
}
