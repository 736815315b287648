//! OAuth state: pending device authorizations, access tokens and rotating refresh tokens.
//!
//! Tokens from one login share a `family`. Presenting a refresh token that was already used means
//! it was copied; the whole family is revoked (RFC 9700 §4.14.2), which logs the thief out and
//! the owner too, who then simply logs in again.

use super::StoreResult;
use super::sql::{Row, Sql, params};
use crate::auth::device_flow::{Pending, Status};

/// A device authorization request to store (RFC 8628 §3.2).
pub struct NewDeviceCode<'a> {
    /// The digest of the device code the CLI polls with.
    pub device_code_hash: &'a [u8; 32],
    /// The code the user types or checks in the browser.
    pub user_code: &'a str,
    /// The OAuth client that asked.
    pub client_id: &'a str,
    /// When it was asked (Unix seconds).
    pub now: u64,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
    /// The polling interval the CLI was told, in seconds.
    pub interval: u64,
}

/// `Ok(false)` if the user code collided with a live one (the caller draws another).
pub fn insert_device_code(db: &mut dyn Sql, c: &NewDeviceCode) -> StoreResult<bool> {
    // Expired requests are dead weight and would hold their user codes.
    db.execute(
        "DELETE FROM device_codes WHERE expires_at <= ?1",
        params![c.now],
    )?;
    let n = db.execute(
        "INSERT INTO device_codes (device_code_hash, user_code, client_id, created_at, expires_at, interval_secs, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending') ON CONFLICT DO NOTHING",
        params![c.device_code_hash, c.user_code, c.client_id, c.now, c.expires_at, c.interval],
    )?;
    Ok(n == 1)
}

/// A stored device authorization request, as a poll reads it.
pub struct DeviceCodeRow {
    /// What the polling rules decide on.
    pub pending: Pending,
    /// The account that approved it, once approved.
    pub account: Option<i64>,
    /// When it was approved (Unix seconds).
    pub approved_at: Option<u64>,
}

/// The request a device code names.
pub fn device_code(c: &mut dyn Sql, hash: &[u8; 32]) -> StoreResult<Option<DeviceCodeRow>> {
    c.query_opt(
        "SELECT status, expires_at, interval_secs, last_poll_at, account_id, approved_at
         FROM device_codes WHERE device_code_hash = ?1",
        params![hash],
    )?
    .map(|r| {
        Ok(DeviceCodeRow {
            pending: Pending {
                status: Status::parse(&r.text(0)?).unwrap_or(Status::Consumed),
                expires_at: r.u64(1)?,
                interval: r.u64(2)?,
                last_poll_at: r.opt_u64(3)?,
            },
            account: r.opt_int(4)?,
            approved_at: r.opt_u64(5)?,
        })
    })
    .transpose()
}

/// Remember a poll and the interval now asked for (RFC 8628 `slow_down`).
pub fn record_poll(c: &mut dyn Sql, hash: &[u8; 32], now: u64, interval: u64) -> StoreResult<()> {
    c.execute(
        "UPDATE device_codes SET last_poll_at = ?2, interval_secs = ?3 WHERE device_code_hash = ?1",
        params![hash, now, interval],
    )?;
    Ok(())
}

/// Spend an approved code; `false` if another poll got there first.
pub fn consume(c: &mut dyn Sql, hash: &[u8; 32]) -> StoreResult<bool> {
    Ok(c.execute(
        "UPDATE device_codes SET status = 'consumed' WHERE device_code_hash = ?1 AND status = 'approved'",
        params![hash],
    )? == 1)
}

/// Approve or deny a waiting request; `false` if there is none with that code.
pub fn decide(
    c: &mut dyn Sql,
    user_code: &str,
    account: i64,
    approve: bool,
    now: u64,
) -> StoreResult<bool> {
    let status = if approve { "approved" } else { "denied" };
    Ok(c.execute(
        "UPDATE device_codes SET status = ?2, account_id = ?3, approved_at = ?4
         WHERE user_code = ?1 AND status = 'pending' AND expires_at > ?4",
        params![user_code, status, account, now],
    )? == 1)
}

/// An access and refresh token to store, by their digests, for one login.
pub struct TokenPair<'a> {
    /// The account they act for.
    pub account: i64,
    /// The login (token family) they belong to.
    pub family: &'a str,
    /// When the login was approved (Unix seconds); a refresh keeps it.
    pub login_at: u64,
    /// The access token's digest.
    pub access_hash: &'a [u8; 32],
    /// When the access token expires (Unix seconds).
    pub access_expires_at: u64,
    /// The refresh token's digest.
    pub refresh_hash: &'a [u8; 32],
    /// When the refresh token expires (Unix seconds).
    pub refresh_expires_at: u64,
}

/// Store a new token pair.
pub fn insert_pair(c: &mut dyn Sql, p: &TokenPair) -> StoreResult<()> {
    c.execute(
        "INSERT INTO access_tokens (token_hash, account_id, family, login_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![p.access_hash, p.account, p.family, p.login_at, p.access_expires_at],
    )?;
    c.execute(
        "INSERT INTO refresh_tokens (token_hash, account_id, family, login_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![p.refresh_hash, p.account, p.family, p.login_at, p.refresh_expires_at],
    )?;
    Ok(())
}

/// What a live access token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRow {
    /// The account it acts for.
    pub account: i64,
    /// When the device login it belongs to was approved.
    pub login_at: u64,
    /// The login (token family) it belongs to.
    pub family: String,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
}

/// What a live access token stands for, if it is live.
pub fn access_token(c: &mut dyn Sql, hash: &[u8; 32], now: u64) -> StoreResult<Option<AccessRow>> {
    c.query_opt(
        "SELECT account_id, login_at, family, expires_at FROM access_tokens WHERE token_hash = ?1 AND expires_at > ?2",
        params![hash, now],
    )?
    .map(|r| {
        Ok(AccessRow {
            account: r.int(0)?,
            login_at: r.u64(1)?,
            family: r.text(2)?,
            expires_at: r.u64(3)?,
        })
    })
    .transpose()
}

/// The login (token family) of an access or refresh token, live or not, used or not: revoking
/// a spent refresh token must still end its login (RFC 7009 §2.1).
pub fn family_of(
    c: &mut dyn Sql,
    access: Option<&[u8; 32]>,
    refresh: Option<&[u8; 32]>,
) -> StoreResult<Option<String>> {
    let family = |row: Option<Row>| row.map(|r| r.text(0)).transpose();
    if let Some(hash) = access {
        let found = family(c.query_opt(
            "SELECT family FROM access_tokens WHERE token_hash = ?1",
            params![hash],
        )?)?;
        if found.is_some() {
            return Ok(found);
        }
    }
    match refresh {
        Some(hash) => family(c.query_opt(
            "SELECT family FROM refresh_tokens WHERE token_hash = ?1",
            params![hash],
        )?),
        None => Ok(None),
    }
}

/// A stored refresh token, live or not.
pub struct RefreshRow {
    /// The account it acts for.
    pub account: i64,
    /// The login (token family) it belongs to.
    pub family: String,
    /// When the login was approved (Unix seconds).
    pub login_at: u64,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
    /// Already spent: presented again, it has leaked, and its whole login is revoked.
    pub used: bool,
}

/// The refresh token a digest names.
pub fn refresh_token(c: &mut dyn Sql, hash: &[u8; 32]) -> StoreResult<Option<RefreshRow>> {
    c.query_opt(
        "SELECT account_id, family, login_at, expires_at, used_at FROM refresh_tokens WHERE token_hash = ?1",
        params![hash],
    )?
    .map(|r| {
        Ok(RefreshRow {
            account: r.int(0)?,
            family: r.text(1)?,
            login_at: r.u64(2)?,
            expires_at: r.u64(3)?,
            used: r.opt_int(4)?.is_some(),
        })
    })
    .transpose()
}

/// Spend a refresh token; `false` if it was already spent.
pub fn mark_used(c: &mut dyn Sql, hash: &[u8; 32], now: u64) -> StoreResult<bool> {
    Ok(c.execute(
        "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL",
        params![hash, now],
    )? == 1)
}

/// End a login: its tokens go, and the revocation is remembered for `keep` seconds (the worker
/// JWT lifetime) so that worker tokens minted from it are refused after a restart too.
pub fn revoke_family(c: &mut dyn Sql, family: &str, now: u64, keep: u64) -> StoreResult<()> {
    c.execute(
        "DELETE FROM access_tokens WHERE family = ?1",
        params![family],
    )?;
    c.execute(
        "DELETE FROM refresh_tokens WHERE family = ?1",
        params![family],
    )?;
    c.execute(
        "DELETE FROM revoked_families WHERE revoked_at < ?1",
        params![now.saturating_sub(keep)],
    )?;
    c.execute(
        "INSERT INTO revoked_families (family, revoked_at) VALUES (?1, ?2)
         ON CONFLICT (family) DO UPDATE SET revoked_at = excluded.revoked_at",
        params![family, now],
    )?;
    Ok(())
}

/// The families revoked at or after `since`, with when; older ones are forgotten.
pub fn revoked_since(c: &mut dyn Sql, since: u64) -> StoreResult<Vec<(String, u64)>> {
    c.execute(
        "DELETE FROM revoked_families WHERE revoked_at < ?1",
        params![since],
    )?;
    c.query("SELECT family, revoked_at FROM revoked_families", &[])?
        .into_iter()
        .map(|r| Ok((r.text(0)?, r.u64(1)?)))
        .collect()
}

/// The families revoked at or after `since`, with when, changing nothing: what a node reads to
/// learn of revocations made on the others.
pub fn revoked_after(c: &mut dyn Sql, since: u64) -> StoreResult<Vec<(String, u64)>> {
    c.query(
        "SELECT family, revoked_at FROM revoked_families WHERE revoked_at >= ?1",
        params![since],
    )?
    .into_iter()
    .map(|r| Ok((r.text(0)?, r.u64(1)?)))
    .collect()
}
