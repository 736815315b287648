//! Whether each session's worker is online, the same answer on every node: a worker may stream
//! to one node and post to another, and a node may die holding its streams.
//!
//! Each node tells the database when it heard a worker: at once when the worker is new to it
//! (it may have been offline), then from the sweep (after a stream closes, and every quarter of
//! the timeout while one stays open). The sweep of every node also looks for online workers no
//! node has heard of for the timeout. A change is the conditional update that flips the
//! session's `worker_online` (`store/presence.rs`), with its `worker_status` event appended in
//! the same transaction: of all the nodes that notice, exactly one makes it and announces it.

use std::sync::Arc;
use std::time::Instant;

use tether_protocol::payload::WorkerStatus;
use tether_protocol::{NewEvent, Payload, SessionId, Source};

use crate::error::ApiResult;
use crate::hub::Live;
use crate::publish;
use crate::state::Shared;
use crate::store::{self, Sql, StoreResult, events, presence};

/// The current worker made a request, or opened a stream (`opened`).
pub async fn heard(
    state: &Shared,
    session: &SessionId,
    live: &Live,
    opened: bool,
) -> ApiResult<()> {
    let now = Instant::now();
    let new_here = if opened {
        live.stream_opened(now)
    } else {
        live.worker_seen(now)
    };
    if new_here {
        let heard = vec![(session.clone(), store::now_ms())];
        announce(state, true, heard, presence::seen).await?;
    }
    Ok(())
}

/// Once per sweep: record what this node heard, then report the workers nobody heard.
pub async fn sweep(state: &Shared) {
    let (now, now_ms) = (Instant::now(), store::now_ms());
    let timeout = state.config.liveness.worker_timeout;
    let mut heard = Vec::new();
    let mut lives: Vec<Arc<Live>> = Vec::new();
    for (id, live) in state.hub.all() {
        if let Some(at) = live.to_record(now, timeout, timeout / 4) {
            let ago = now.duration_since(at).as_millis() as u64;
            heard.push((id, now_ms.saturating_sub(ago)));
            lives.push(live);
        }
    }
    if !heard.is_empty() {
        let recorded = announce(state, true, heard, presence::seen).await;
        if let Err(e) = recorded {
            tracing::warn!("could not record the workers heard: {}", e.message);
            lives.iter().for_each(|live| live.record_failed());
        }
    }
    let cutoff = now_ms.saturating_sub(timeout.as_millis() as u64);
    let silent = match state
        .store
        .read(move |c| presence::silent_since(c, cutoff))
        .await
    {
        Ok(silent) if silent.is_empty() => return,
        Ok(silent) => silent,
        Err(e) => {
            tracing::warn!("could not look for silent workers: {e}");
            return;
        }
    };
    let silent = silent.into_iter().map(|id| (id, cutoff)).collect();
    match announce(state, false, silent, presence::gone).await {
        // Exactly one node flips each, so each person is called once.
        Ok(gone) => crate::push::offline(state, gone),
        Err(e) => tracing::warn!("could not report silent workers offline: {}", e.message),
    }
}

/// A relay starting gives the workers that were online the whole timeout to come back.
pub async fn restore(state: &Shared) -> anyhow::Result<()> {
    let now = store::now_ms();
    let n = state.store.write(move |c| presence::grace(c, now)).await?;
    tracing::debug!(sessions = n, "workers given the timeout to return");
    Ok(())
}

/// Run `flip` on each session (with its time) in one transaction, with a `worker_status`
/// event (`online`) for each one it changed, then move the hub and tell the other nodes. The
/// sessions it changed.
async fn announce(
    state: &Shared,
    online: bool,
    sessions: Vec<(SessionId, u64)>,
    flip: fn(&mut dyn Sql, &SessionId, u64) -> StoreResult<bool>,
) -> ApiResult<Vec<SessionId>> {
    let created_at = store::rfc3339(store::now());
    let retain = state.config.limits.retain_events;
    let st = state.clone();
    // In one order on every node: two nodes' sweeps lock the same rows without a deadlock.
    let mut sessions = sessions;
    sessions.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let ids: Vec<SessionId> = sessions.iter().map(|(id, _)| id.clone()).collect();
    let changed = state
        .store
        .write_then(
            &ids,
            move |c| {
                let mut appended = Vec::new();
                for (id, at) in sessions {
                    if !flip(c, &id, at)? {
                        continue;
                    }
                    let notice = NewEvent::typed(&Payload::WorkerStatus(WorkerStatus { online }));
                    let (_, events) =
                        events::append(c, &id, Source::Relay, &[notice], &created_at, retain)?;
                    appended.push((id, events));
                }
                Ok(appended)
            },
            move |appended, order| {
                appended
                    .into_iter()
                    .filter_map(|(id, events)| {
                        publish::committed(&st, order, &id, events).then_some(id)
                    })
                    .collect::<Vec<_>>()
            },
        )
        .await?;
    for id in &changed {
        state.nodes.tell(id);
    }
    Ok(changed)
}
