//! Session rows: owner, title, the worker's reported state, its epoch and the last `seq`.

use rusqlite::{Connection, OptionalExtension, params};
use tether_protocol::SessionId;
use tether_protocol::api::WorkerState;

use super::StoreResult;

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
    /// The newest event's `seq`.
    pub last_seq: u64,
    /// When it was created (Unix seconds).
    pub created_at: u64,
    /// When it last changed (Unix seconds).
    pub updated_at: u64,
}

const COLUMNS: &str = "id, account_id, title, state, details, worker_epoch, \
     (SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = sessions.id), created_at, updated_at";

fn row(r: &rusqlite::Row) -> rusqlite::Result<SessionRow> {
    let id: String = r.get(0)?;
    let state: String = r.get(3)?;
    let details: Option<String> = r.get(4)?;
    Ok(SessionRow {
        id: id.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        account: r.get(1)?,
        title: r.get(2)?,
        state: WorkerState::parse(&state).unwrap_or(WorkerState::Idle),
        details: details.and_then(|d| serde_json::from_str(&d).ok()),
        worker_epoch: r.get::<_, i64>(5)? as u64,
        last_seq: r.get::<_, i64>(6)? as u64,
        created_at: r.get::<_, i64>(7)? as u64,
        updated_at: r.get::<_, i64>(8)? as u64,
    })
}

/// Store a new, idle session.
pub fn insert(
    conn: &Connection,
    id: &SessionId,
    account: i64,
    title: &str,
    now: u64,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO sessions (id, account_id, title, state, created_at, updated_at) VALUES (?1, ?2, ?3, 'idle', ?4, ?4)",
        params![id.as_str(), account, title, now as i64],
    )?;
    Ok(())
}

/// How many sessions the account has.
pub fn count(conn: &Connection, account: i64) -> StoreResult<usize> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM sessions WHERE account_id = ?1",
        [account],
        |r| r.get::<_, i64>(0),
    )? as usize)
}

/// A session by id, whoever owns it.
pub fn get(conn: &Connection, id: &SessionId) -> StoreResult<Option<SessionRow>> {
    // Cached: every worker request and every client request on a session runs it.
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"))?
        .query_row([id.as_str()], row)
        .optional()?)
}

/// The session if `account` owns it. Another account's session is indistinguishable from none.
pub fn owned(conn: &Connection, id: &SessionId, account: i64) -> StoreResult<Option<SessionRow>> {
    Ok(get(conn, id)?.filter(|s| s.account == account))
}

/// Most recently active first.
pub fn list(conn: &Connection, account: i64) -> StoreResult<Vec<SessionRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE account_id = ?1 ORDER BY updated_at DESC, id"
    ))?;
    let rows = stmt.query_map([account], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Rename a session.
pub fn set_title(conn: &Connection, id: &SessionId, title: &str, now: u64) -> StoreResult<()> {
    conn.execute(
        "UPDATE sessions SET title = ?2, updated_at = ?3 WHERE id = ?1",
        params![id.as_str(), title, now as i64],
    )?;
    Ok(())
}

/// Record what the worker says it is doing.
pub fn set_state(
    conn: &Connection,
    id: &SessionId,
    state: WorkerState,
    details: Option<&serde_json::Value>,
    now: u64,
) -> StoreResult<()> {
    conn.execute(
        "UPDATE sessions SET state = ?2, details = ?3, updated_at = ?4 WHERE id = ?1",
        params![
            id.as_str(),
            state.as_str(),
            details.map(|d| d.to_string()),
            now as i64
        ],
    )?;
    Ok(())
}

/// A new worker registration: the epoch goes up by one and older workers are now stale.
pub fn bump_epoch(conn: &Connection, id: &SessionId, now: u64) -> StoreResult<u64> {
    Ok(conn.query_row(
        "UPDATE sessions SET worker_epoch = worker_epoch + 1, updated_at = ?2 WHERE id = ?1 RETURNING worker_epoch",
        params![id.as_str(), now as i64],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// Remembered so that a restarted relay can report workers that never came back as offline.
pub fn set_worker_online(conn: &Connection, id: &SessionId, online: bool) -> StoreResult<()> {
    conn.execute(
        "UPDATE sessions SET worker_online = ?2 WHERE id = ?1",
        params![id.as_str(), online],
    )?;
    Ok(())
}

/// Sessions whose worker was online when the relay last stopped.
pub fn with_worker_online(conn: &Connection) -> StoreResult<Vec<SessionRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE worker_online = 1"
    ))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Delete a session and (by cascade) its events; `false` if there was none.
pub fn delete(conn: &Connection, id: &SessionId) -> StoreResult<bool> {
    Ok(conn.execute("DELETE FROM sessions WHERE id = ?1", [id.as_str()])? == 1)
}
