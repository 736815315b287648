//! Appending events to a session's log and waking its streams, with the checks every publisher
//! goes through (size, count, who may publish what).
//!
//! The checks cannot be skipped: [`publish`] takes only a [`Validated`] batch, which only
//! [`validate`] makes. Routes with nothing to do between the two call [`accept`].

use tether_protocol::api::PublishedEvent;
use tether_protocol::event::{EventRefusal, canonical_event_id};
use tether_protocol::{Event, NewEvent, SessionId, Source, check_publish};

use crate::error::{ApiError, ApiResult};
use crate::hub::Live;
use crate::state::Shared;
use crate::store::{self, Ordered, events, sessions};

/// A batch that passed [`validate`] for its `source`, ids in their canonical spelling.
pub struct Validated {
    source: Source,
    events: Vec<NewEvent>,
}

/// Check `batch` from `source` and publish it: what a route calls when nothing has to happen
/// in between.
pub async fn accept(
    state: &Shared,
    session: &SessionId,
    source: Source,
    batch: Vec<NewEvent>,
) -> ApiResult<Vec<PublishedEvent>> {
    let batch = validate(state, source, batch)?;
    publish(state, session, batch).await
}

/// Refuse the whole batch if any event breaks a rule: nothing is half-published. The batch
/// comes back with every id in its canonical spelling, so that a retry spelled differently
/// (upper case, braces) is still recognised as the same event.
pub fn validate(state: &Shared, source: Source, mut batch: Vec<NewEvent>) -> ApiResult<Validated> {
    let limits = &state.config.limits;
    if batch.len() > limits.max_batch {
        return Err(ApiError::too_large(format!(
            "{} events in one request; at most {} are accepted.",
            batch.len(),
            limits.max_batch
        )));
    }
    for event in &mut batch {
        let size = serialized_len(&*event);
        if size > limits.max_event {
            return Err(ApiError::too_large(format!(
                "Event {} is {size} bytes; events may be at most {} bytes.",
                event.id.chars().take(40).collect::<String>(),
                limits.max_event
            )));
        }
        check_publish(source, event).map_err(|refusal| match refusal {
            EventRefusal::Forbidden { .. } => ApiError::forbidden(format!("{refusal}.")),
            _ => ApiError::bad_request(format!("{refusal}.")),
        })?;
        event.id = canonical_event_id(&event.id)
            .map_err(|refusal| ApiError::bad_request(format!("{refusal}.")))?;
    }
    Ok(Validated {
        source,
        events: batch,
    })
}

/// How long `value` is as JSON, counted without building it (this runs for every event
/// published).
pub fn serialized_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// Append `batch` and wake the session's streams.
pub async fn publish(
    state: &Shared,
    session: &SessionId,
    batch: Validated,
) -> ApiResult<Vec<PublishedEvent>> {
    let mut answers = publish_all(state, session, vec![batch]).await?;
    Ok(answers.pop().unwrap_or_default())
}

/// Append `batches` in their order, in one transaction, and wake the session's streams once:
/// the writes a WebSocket had already received when it came to read one. Each batch gets its
/// own answers; they commit or fail together.
pub async fn publish_all(
    state: &Shared,
    session: &SessionId,
    batches: Vec<Validated>,
) -> ApiResult<Vec<Vec<PublishedEvent>>> {
    let sizes: Vec<usize> = batches.iter().map(|b| b.events.len()).collect();
    // One append of everything, in order, answers what appending the batches one after the
    // other would: a repeat of an earlier batch's id conflicts as a repeat within a batch does.
    let mut source = None;
    let mut all = Vec::with_capacity(sizes.iter().sum());
    for batch in batches {
        debug_assert!(source.is_none_or(|s| s == batch.source), "one publisher");
        source = Some(batch.source);
        all.extend(batch.events);
    }
    let Some(source) = source.filter(|_| !all.is_empty()) else {
        return Ok(sizes.iter().map(|_| Vec::new()).collect());
    };
    let (id, st) = (session.clone(), state.clone());
    let created_at = store::rfc3339(store::now());
    let retain = state.config.limits.retain_events;
    let sid = id.clone();
    let (answers, any) = state
        .store
        .write_then(
            std::slice::from_ref(session),
            move |c| events::append(c, &sid, source, &all, &created_at, retain),
            move |(answers, appended), order| (answers, committed(&st, order, &id, appended)),
        )
        .await?;
    if any {
        state.nodes.tell(session);
    }
    let mut answers = answers.into_iter();
    Ok(sizes
        .iter()
        .map(|&n| answers.by_ref().take(n).collect())
        .collect())
}

/// Right after the commit that appended `appended` to `session`: count them and move the hub.
/// Whether there were any (then the other nodes are to be told).
pub fn committed(
    state: &Shared,
    order: &Ordered,
    session: &SessionId,
    appended: Vec<Event>,
) -> bool {
    state.metrics.events_published.inc_by(appended.len() as u64);
    let any = !appended.is_empty();
    state
        .hub
        .appended(order, session, appended, &state.config.limits);
    any
}

/// The live state of a session, loaded consistently with the log.
pub async fn live(state: &Shared, session: &SessionId) -> ApiResult<std::sync::Arc<Live>> {
    if let Some(live) = state.hub.get(session) {
        return Ok(live);
    }
    let (id, st) = (session.clone(), state.clone());
    let row = state
        .store
        .write_then(
            std::slice::from_ref(session),
            move |c| sessions::get(c, &id),
            move |row, order| row.map(|r| st.hub.load(order, &r.id, r.last_seq, r.worker_epoch)),
        )
        .await?;
    row.ok_or_else(ApiError::not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counted_length_is_the_serialised_length() {
        for value in [
            serde_json::json!({"id": "e", "type": "user_message", "payload": {"text": "héllo \u{1}"}}),
            serde_json::json!([]),
            serde_json::json!("\"quoted\" \\ and \n"),
        ] {
            assert_eq!(
                serialized_len(&value),
                serde_json::to_vec(&value).unwrap().len()
            );
        }
    }
}
