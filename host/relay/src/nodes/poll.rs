//! What this node believes of the others: the heads of sessions, read from the database. Every
//! `poll_interval` for all the sessions it has readers for (what another node committed reaches
//! a reader here within that interval, whatever happened to Redis), and at once for a session
//! a Redis message named.

use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

use crate::hub::Hub;
use crate::revocation::{self, Login};
use crate::state::Shared;
use crate::store::StoreResult;
use crate::store::oauth;
use crate::store::sessions::{self, Head};
use tether_protocol::SessionId;

/// Sessions per query.
const CHUNK: usize = 100;

/// Poll until the relay stops, and read at once the sessions another node said it changed.
pub async fn run(
    state: Shared,
    mut rechecks: mpsc::Receiver<SessionId>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(state.config.nodes.poll_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut healthy = true;
    let mut revoked_since = crate::store::now();
    loop {
        let result = tokio::select! {
            _ = tick.tick() => {
                match revocations(&state, &mut revoked_since).await {
                    Ok(()) => read(&state, state.hub.watched()).await,
                    Err(e) => Err(e),
                }
            }
            Some(first) = rechecks.recv() => {
                // Whatever else arrived meanwhile goes in the same queries.
                let mut ids = vec![first];
                while let Ok(id) = rechecks.try_recv() {
                    ids.push(id);
                }
                ids.sort_unstable();
                ids.dedup();
                read(&state, ids).await
            }
            _ = shutdown.changed() => return,
        };
        match result {
            Ok(()) if !healthy => {
                tracing::info!("the database answers the poll again");
                healthy = true;
            }
            Ok(()) => {}
            // Said once per outage: the requests that fail meanwhile say it too.
            Err(e) if healthy => {
                tracing::warn!("cannot read the heads of watched sessions: {e}");
                healthy = false;
            }
            Err(_) => {}
        }
    }
}

/// Read the heads of `sessions` and move the hub to them.
pub async fn read(state: &Shared, sessions: Vec<SessionId>) -> StoreResult<()> {
    for chunk in sessions.chunks(CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|s| s.to_string()).collect();
        let heads = state.store.read(move |c| sessions::heads(c, &ids)).await?;
        apply(&state.hub, chunk, &heads);
    }
    Ok(())
}

/// How far back each poll looks for revocations past the newest it has seen: other nodes'
/// clocks may be behind this one's, and their commits later than their timestamps.
const CLOCK_SKEW: u64 = 10;

/// Logins revoked on other nodes since `since` (Unix seconds, moved on to the newest seen): their
/// streams here end and their worker tokens are refused, within one poll of the revocation.
async fn revocations(state: &Shared, since: &mut u64) -> StoreResult<()> {
    let from = since.saturating_sub(CLOCK_SKEW);
    let rows = state
        .store
        .read(move |c| oauth::revoked_after(c, from))
        .await?;
    for (family, revoked_at) in rows {
        *since = (*since).max(revoked_at);
        let known = uuid::Uuid::parse_str(&family)
            .is_ok_and(|f| state.hub.revocations.is_revoked(&Login::Family(f)));
        if !known {
            revocation::family_revoked(state, &family);
        }
    }
    Ok(())
}

/// A session asked about and not found was deleted (rows go no other way).
fn apply(hub: &Hub, asked: &[SessionId], found: &[Head]) {
    for id in asked {
        match found.iter().find(|h| h.id == *id) {
            Some(head) => hub.elsewhere(id, head.last_seq, head.epoch),
            None => hub.deleted_elsewhere(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Ordered;
    use tether_protocol::RelayKind;

    #[test]
    fn heads_move_the_hub_and_a_missing_session_was_deleted() {
        let hub = Hub::default();
        let order = Ordered::for_tests();
        let (kept, gone) = (
            SessionId::new(RelayKind::Production),
            SessionId::new(RelayKind::Production),
        );
        let (a, b) = (hub.load(&order, &kept, 1, 1), hub.load(&order, &gone, 1, 1));
        let head = Head {
            id: kept.clone(),
            last_seq: 7,
            epoch: 2,
        };
        apply(&hub, &[kept.clone(), gone.clone()], &[head]);
        assert_eq!((a.head().last_seq, a.head().epoch), (7, 2));
        assert!(!a.head().closed);
        assert!(b.head().closed);
        assert!(hub.get(&gone).is_none());
    }
}
