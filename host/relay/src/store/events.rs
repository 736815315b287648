//! The event log: per-session `seq`, dedup by publisher id, bounded retention.

use rusqlite::{Connection, OptionalExtension, params};
use tether_protocol::api::PublishedEvent;
use tether_protocol::{Event, NewEvent, SessionId, Source};

use super::{StoreError, StoreResult};

/// Append `events` in one transaction. Each gets the next `seq`, unless its id was published
/// before, in which case it is dropped and answered with the original `seq`. Returns the answer
/// for the publisher and the events actually appended, in order.
pub fn append(
    conn: &mut Connection,
    session: &SessionId,
    source: Source,
    events: &[NewEvent],
    created_at: &str,
    retain: u64,
) -> StoreResult<(Vec<PublishedEvent>, Vec<Event>)> {
    let tx = conn.transaction()?;
    // Cached statements: this runs on every publish, and parsing the SQL each time cost about
    // a fifth of the transaction (see BENCHMARKS.md, "Relay").
    // The head is the log's own maximum (a primary-key lookup on pages this transaction writes
    // anyway) rather than a counter on the session row, which would be one more page per commit.
    let exists = tx
        .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1")?
        .query_row([session.as_str()], |_| Ok(()))
        .optional()?;
    if exists.is_none() {
        return Err(StoreError::Corrupt(format!("session {session} vanished")));
    }
    let mut last_seq: u64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?1")?
        .query_row([session.as_str()], |r| r.get::<_, i64>(0))? as u64;
    let mut answers = Vec::with_capacity(events.len());
    let mut appended = Vec::with_capacity(events.len());
    {
        let mut existing =
            tx.prepare_cached("SELECT seq FROM events WHERE session_id = ?1 AND id = ?2")?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (session_id, seq, id, type, source, created_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (session_id, id) DO NOTHING",
        )?;
        for event in events {
            // Insert first and look only on a conflict: a retry is the rare case, so the common
            // one costs a single statement. A repeat within this batch conflicts the same way.
            let payload = event.payload.to_string();
            let inserted = insert.execute(params![
                session.as_str(),
                (last_seq + 1) as i64,
                event.id,
                event.kind,
                source.as_str(),
                created_at,
                payload
            ])?;
            if inserted == 0 {
                let seq = existing
                    .query_row(params![session.as_str(), event.id], |r| r.get::<_, i64>(0))?;
                answers.push(PublishedEvent {
                    id: event.id.clone(),
                    seq: seq as u64,
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
    }
    if !appended.is_empty() && last_seq > retain {
        tx.prepare_cached("DELETE FROM events WHERE session_id = ?1 AND seq <= ?2")?
            .execute(params![session.as_str(), (last_seq - retain) as i64])?;
    }
    tx.commit()?;
    Ok((answers, appended))
}

/// Up to `limit` events with `seq > after`, oldest first.
pub fn after(
    conn: &Connection,
    session: &SessionId,
    after: u64,
    limit: usize,
) -> StoreResult<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, type, source, created_at, payload FROM events
         WHERE session_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![session.as_str(), after as i64, limit as i64], |r| {
        let source: String = r.get(3)?;
        let payload: String = r.get(5)?;
        Ok(Event {
            seq: r.get::<_, i64>(0)? as u64,
            id: r.get(1)?,
            kind: r.get(2)?,
            source: Source::parse(&source).unwrap_or(Source::Relay),
            created_at: r.get(4)?,
            payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
