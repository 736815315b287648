//! Appending events to a session's log and waking its streams, with the checks every publisher
//! goes through (size, count, who may publish what).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use tether_protocol::api::PublishedEvent;
use tether_protocol::event::{EventRefusal, canonical_event_id, types};
use tether_protocol::{NewEvent, SessionId, Source, check_publish};

use crate::error::{ApiError, ApiResult};
use crate::hub::{Live, Transition};
use crate::state::Shared;
use crate::store::{self, events, sessions};

/// Refuse the whole batch if any event breaks a rule: nothing is half-published. Returns the
/// batch with every id in its canonical spelling, so that a retry spelled differently (upper
/// case, braces) is still recognised as the same event.
pub fn validate(
    state: &Shared,
    source: Source,
    mut batch: Vec<NewEvent>,
) -> ApiResult<Vec<NewEvent>> {
    let limits = &state.config.limits;
    if batch.len() > limits.max_batch {
        return Err(ApiError::too_large(format!(
            "{} events in one request; at most {} are accepted.",
            batch.len(),
            limits.max_batch
        )));
    }
    for event in &mut batch {
        let size = serde_json::to_vec(&*event)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
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
    Ok(batch)
}

/// Append `batch` (already validated) and wake the session's streams.
pub async fn publish(
    state: &Shared,
    session: &SessionId,
    source: Source,
    batch: Vec<NewEvent>,
) -> ApiResult<Vec<PublishedEvent>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let (id, st) = (session.clone(), state.clone());
    let created_at = store::rfc3339(store::now());
    let retain = state.config.limits.retain_events;
    let answers = state
        .store
        .write(move |conn| {
            let (answers, appended) =
                events::append(conn, &id, source, &batch, &created_at, retain)?;
            st.metrics
                .events_published
                .fetch_add(appended.len() as u64, Relaxed);
            st.hub.appended(&id, appended, &st.config.limits);
            Ok(answers)
        })
        .await?;
    Ok(answers)
}

/// Announce a change in the worker's presence to every client, and remember it for a restart.
pub async fn announce(
    state: &Shared,
    session: &SessionId,
    transition: Transition,
) -> ApiResult<()> {
    let online = transition == Transition::Online;
    let event = NewEvent::new(
        types::WORKER_STATUS,
        serde_json::json!({ "online": online }),
    );
    let id = session.clone();
    state
        .store
        .write(move |conn| sessions::set_worker_online(conn, &id, online))
        .await?;
    publish(state, session, Source::Relay, vec![event]).await?;
    Ok(())
}

/// The worker did something: it is online.
pub async fn worker_seen(state: &Shared, session: &SessionId, live: &Live) -> ApiResult<()> {
    if let Some(t) = live.worker_seen(Instant::now()) {
        announce(state, session, t).await?;
    }
    Ok(())
}

/// The live state of a session, loaded consistently with the log.
pub async fn live(state: &Shared, session: &SessionId) -> ApiResult<std::sync::Arc<Live>> {
    if let Some(live) = state.hub.get(session) {
        return Ok(live);
    }
    let (id, st) = (session.clone(), state.clone());
    state
        .store
        .write(move |conn| {
            let row = sessions::get(conn, &id)?
                .ok_or_else(|| store::StoreError::Corrupt(format!("session {id} vanished")))?;
            Ok(st.hub.load(&id, row.last_seq, row.worker_epoch))
        })
        .await
        .map_err(|_| ApiError::not_found())
}
