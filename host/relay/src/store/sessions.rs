//! Session rows: owner, title, the worker's reported state, its epoch and the last `seq`.

use tether_protocol::SessionId;
use tether_protocol::api::WorkerState;

use super::sql::{Param, Row, Sql, params};
use super::{StoreError, StoreResult};

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// Its id.
    pub id: SessionId,
    /// The account that owns it.
    pub account: i64,
    /// Its title.
    pub title: String,
    /// What the worker last said it is doing.
    pub state: WorkerState,
    /// The worker's details of that state.
    pub details: Option<serde_json::Value>,
    /// The current worker registration (0 before any).
    pub worker_epoch: u64,
    /// Whether the worker is online (what `worker_status` last said).
    pub worker_online: bool,
    /// The newest event's `seq`.
    pub last_seq: u64,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// When it last changed (Unix seconds).
    pub updated_at: u64,
}

/// `SELECT` of a [`SessionRow`]'s columns from `sessions`, then `$rest`.
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, account_id, title, state, details, worker_epoch, worker_online, \
             (SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = sessions.id), \
             created_at, updated_at FROM sessions ",
            $rest
        )
    };
}

fn row(r: Row) -> StoreResult<SessionRow> {
    Ok(SessionRow {
        id: session_id(r.text(0)?)?,
        account: r.int(1)?,
        title: r.text(2)?,
        state: WorkerState::parse(&r.text(3)?).unwrap_or(WorkerState::Idle),
        details: r.opt_text(4)?.and_then(|d| serde_json::from_str(&d).ok()),
        worker_epoch: r.u64(5)?,
        worker_online: r.int(6)? == 1,
        last_seq: r.u64(7)?,
        created_at: r.u64(8)?,
        updated_at: r.u64(9)?,
    })
}

pub(super) fn session_id(stored: String) -> StoreResult<SessionId> {
    stored
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("stored session id {stored:?}: {e}")))
}

fn rows(rows: Vec<Row>) -> StoreResult<Vec<SessionRow>> {
    rows.into_iter().map(row).collect()
}

/// Store a new, idle session.
pub fn insert(
    c: &mut dyn Sql,
    id: &SessionId,
    account: i64,
    title: &str,
    now: u64,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO sessions (id, account_id, title, state, created_at, updated_at) VALUES (?1, ?2, ?3, 'idle', ?4, ?4)",
        params![id.as_str(), account, title, now],
    )?;
    Ok(())
}

/// How many sessions the account has. In a write, the count holds until it commits (the
/// account is locked, see [`super::accounts::lock`]).
pub fn count(c: &mut dyn Sql, account: i64) -> StoreResult<usize> {
    super::accounts::lock(c, account)?;
    let n = c
        .query_one(
            "SELECT COUNT(*) FROM sessions WHERE account_id = ?1",
            params![account],
        )?
        .u64(0)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// A session by id, whoever owns it.
pub fn get(c: &mut dyn Sql, id: &SessionId) -> StoreResult<Option<SessionRow>> {
    c.query_opt(select!("WHERE id = ?1"), params![id.as_str()])?
        .map(row)
        .transpose()
}

/// The session if `account` owns it. Another account's session is indistinguishable from none.
pub fn owned(c: &mut dyn Sql, id: &SessionId, account: i64) -> StoreResult<Option<SessionRow>> {
    Ok(get(c, id)?.filter(|s| s.account == account))
}

/// Most recently active first.
pub fn list(c: &mut dyn Sql, account: i64) -> StoreResult<Vec<SessionRow>> {
    rows(c.query(
        select!("WHERE account_id = ?1 ORDER BY updated_at DESC, id"),
        params![account],
    )?)
}

/// Rename a session.
pub fn set_title(c: &mut dyn Sql, id: &SessionId, title: &str, now: u64) -> StoreResult<()> {
    c.execute(
        "UPDATE sessions SET title = ?2, updated_at = ?3 WHERE id = ?1",
        params![id.as_str(), title, now],
    )?;
    Ok(())
}

/// Record what the worker says it is doing.
pub fn set_state(
    c: &mut dyn Sql,
    id: &SessionId,
    state: WorkerState,
    details: Option<&serde_json::Value>,
    now: u64,
) -> StoreResult<()> {
    let details = details.map(|d| d.to_string());
    c.execute(
        "UPDATE sessions SET state = ?2, details = ?3, updated_at = ?4 WHERE id = ?1",
        params![id.as_str(), state.as_str(), details.as_ref(), now],
    )?;
    Ok(())
}

/// A new worker registration: the epoch goes up by one and older workers are now stale.
pub fn bump_epoch(c: &mut dyn Sql, id: &SessionId, now: u64) -> StoreResult<u64> {
    c.query_opt(
        "UPDATE sessions SET worker_epoch = worker_epoch + 1, updated_at = ?2 WHERE id = ?1 RETURNING worker_epoch",
        params![id.as_str(), now],
    )?
    .ok_or_else(|| StoreError::Corrupt(format!("session {id} vanished")))?
    .u64(0)
}

/// Where a session's log and worker registration stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The session.
    pub id: SessionId,
    /// Its newest event's `seq`.
    pub last_seq: u64,
    /// Its worker registration.
    pub epoch: u64,
}

/// The heads of those of `ids` that exist (deleted ones are missing).
pub fn heads(c: &mut dyn Sql, ids: &[String]) -> StoreResult<Vec<Head>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "SELECT id, worker_epoch, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = sessions.id)
         FROM sessions WHERE id IN ({})",
        placeholders.join(", ")
    );
    let params: Vec<Param> = ids.iter().map(|id| Param::Text(id)).collect();
    c.query(&sql, &params)?
        .into_iter()
        .map(|r| {
            Ok(Head {
                id: session_id(r.text(0)?)?,
                epoch: r.u64(1)?,
                last_seq: r.u64(2)?,
            })
        })
        .collect()
}

/// Delete a session and (by cascade) its events; `false` if there was none.
pub fn delete(c: &mut dyn Sql, id: &SessionId) -> StoreResult<bool> {
    Ok(c.execute("DELETE FROM sessions WHERE id = ?1", params![id.as_str()])? == 1)
}
