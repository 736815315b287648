//! Browser logins: the cookie set by `POST /login`.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreResult;

/// Store a browser login by its cookie's digest.
pub fn create(
    conn: &Connection,
    hash: &[u8; 32],
    account: i64,
    now: u64,
    expires_at: u64,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO browser_logins (token_hash, account_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash.as_slice(), account, now as i64, expires_at as i64],
    )?;
    Ok(())
}

/// The account of a live browser login.
pub fn account(conn: &Connection, hash: &[u8; 32], now: u64) -> StoreResult<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT account_id FROM browser_logins WHERE token_hash = ?1 AND expires_at > ?2",
            params![hash.as_slice(), now as i64],
            |r| r.get(0),
        )
        .optional()?)
}

/// Forget a browser login (logout).
pub fn delete(conn: &Connection, hash: &[u8; 32]) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM browser_logins WHERE token_hash = ?1",
        [hash.as_slice()],
    )?;
    Ok(())
}
