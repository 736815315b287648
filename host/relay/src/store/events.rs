//! The event log: per-session `seq`, dedup by publisher id, bounded retention.

use tether_protocol::api::PublishedEvent;
use tether_protocol::{Event, NewEvent, SessionId, Source};

use super::sql::{Dialect, Sql, params};
use super::{StoreError, StoreResult};

/// Append `events` (in the caller's transaction). Each gets the next `seq`, unless its id was
/// published before, in which case it is dropped and answered with the original `seq`. Returns
/// the answer for the publisher and the events actually appended, in order.
pub fn append(
    c: &mut dyn Sql,
    session: &SessionId,
    source: Source,
    events: &[NewEvent],
    created_at: &str,
    retain: u64,
) -> StoreResult<(Vec<PublishedEvent>, Vec<Event>)> {
    // On PostgreSQL, appends to one session from many connections (and nodes) take turns on
    // the session's row until they commit, so that each reads the head the last one left.
    let lock = match c.dialect() {
        Dialect::Sqlite => "SELECT 1 FROM sessions WHERE id = ?1",
        Dialect::Postgres => "SELECT 1 FROM sessions WHERE id = ?1 FOR UPDATE",
    };
    if c.query_opt(lock, params![session.as_str()])?.is_none() {
        return Err(StoreError::Gone(session.to_string()));
    }
    // The head is the log's own maximum (a primary-key lookup on pages this transaction writes
    // anyway) rather than a counter on the session row, which would be one more page per commit.
    // It is read in a statement of its own, after the lock: in the statement that waits for
    // the lock, PostgreSQL would read it as it was before the wait, and two appends would take
    // the same `seq` (concurrent_appends_to_one_session_from_two_nodes_are_numbered_once_each).
    let mut last_seq = c
        .query_one(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?1",
            params![session.as_str()],
        )?
        .u64(0)?;
    let mut answers = Vec::with_capacity(events.len());
    let mut appended = Vec::with_capacity(events.len());
    for event in events {
        // Insert first and look only on a conflict: a retry is the rare case, so the common
        // one costs a single statement. A repeat within this batch conflicts the same way.
        let payload = event.payload.to_string();
        let inserted = c.execute(
            "INSERT INTO events (session_id, seq, id, type, source, created_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (session_id, id) DO NOTHING",
            params![
                session.as_str(),
                last_seq + 1,
                &event.id,
                &event.kind,
                source.as_str(),
                created_at,
                &payload
            ],
        )?;
        if inserted == 0 {
            let seq = c
                .query_one(
                    "SELECT seq FROM events WHERE session_id = ?1 AND id = ?2",
                    params![session.as_str(), &event.id],
                )?
                .u64(0)?;
            answers.push(PublishedEvent {
                id: event.id.clone(),
                seq,
                duplicate: true,
            });
            continue;
        }
        last_seq += 1;
        answers.push(PublishedEvent {
            id: event.id.clone(),
            seq: last_seq,
            duplicate: false,
        });
        appended.push(Event {
            seq: last_seq,
            id: event.id.clone(),
            kind: event.kind.clone(),
            source,
            created_at: created_at.to_owned(),
            payload: event.payload.clone(),
        });
    }
    if !appended.is_empty() && last_seq > retain {
        c.execute(
            "DELETE FROM events WHERE session_id = ?1 AND seq <= ?2",
            params![session.as_str(), last_seq - retain],
        )?;
    }
    Ok((answers, appended))
}

/// Up to `limit` events with `seq > after`, oldest first.
pub fn after(
    c: &mut dyn Sql,
    session: &SessionId,
    after: u64,
    limit: usize,
) -> StoreResult<Vec<Event>> {
    c.query(
        "SELECT seq, id, type, source, created_at, payload FROM events
         WHERE session_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        params![session.as_str(), after, limit as u64],
    )?
    .into_iter()
    .map(|mut r| {
        Ok(Event {
            seq: r.u64(0)?,
            id: r.take_text(1)?,
            kind: r.take_text(2)?,
            source: Source::parse(&r.take_text(3)?).unwrap_or(Source::Relay),
            created_at: r.take_text(4)?,
            payload: serde_json::from_str(&r.take_text(5)?).unwrap_or(serde_json::Value::Null),
        })
    })
    .collect()
}
