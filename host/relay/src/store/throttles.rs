//! The throttles' recent attempts, one row per bucket (a window and a key), so that every node
//! counts the same attempts: a guesser spreading requests over the nodes gets no more than one
//! node would give. The rule itself is `auth::rate_limit`.
//!
//! A bucket's row is locked for the rest of the transaction before it is read (the upsert
//! takes the lock on PostgreSQL; SQLite's one writer already serialises), so that attempts on
//! several nodes at once are counted exactly as a sequence would be.

use sha2::{Digest, Sha256};

use super::sql::{Sql, params};
use super::{StoreError, StoreResult};
use crate::auth::rate_limit::{Hits, Rule};

/// A bucket's name: the window's, and a digest of the key, so that what a visitor typed (of
/// any length, any bytes) is never stored and every row is the same small size.
pub fn bucket(window: &str, key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("{window}:{}", hex::encode(&digest[..16]))
}

/// Take a hit at `now` in every bucket, or in none: `Err(seconds to wait)` from the first that
/// refuses.
pub fn reserve(
    c: &mut dyn Sql,
    buckets: &[(&str, Rule)],
    now: u64,
) -> StoreResult<Result<(), u64>> {
    let mut held = Vec::with_capacity(buckets.len());
    for &(bucket, rule) in buckets {
        let mut hits = lock(c, bucket)?;
        if let Err(wait) = hits.check(rule, now) {
            return Ok(Err(wait));
        }
        held.push((bucket, rule, hits));
    }
    for (bucket, rule, mut hits) in held {
        hits.take(rule, now);
        store(c, bucket, rule, &hits)?;
    }
    Ok(Ok(()))
}

/// Give back the hit taken at `at` in each bucket.
pub fn release(c: &mut dyn Sql, buckets: &[(&str, Rule)], at: u64) -> StoreResult<()> {
    for &(bucket, rule) in buckets {
        let mut hits = lock(c, bucket)?;
        hits.give_back(at);
        store(c, bucket, rule, &hits)?;
    }
    Ok(())
}

/// Forget a bucket's hits (a successful login forgives the account's failures).
pub fn clear(c: &mut dyn Sql, bucket: &str) -> StoreResult<()> {
    c.execute("DELETE FROM throttles WHERE bucket = ?1", params![bucket])?;
    Ok(())
}

/// Forget the buckets with nothing left in their window, so the table follows recent
/// activity. How many went.
pub fn prune(c: &mut dyn Sql, now: u64) -> StoreResult<u64> {
    c.execute(
        "DELETE FROM throttles WHERE expires_at_ms <= ?1",
        params![now],
    )
}

/// A bucket's hits, its row locked until the transaction ends (created empty if missing).
fn lock(c: &mut dyn Sql, bucket: &str) -> StoreResult<Hits> {
    let text = c
        .query_one(
            "INSERT INTO throttles (bucket, hits, expires_at_ms) VALUES (?1, '', 0)
             ON CONFLICT (bucket) DO UPDATE SET hits = throttles.hits RETURNING hits",
            params![bucket],
        )?
        .text(0)?;
    Hits::decode(&text)
        .ok_or_else(|| StoreError::Corrupt(format!("throttle bucket {bucket} holds {text:?}")))
}

fn store(c: &mut dyn Sql, bucket: &str, rule: Rule, hits: &Hits) -> StoreResult<()> {
    if hits.is_empty() {
        return clear(c, bucket);
    }
    c.execute(
        "UPDATE throttles SET hits = ?2, expires_at_ms = ?3 WHERE bucket = ?1",
        params![bucket, &hits.encode(), hits.expires_at(rule)],
    )?;
    Ok(())
}
