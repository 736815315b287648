//! Trusted devices: machines enrolled right after a login, allowed to register workers.

use tether_protocol::api::TrustedDevice;

use super::sql::{Sql, params};
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
pub fn insert(c: &mut dyn Sql, d: &NewDevice) -> StoreResult<()> {
    c.execute(
        "INSERT INTO trusted_devices (id, account_id, display_name, token_hash, family, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![d.id, d.account, d.name, d.hash, d.family, d.now, d.expires_at],
    )?;
    Ok(())
}

/// The account's devices that are neither revoked nor expired.
pub fn list(c: &mut dyn Sql, account: i64, now: u64) -> StoreResult<Vec<TrustedDevice>> {
    c.query(
        "SELECT id, display_name, created_at, last_used_at, expires_at FROM trusted_devices
         WHERE account_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 ORDER BY created_at, id",
        params![account, now],
    )?
    .into_iter()
    .map(|r| {
        Ok(TrustedDevice {
            device_id: r.text(0)?,
            display_name: r.text(1)?,
            created_at: rfc3339(r.u64(2)?),
            last_used_at: r.opt_u64(3)?.map(rfc3339),
            expires_at: rfc3339(r.u64(4)?),
        })
    })
    .collect()
}

/// Revoke the device and the login that enrolled it (a machine that is no longer trusted must
/// not keep acting for the account with that login's tokens), remembering the login's
/// revocation for `keep` seconds (see [`super::oauth::revoke_family`]). `None` if there is no
/// such live device of `account`; else the login revoked with it, if it has one.
pub fn revoke(
    c: &mut dyn Sql,
    account: i64,
    id: &str,
    now: u64,
    keep: u64,
) -> StoreResult<Option<Option<String>>> {
    let revoked = c
        .query_opt(
            "UPDATE trusted_devices SET revoked_at = ?3 WHERE id = ?1 AND account_id = ?2 AND revoked_at IS NULL
             RETURNING family",
            params![id, account, now],
        )?
        .map(|r| r.opt_text(0))
        .transpose()?;
    let Some(family) = revoked else {
        return Ok(None);
    };
    if let Some(family) = &family {
        super::oauth::revoke_family(c, family, now, keep)?;
    }
    Ok(Some(family))
}

/// Whether `hash` is a live device of `account`; a use extends its life (the 90-day window rolls).
pub fn check_and_touch(
    c: &mut dyn Sql,
    account: i64,
    hash: &[u8; 32],
    now: u64,
    extend_to: u64,
) -> StoreResult<bool> {
    // One statement, so that a device revoked by another node between a look and a touch is
    // not touched back to life.
    Ok(c.execute(
        "UPDATE trusted_devices SET last_used_at = ?3, expires_at = ?4 WHERE token_hash = ?1
         AND account_id = ?2 AND revoked_at IS NULL AND expires_at > ?3",
        params![hash, account, now, extend_to],
    )? == 1)
}
