//! The client endpoints (browser cookie or OAuth): follow a session and speak in it.

use axum::Json as JsonResponse;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use tether_protocol::Source;
use tether_protocol::api::{ClientEvents, Published};

use super::sessions::{owned, owns, parse_id};
use super::streams::{self, StreamQuery};
use crate::auth::extract::Principal;
use crate::body::Json;
use crate::error::ApiResult;
use crate::feed::Audience;
use crate::publish;
use crate::state::Shared;

/// `GET …/events/stream`: the session as Server-Sent Events.
pub async fn sse(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> ApiResult<Response> {
    Ok(follow(&state, principal, &id, &headers, &query)
        .await?
        .sse(&state))
}

/// `GET …/ws`: the session over a WebSocket, which also takes writes.
pub async fn ws(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    Ok(follow(&state, principal, &id, &headers, &query)
        .await?
        .websocket(&state, upgrade))
}

/// A client stream of a session the principal owns.
async fn follow(
    state: &Shared,
    principal: Principal,
    id: &str,
    headers: &HeaderMap,
    query: &StreamQuery,
) -> ApiResult<streams::Opened> {
    let id = parse_id(id)?;
    owned(state, &id, principal.account).await?;
    let live = publish::live(state, &id).await?;
    streams::open(
        state,
        principal.account,
        id,
        live,
        headers,
        query,
        Audience::Client,
        principal.login(),
    )
    .await
}

/// `POST …/events`: publish what a client says.
pub async fn post_events(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<ClientEvents>,
) -> ApiResult<JsonResponse<Published>> {
    let id = parse_id(&id)?;
    owns(&state, &id, principal.account).await?;
    let events = publish::accept(&state, &id, Source::Client, body.events).await?;
    Ok(JsonResponse(Published { events }))
}
