//! Accounts: a name and an argon2 hash.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{StoreResult, rfc3339};

/// An account as `tether relay user list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Its id in the database.
    pub id: i64,
    /// The user name it logs in with.
    pub name: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
}

/// `Ok(None)` when the name is taken.
pub fn add(
    conn: &Connection,
    name: &str,
    password_hash: &str,
    now: u64,
) -> StoreResult<Option<i64>> {
    let inserted = conn.execute(
        "INSERT INTO accounts (name, password_hash, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO NOTHING",
        params![name, password_hash, now as i64],
    )?;
    Ok((inserted == 1).then(|| conn.last_insert_rowid()))
}

/// Every account, by name.
pub fn list(conn: &Connection) -> StoreResult<Vec<Account>> {
    let mut stmt = conn.prepare("SELECT id, name, created_at FROM accounts ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok(Account {
            id: r.get(0)?,
            name: r.get(1)?,
            created_at: rfc3339(r.get::<_, i64>(2)? as u64),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Removing an account removes everything it owns (tokens, devices, sessions, events).
pub fn remove(conn: &Connection, name: &str) -> StoreResult<bool> {
    Ok(conn.execute("DELETE FROM accounts WHERE name = ?1", [name])? == 1)
}

/// The id and password hash of `name`.
pub fn credentials(conn: &Connection, name: &str) -> StoreResult<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT id, password_hash FROM accounts WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Account names: what a person can type and read back, and nothing that could confuse a log.
pub fn valid_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid user name: use 1-64 letters, digits, '.', '_', '-' or '@'",
            name.escape_debug()
        ))
    }
}
