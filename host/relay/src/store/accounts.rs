//! Accounts: a name and an argon2 hash.

use serde::Serialize;

use super::sql::{Dialect, Sql, params};
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

/// Lock the account's row until the transaction ends, so that a count of what it holds
/// (sessions, streams) stays true until the commit: two nodes admitting at once cannot both
/// take the last place. SQLite's one writer already serialises every write.
pub fn lock(c: &mut dyn Sql, account: i64) -> StoreResult<()> {
    if c.dialect() == Dialect::Postgres {
        c.query_opt(
            "SELECT 1 FROM accounts WHERE id = ?1 FOR UPDATE",
            params![account],
        )?;
    }
    Ok(())
}

/// `Ok(None)` when the name is taken.
pub fn add(c: &mut dyn Sql, name: &str, password_hash: &str, now: u64) -> StoreResult<Option<i64>> {
    c.query_opt(
        "INSERT INTO accounts (name, password_hash, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING RETURNING id",
        params![name, password_hash, now],
    )?
    .map(|r| r.int(0))
    .transpose()
}

/// Every account, by name.
pub fn list(c: &mut dyn Sql) -> StoreResult<Vec<Account>> {
    c.query(
        "SELECT id, name, created_at FROM accounts ORDER BY name",
        &[],
    )?
    .into_iter()
    .map(|r| {
        Ok(Account {
            id: r.int(0)?,
            name: r.text(1)?,
            created_at: rfc3339(r.u64(2)?),
        })
    })
    .collect()
}

/// Removing an account removes everything it owns (tokens, devices, sessions, events).
pub fn remove(c: &mut dyn Sql, name: &str) -> StoreResult<bool> {
    Ok(c.execute("DELETE FROM accounts WHERE name = ?1", params![name])? == 1)
}

/// The id and password hash of `name`.
pub fn credentials(c: &mut dyn Sql, name: &str) -> StoreResult<Option<(i64, String)>> {
    c.query_opt(
        "SELECT id, password_hash FROM accounts WHERE name = ?1",
        params![name],
    )?
    .map(|r| Ok((r.int(0)?, r.text(1)?)))
    .transpose()
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
