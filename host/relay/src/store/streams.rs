//! The open streams, counted across nodes: each node holds a lease on the streams it serves and
//! renews it while they stay open ([`renew`]), so that the caps per session and per account
//! hold whichever nodes the streams are on, and a node that dies frees its places when its
//! leases run out.

use tether_protocol::SessionId;

use super::StoreResult;
use super::sql::{Sql, params};

/// How many live streams `session` and `account` have at `now`. In a write, the answer holds
/// until the commit: the account is locked (see [`super::accounts::lock`]).
pub fn count(
    c: &mut dyn Sql,
    session: &SessionId,
    account: i64,
    now: u64,
) -> StoreResult<(usize, usize)> {
    super::accounts::lock(c, account)?;
    let row = c.query_one(
        "SELECT
            (SELECT COUNT(*) FROM streams WHERE session_id = ?1 AND expires_at_ms > ?3),
            (SELECT COUNT(*) FROM streams WHERE account_id = ?2 AND expires_at_ms > ?3)",
        params![session.as_str(), account, now],
    )?;
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Ok((size(row.u64(0)?), size(row.u64(1)?)))
}

/// A stream opened on `node`, leased until `expires_at` (Unix ms): its id.
pub fn insert(
    c: &mut dyn Sql,
    node: &str,
    session: &SessionId,
    account: i64,
    expires_at: u64,
) -> StoreResult<i64> {
    c.query_one(
        "INSERT INTO streams (node, session_id, account_id, expires_at_ms) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        params![node, session.as_str(), account, expires_at],
    )?
    .int(0)
}

/// A stream closed.
pub fn remove(c: &mut dyn Sql, id: i64) -> StoreResult<()> {
    c.execute("DELETE FROM streams WHERE id = ?1", params![id])?;
    Ok(())
}

/// `node` still serves its streams: their leases run until `expires_at`.
pub fn renew(c: &mut dyn Sql, node: &str, expires_at: u64) -> StoreResult<u64> {
    c.execute(
        "UPDATE streams SET expires_at_ms = ?2 WHERE node = ?1",
        params![node, expires_at],
    )
}

/// Forget the streams whose lease ran out before `cutoff`: their node died, or lost the
/// database for longer than a lease.
pub fn prune(c: &mut dyn Sql, cutoff: u64) -> StoreResult<u64> {
    c.execute(
        "DELETE FROM streams WHERE expires_at_ms <= ?1",
        params![cutoff],
    )
}
