//! The worker's endpoints, all behind a worker JWT for this session and its current epoch.

use axum::Json as JsonResponse;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tether_protocol::api::{Heartbeat, Published, PutWorkerState, WorkerEvents};
use tether_protocol::payload::SessionState;
use tether_protocol::push::{MAX_SEALED, MAX_TAG, Notified, Notify, PushMessage};
use tether_protocol::{NewEvent, Payload, SessionId, Source};

use super::sessions::parse_id;
use super::streams::{self, StreamQuery};
use crate::auth::extract::Worker;
use crate::error::{ApiError, ApiResult};
use crate::feed::Audience;
use crate::hub::Live;
use crate::revocation::Login;
use crate::state::Shared;
use crate::store::{self, sessions};
use crate::{presence, publish};

/// The session a worker token may act on, with its live state, if the token's epoch is current.
async fn authorize(
    state: &Shared,
    worker: &Worker,
    raw_id: &str,
) -> ApiResult<(SessionId, std::sync::Arc<Live>)> {
    let (id, _) = authorize_row(state, worker, raw_id).await?;
    let live = publish::live(state, &id).await?;
    Ok((id, live))
}

/// The session a worker token may act on, as stored, if the token's epoch is current.
async fn authorize_row(
    state: &Shared,
    worker: &Worker,
    raw_id: &str,
) -> ApiResult<(SessionId, sessions::SessionRow)> {
    let id = parse_id(raw_id)?;
    let claims = &worker.0;
    if claims.sid != id {
        return Err(ApiError::forbidden(
            "This worker token is for another session.",
        ));
    }
    let lookup = id.clone();
    let row = state.store.read(move |c| sessions::get(c, &lookup)).await?;
    let row = row
        .filter(|r| r.account == claims.sub)
        .ok_or_else(ApiError::not_found)?;
    if row.worker_epoch != claims.epoch {
        state.metrics.stale_epoch_refusals.inc();
        return Err(ApiError::stale_epoch(row.worker_epoch));
    }
    Ok((id, row))
}

fn check_body_epoch(state: &Shared, worker: &Worker, body_epoch: u64) -> ApiResult<()> {
    if body_epoch != worker.0.epoch {
        state.metrics.stale_epoch_refusals.inc();
        return Err(ApiError::stale_epoch(worker.0.epoch));
    }
    Ok(())
}

/// `GET …/worker/events/stream`: what clients said, as Server-Sent Events.
pub async fn sse(
    State(state): State<Shared>,
    worker: Worker,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> ApiResult<Response> {
    Ok(follow(&state, &worker, &id, &headers, &query)
        .await?
        .sse(&state))
}

/// `GET …/worker/ws`: the worker's stream over a WebSocket, which also takes writes.
pub async fn ws(
    State(state): State<Shared>,
    worker: Worker,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    Ok(follow(&state, &worker, &id, &headers, &query)
        .await?
        .websocket(&state, upgrade))
}

/// The worker's stream: what clients say, until a newer worker registers.
async fn follow(
    state: &Shared,
    worker: &Worker,
    id: &str,
    headers: &HeaderMap,
    query: &StreamQuery,
) -> ApiResult<streams::Opened> {
    let (id, live) = authorize(state, worker, id).await?;
    let audience = Audience::Worker {
        epoch: worker.0.epoch,
    };
    let login = Login::Family(worker.0.fam);
    streams::open(
        state,
        worker.0.sub,
        id,
        live,
        headers,
        query,
        audience,
        login,
    )
    .await
}

/// `POST …/worker/events`: publish what the worker says.
pub async fn post_events(
    State(state): State<Shared>,
    worker: Worker,
    Path(id): Path<String>,
    crate::body::Json(body): crate::body::Json<WorkerEvents>,
) -> ApiResult<JsonResponse<Published>> {
    let (id, live) = authorize(&state, &worker, &id).await?;
    check_body_epoch(&state, &worker, body.worker_epoch)?;
    let events = publish::validate(&state, Source::Worker, body.events)?;
    presence::heard(&state, &id, &live, false).await?;
    let events = publish::publish(&state, &id, events).await?;
    Ok(JsonResponse(Published { events }))
}

/// Record the worker's state for session lists and tell every client with `session_state`.
pub async fn put_state(
    State(state): State<Shared>,
    worker: Worker,
    Path(id): Path<String>,
    crate::body::Json(body): crate::body::Json<PutWorkerState>,
) -> ApiResult<StatusCode> {
    let (id, live) = authorize(&state, &worker, &id).await?;
    check_body_epoch(&state, &worker, body.worker_epoch)?;
    let announced = Payload::SessionState(SessionState {
        state: body.state,
        details: body.details.clone(),
    });
    let event = publish::validate(&state, Source::Worker, vec![NewEvent::typed(&announced)])?;
    presence::heard(&state, &id, &live, false).await?;
    let (sid, now) = (id.clone(), store::now());
    state
        .store
        .write(move |c| sessions::set_state(c, &sid, body.state, body.details.as_ref(), now))
        .await?;
    publish::publish(&state, &id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/worker/heartbeat`: the worker is still there.
pub async fn heartbeat(
    State(state): State<Shared>,
    worker: Worker,
    Path(id): Path<String>,
    crate::body::Json(body): crate::body::Json<Heartbeat>,
) -> ApiResult<StatusCode> {
    let (id, live) = authorize(&state, &worker, &id).await?;
    check_body_epoch(&state, &worker, body.worker_epoch)?;
    presence::heard(&state, &id, &live, false).await?;
    if body.leaving {
        let (session, epoch) = (id.to_string(), body.worker_epoch);
        state
            .store
            .write(move |c| store::push::left(c, &session, epoch))
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/worker/notify`: call the session's person on the devices that want this kind, or
/// withdraw a call (docs/protocol.md 5.10). `202` with how many devices a push went to.
pub async fn notify(
    State(state): State<Shared>,
    worker: Worker,
    Path(id): Path<String>,
    crate::body::Json(body): crate::body::Json<Notify>,
) -> ApiResult<(StatusCode, JsonResponse<Notified>)> {
    let tag_ok = !body.tag.is_empty()
        && body.tag.len() <= MAX_TAG
        && !body.tag.chars().any(char::is_control);
    if !tag_ok {
        return Err(ApiError::bad_request(format!(
            "tag must be 1-{MAX_TAG} bytes of printable text."
        )));
    }
    if let Some(sealed) = &body.sealed {
        let size = crate::publish::serialized_len(sealed);
        if size > MAX_SEALED {
            return Err(ApiError::too_large(format!(
                "The sealed notification is {size} bytes; a push carries at most {MAX_SEALED}."
            )));
        }
    }
    let (id, row) = authorize_row(&state, &worker, &id).await?;
    // One read: whether anyone looks (a withdrawal is never held), else who to push to.
    let (account, session, now, close) = (row.account, id.to_string(), store::now_ms(), body.close);
    let subscriptions = state
        .store
        .read(move |c| {
            if !close && store::push::looked_at(c, &session, now)? {
                return Ok(None);
            }
            store::push::list(c, account).map(Some)
        })
        .await?;
    let Some(subscriptions) = subscriptions else {
        state.metrics.push("looking");
        return Ok((
            StatusCode::ACCEPTED,
            JsonResponse(Notified {
                devices: 0,
                looking: true,
            }),
        ));
    };
    let message = PushMessage {
        v: 1,
        session: id.to_string(),
        title: row.title,
        kind: body.kind,
        tag: body.tag,
        sealed: body.sealed,
        close: body.close,
    };
    let devices = crate::push::send(&state, &message, subscriptions);
    Ok((
        StatusCode::ACCEPTED,
        JsonResponse(Notified {
            devices,
            looking: false,
        }),
    ))
}
