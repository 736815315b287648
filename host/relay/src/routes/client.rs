//! The client endpoints (browser cookie or OAuth): follow a session and speak in it.

use axum::Json as JsonResponse;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use tether_protocol::Source;
use tether_protocol::api::{ClientEvents, Published};

use super::sessions::{owned, parse_id};
use super::streams::{self, Open, StreamQuery};
use crate::auth::extract::Principal;
use crate::body::Json;
use crate::error::ApiResult;
use crate::publish;
use crate::state::Shared;
use crate::stream::{Audience, Cursor};

pub async fn sse(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    owned(&state, &id, principal.account).await?;
    let from = streams::start(&headers, &query)?;
    let live = publish::live(&state, &id).await?;
    let open = Open::new(&state, &id, Audience::Client, &live).await?;
    let cursor = Cursor::new(state.clone(), id, live, from, Audience::Client);
    Ok(streams::sse(&state, cursor, open))
}

pub async fn ws(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    owned(&state, &id, principal.account).await?;
    let from = streams::start(&headers, &query)?;
    let live = publish::live(&state, &id).await?;
    let open = Open::new(&state, &id, Audience::Client, &live).await?;
    let cursor = Cursor::new(state.clone(), id.clone(), live, from, Audience::Client);
    Ok(streams::websocket(
        &state,
        upgrade,
        id,
        cursor,
        open,
        Audience::Client,
    ))
}

pub async fn post_events(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<ClientEvents>,
) -> ApiResult<JsonResponse<Published>> {
    let id = parse_id(&id)?;
    owned(&state, &id, principal.account).await?;
    publish::validate(&state, Source::Client, &body.events)?;
    let events = publish::publish(&state, &id, Source::Client, body.events).await?;
    Ok(JsonResponse(Published { events }))
}
