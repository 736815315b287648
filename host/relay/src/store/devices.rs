//! Trusted devices: machines enrolled right after a login, allowed to register workers.

use rusqlite::{Connection, OptionalExtension, params};
use tether_protocol::api::TrustedDevice;

use super::{StoreResult, rfc3339};

/// A trusted device to store: its token only as a digest.
pub struct NewDevice<'a> {
    /// Its public id (for listing and revoking).
    pub id: &'a str,
    /// The account it belongs to.
    pub account: i64,
    /// What the user called the machine.
    pub name: &'a str,
    /// The digest of its token.
    pub hash: &'a [u8; 32],
    /// The login (token family) that enrolled it.
    pub family: &'a str,
    /// When it is enrolled (Unix seconds).
    pub now: u64,
    /// When it stops being trusted unless used (Unix seconds).
    pub expires_at: u64,
}

/// Store a newly enrolled device.
pub fn insert(conn: &Connection, d: &NewDevice) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO trusted_devices (id, account_id, display_name, token_hash, family, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![d.id, d.account, d.name, d.hash.as_slice(), d.family, d.now as i64, d.expires_at as i64],
    )?;
    Ok(())
}

/// The account's devices that are neither revoked nor expired.
pub fn list(conn: &Connection, account: i64, now: u64) -> StoreResult<Vec<TrustedDevice>> {
    let mut stmt = conn.prepare(
        "SELECT id, display_name, created_at, last_used_at, expires_at FROM trusted_devices
         WHERE account_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map(params![account, now as i64], |r| {
        Ok(TrustedDevice {
            device_id: r.get(0)?,
            display_name: r.get(1)?,
            created_at: rfc3339(r.get::<_, i64>(2)? as u64),
            last_used_at: r.get::<_, Option<i64>>(3)?.map(|t| rfc3339(t as u64)),
            expires_at: rfc3339(r.get::<_, i64>(4)? as u64),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revoke the device and the login that enrolled it (a machine that is no longer trusted must
/// not keep acting for the account with that login's tokens), remembering the login's
/// revocation for `keep` seconds (see [`super::oauth::revoke_family`]). `None` if there is no
/// such live device of `account`; else the login revoked with it, if it has one.
pub fn revoke(
    conn: &Connection,
    account: i64,
    id: &str,
    now: u64,
    keep: u64,
) -> StoreResult<Option<Option<String>>> {
    let revoked: Option<Option<String>> = conn
        .query_row(
            "UPDATE trusted_devices SET revoked_at = ?3 WHERE id = ?1 AND account_id = ?2 AND revoked_at IS NULL
             RETURNING family",
            params![id, account, now as i64],
            |r| r.get(0),
        )
        .optional()?;
    let Some(family) = revoked else {
        return Ok(None);
    };
    if let Some(family) = &family {
        super::oauth::revoke_family(conn, family, now, keep)?;
    }
    Ok(Some(family))
}

/// Whether `hash` is a live device of `account`; a use extends its life (the 90-day window rolls).
pub fn check_and_touch(
    conn: &Connection,
    account: i64,
    hash: &[u8; 32],
    now: u64,
    extend_to: u64,
) -> StoreResult<bool> {
    let id: Option<String> = conn
        .query_row(
            "SELECT id FROM trusted_devices WHERE token_hash = ?1 AND account_id = ?2
             AND revoked_at IS NULL AND expires_at > ?3",
            params![hash.as_slice(), account, now as i64],
            |r| r.get(0),
        )
        .optional()?;
    let Some(id) = id else { return Ok(false) };
    conn.execute(
        "UPDATE trusted_devices SET last_used_at = ?2, expires_at = ?3 WHERE id = ?1",
        params![id, now as i64, extend_to as i64],
    )?;
    Ok(true)
}
