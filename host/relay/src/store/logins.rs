//! Browser logins: the cookie set by `POST /login`.

use super::StoreResult;
use super::sql::{Sql, params};

/// Store a browser login by its cookie's digest.
pub fn create(
    c: &mut dyn Sql,
    hash: &[u8; 32],
    account: i64,
    now: u64,
    expires_at: u64,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO browser_logins (token_hash, account_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash, account, now, expires_at],
    )?;
    Ok(())
}

/// The account of a live browser login.
pub fn account(c: &mut dyn Sql, hash: &[u8; 32], now: u64) -> StoreResult<Option<i64>> {
    c.query_opt(
        "SELECT account_id FROM browser_logins WHERE token_hash = ?1 AND expires_at > ?2",
        params![hash, now],
    )?
    .map(|r| r.int(0))
    .transpose()
}

/// Forget a browser login (logout).
pub fn delete(c: &mut dyn Sql, hash: &[u8; 32]) -> StoreResult<()> {
    c.execute(
        "DELETE FROM browser_logins WHERE token_hash = ?1",
        params![hash],
    )?;
    Ok(())
}
