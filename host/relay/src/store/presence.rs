//! Whether each session's worker is online, decided in the database so that every node agrees:
//! a worker may stream to one node and post to another, and a node may die with its streams.
//!
//! Each node records when it last heard a worker ([`seen`]); a change of state is the
//! conditional update that flips `worker_online`, so that of all the nodes that notice a change
//! exactly one makes it, and only that one announces it.

use tether_protocol::SessionId;

use super::StoreResult;
use super::sql::{Sql, params};

/// The worker was heard of at `at` (Unix ms). Whether that brought it online: only then is
/// there something to announce.
pub fn seen(c: &mut dyn Sql, id: &SessionId, at: u64) -> StoreResult<bool> {
    let flipped = c.execute(
        "UPDATE sessions SET worker_online = 1, worker_seen_at = ?2 WHERE id = ?1 AND worker_online = 0",
        params![id.as_str(), at],
    )?;
    if flipped == 1 {
        return Ok(true);
    }
    c.execute(
        "UPDATE sessions SET worker_seen_at = ?2 WHERE id = ?1 AND worker_seen_at < ?2",
        params![id.as_str(), at],
    )?;
    Ok(false)
}

/// Sessions whose worker is online but no node has heard of it since `cutoff` (Unix ms).
pub fn silent_since(c: &mut dyn Sql, cutoff: u64) -> StoreResult<Vec<SessionId>> {
    c.query(
        "SELECT id FROM sessions WHERE worker_online = 1 AND worker_seen_at < ?1",
        params![cutoff],
    )?
    .into_iter()
    .map(|r| super::sessions::session_id(r.text(0)?))
    .collect()
}

/// The worker has not been heard of since `cutoff`: it is offline. Whether this call made it so
/// (false if it was heard of meanwhile, or another node got there first).
pub fn gone(c: &mut dyn Sql, id: &SessionId, cutoff: u64) -> StoreResult<bool> {
    Ok(c.execute(
        "UPDATE sessions SET worker_online = 0 WHERE id = ?1 AND worker_online = 1 AND worker_seen_at < ?2",
        params![id.as_str(), cutoff],
    )? == 1)
}

/// A relay (re)starting gives the workers that were online the whole timeout to come back, as
/// if just heard of: what happened while no node ran is unknown.
pub fn grace(c: &mut dyn Sql, now: u64) -> StoreResult<u64> {
    c.execute(
        "UPDATE sessions SET worker_seen_at = ?1 WHERE worker_online = 1 AND worker_seen_at < ?1",
        params![now],
    )
}
