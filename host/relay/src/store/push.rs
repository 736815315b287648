//! Web Push subscriptions, one per account and browser install (the device id the browser
//! chose), the relay's VAPID key, and who is looking at a session now (a call waits while
//! anyone is).

use tether_protocol::push::PushKind;

use super::sql::{Sql, params};
use super::{StoreError, StoreResult};

/// A subscription as stored. The endpoint and keys are checked before they are stored and
/// again before each push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Its row id.
    pub id: i64,
    /// The id the browser chose.
    pub device: String,
    /// The push service URL.
    pub endpoint: String,
    /// The browser's P-256 key, base64url.
    pub p256dh: String,
    /// The browser's authentication secret, base64url.
    pub auth: String,
    /// What it is told about.
    pub kinds: Vec<PushKind>,
    /// When it subscribed or last changed (Unix seconds).
    pub updated_at: u64,
}

/// A subscription to store.
pub struct NewSubscription<'a> {
    /// The account it belongs to.
    pub account: i64,
    /// The browser's device id.
    pub device: &'a str,
    /// The checked endpoint.
    pub endpoint: &'a str,
    /// The checked key.
    pub p256dh: &'a str,
    /// The checked secret.
    pub auth: &'a str,
    /// What it wants to be told about.
    pub kinds: &'a [PushKind],
    /// Now (Unix seconds).
    pub now: u64,
}

/// Store `s`, replacing the device's earlier subscription, unless the account already has
/// `max` other devices: then `Ok(false)` and nothing is stored.
pub fn put(c: &mut dyn Sql, s: &NewSubscription, max: usize) -> StoreResult<bool> {
    let others = c
        .query_one(
            "SELECT COUNT(*) FROM push_subscriptions WHERE account_id = ?1 AND device <> ?2",
            params![s.account, s.device],
        )?
        .u64(0)?;
    if others >= max as u64 {
        return Ok(false);
    }
    let kinds = kinds_text(s.kinds);
    c.execute(
        "INSERT INTO push_subscriptions
             (account_id, device, endpoint, p256dh, auth, kinds, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT (account_id, device) DO UPDATE SET
             endpoint = excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth,
             kinds = excluded.kinds, updated_at = excluded.updated_at",
        params![
            s.account,
            s.device,
            s.endpoint,
            s.p256dh,
            s.auth,
            kinds.as_str(),
            s.now
        ],
    )?;
    Ok(true)
}

/// The account's subscriptions, oldest first.
pub fn list(c: &mut dyn Sql, account: i64) -> StoreResult<Vec<Subscription>> {
    c.query(
        "SELECT id, device, endpoint, p256dh, auth, kinds, updated_at FROM push_subscriptions
         WHERE account_id = ?1 ORDER BY created_at, id",
        params![account],
    )?
    .into_iter()
    .map(|r| {
        Ok(Subscription {
            id: r.int(0)?,
            device: r.text(1)?,
            endpoint: r.text(2)?,
            p256dh: r.text(3)?,
            auth: r.text(4)?,
            kinds: parse_kinds(&r.text(5)?),
            updated_at: r.u64(6)?,
        })
    })
    .collect()
}

/// Change what the account's `device` is told about; whether it has a subscription.
pub fn set_kinds(
    c: &mut dyn Sql,
    account: i64,
    device: &str,
    kinds: &[PushKind],
    now: u64,
) -> StoreResult<Option<Subscription>> {
    let kinds = kinds_text(kinds);
    let n = c.execute(
        "UPDATE push_subscriptions SET kinds = ?3, updated_at = ?4
         WHERE account_id = ?1 AND device = ?2",
        params![account, device, kinds.as_str(), now],
    )?;
    if n == 0 {
        return Ok(None);
    }
    Ok(list(c, account)?.into_iter().find(|s| s.device == device))
}

/// Forget the account's subscription for `device`; whether there was one.
pub fn remove(c: &mut dyn Sql, account: i64, device: &str) -> StoreResult<bool> {
    let n = c.execute(
        "DELETE FROM push_subscriptions WHERE account_id = ?1 AND device = ?2",
        params![account, device],
    )?;
    Ok(n > 0)
}

/// Forget subscription `id` because its push service said it is gone, unless the browser
/// subscribed again meanwhile (a new endpoint in the same row).
pub fn forget(c: &mut dyn Sql, id: i64, endpoint: &str) -> StoreResult<bool> {
    let n = c.execute(
        "DELETE FROM push_subscriptions WHERE id = ?1 AND endpoint = ?2",
        params![id, endpoint],
    )?;
    Ok(n > 0)
}

/// The relay's VAPID key, made once: nodes starting together agree, since the first insert
/// wins and everyone reads what it stored.
pub fn vapid_key(c: &mut dyn Sql, fresh: &[u8]) -> StoreResult<Vec<u8>> {
    c.execute(
        "INSERT INTO meta (key, value) VALUES ('vapid_key', ?1) ON CONFLICT (key) DO NOTHING",
        params![fresh],
    )?;
    let key = c
        .query_one("SELECT value FROM meta WHERE key = 'vapid_key'", &[])?
        .blob(0)?;
    if key.len() != 32 {
        return Err(StoreError::Corrupt(
            "the stored VAPID key is not 32 bytes".into(),
        ));
    }
    Ok(key)
}

/// `device` looks at `session` until `until_ms`, unless `max` other devices already do: then
/// `Ok(false)` and nothing is stored. Rows whose time has passed are cleared on the way.
pub fn look(
    c: &mut dyn Sql,
    session: &str,
    device: &str,
    now_ms: u64,
    until_ms: u64,
    max: usize,
) -> StoreResult<bool> {
    c.execute(
        "DELETE FROM push_looking WHERE session_id = ?1 AND until_ms <= ?2",
        params![session, now_ms],
    )?;
    let others = c
        .query_one(
            "SELECT COUNT(*) FROM push_looking WHERE session_id = ?1 AND device <> ?2",
            params![session, device],
        )?
        .u64(0)?;
    if others >= max as u64 {
        return Ok(false);
    }
    c.execute(
        "INSERT INTO push_looking (session_id, device, until_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (session_id, device) DO UPDATE SET until_ms = excluded.until_ms",
        params![session, device, until_ms],
    )?;
    Ok(true)
}

/// `device` no longer looks at `session`.
pub fn look_away(c: &mut dyn Sql, session: &str, device: &str) -> StoreResult<()> {
    c.execute(
        "DELETE FROM push_looking WHERE session_id = ?1 AND device = ?2",
        params![session, device],
    )?;
    Ok(())
}

/// Whether any device looks at `session` at `now_ms`.
pub fn looked_at(c: &mut dyn Sql, session: &str, now_ms: u64) -> StoreResult<bool> {
    let n = c
        .query_one(
            "SELECT COUNT(*) FROM push_looking WHERE session_id = ?1 AND until_ms > ?2",
            params![session, now_ms],
        )?
        .u64(0)?;
    Ok(n > 0)
}

/// The worker of epoch `epoch` said goodbye.
pub fn left(c: &mut dyn Sql, session: &str, epoch: u64) -> StoreResult<()> {
    c.execute(
        "UPDATE sessions SET worker_left_epoch = ?2 WHERE id = ?1",
        params![session, epoch],
    )?;
    Ok(())
}

/// A session whose worker went silent without a goodbye: whose person is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silent {
    /// The account.
    pub account: i64,
    /// The session's title.
    pub title: String,
}

/// `session`, if its current worker went offline without saying goodbye.
pub fn silent(c: &mut dyn Sql, session: &str) -> StoreResult<Option<Silent>> {
    let rows = c.query(
        "SELECT account_id, title FROM sessions WHERE id = ?1
         AND (worker_left_epoch IS NULL OR worker_left_epoch <> worker_epoch)",
        params![session],
    )?;
    rows.into_iter()
        .next()
        .map(|r| {
            Ok(Silent {
                account: r.int(0)?,
                title: r.text(1)?,
            })
        })
        .transpose()
}

fn kinds_text(kinds: &[PushKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Kinds this build does not know (a newer relay's) are skipped, not an error.
fn parse_kinds(text: &str) -> Vec<PushKind> {
    text.split(',')
        .filter_map(|k| PushKind::ALL.into_iter().find(|known| known.as_str() == k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_stored_as_text_and_read_back() {
        let all = PushKind::ALL;
        assert_eq!(parse_kinds(&kinds_text(&all)), all);
        assert_eq!(parse_kinds(""), []);
        assert_eq!(
            parse_kinds("done,mystery,offline"),
            [PushKind::Done, PushKind::Offline]
        );
    }
}
