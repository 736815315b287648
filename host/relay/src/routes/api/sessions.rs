//! The sessions API and the `/bridge` exchange.

use std::time::Instant;

use axum::Json as JsonResponse;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use tether_protocol::SessionId;
use tether_protocol::api::{
    BridgeGrant, CreateSession, PatchSession, SessionCreated, SessionSummary,
};

use crate::auth::extract::{Principal, Via};
use crate::auth::jwt::{self, WORKER_ROLE, WorkerClaims};
use crate::auth::secret::{self, SecretKind};
use crate::body::Json;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, Shared};
use crate::store::sessions::SessionRow;
use crate::store::{self, devices, sessions};
use crate::title::{self, TitleError};

/// Where `/bridge` looks for the trusted device's token.
pub const DEVICE_HEADER: &str = "x-trusted-device-token";

/// A session id from a path. A malformed id is as unknown as another account's.
pub fn parse_id(raw: &str) -> ApiResult<SessionId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// The session, if `account` owns it; `404` otherwise.
pub async fn owned(state: &Shared, id: &SessionId, account: i64) -> ApiResult<SessionRow> {
    let id = id.clone();
    state
        .store
        .read(move |c| sessions::owned(c, &id, account))
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Whether `account` owns session `id` (`404` if not, or if there is no such session), from
/// what the database said within the last second: what a request that acts on a session asks
/// each time (`auth/remembered.rs`). A session deleted elsewhere meanwhile is refused by the
/// act itself (an append to it is a `404` too).
pub async fn owns(state: &Shared, id: &SessionId, account: i64) -> ApiResult<()> {
    let key = (id.clone(), account);
    if state.remembered.owners.get(&key, Instant::now()).is_some() {
        return Ok(());
    }
    let read = Instant::now();
    owned(state, id, account).await?;
    state.remembered.owners.put(key, (), read);
    Ok(())
}

/// A session as the API shows it, with its worker's presence.
pub fn summary(state: &AppState, row: SessionRow) -> SessionSummary {
    SessionSummary {
        worker_online: row.worker_online,
        url: state.session_url(&row.id),
        created_at: store::rfc3339(row.created_at),
        updated_at: store::rfc3339(row.updated_at),
        title: row.title,
        state: row.state,
        id: row.id,
    }
}

/// Over the length limit is `413`, as for every other limit; what a title may not contain is
/// `400`.
fn check_title(state: &AppState, title: &str) -> ApiResult<()> {
    title::check(title, state.config.limits.max_title).map_err(|e| match e {
        TitleError::TooLong(_) => ApiError::too_large(e.to_string()),
        TitleError::Control | TitleError::Invisible(_) => ApiError::bad_request(e.to_string()),
    })
}

/// `POST /v1/code/sessions`: a new session (within the account's limit).
pub async fn create(
    State(state): State<Shared>,
    principal: Principal,
    Json(body): Json<CreateSession>,
) -> ApiResult<(StatusCode, JsonResponse<SessionCreated>)> {
    let title = body
        .title
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let title = title.unwrap_or_else(|| "New session".to_owned());
    check_title(&state, &title)?;
    let id = SessionId::new(state.config.kind);
    let now = store::now();
    let (sid, account, max) = (
        id.clone(),
        principal.account,
        state.config.limits.max_sessions_per_account,
    );
    let created = state
        .store
        .write(move |c| {
            if sessions::count(c, account)? >= max {
                return Ok(false);
            }
            sessions::insert(c, &sid, account, &title, now)?;
            Ok(true)
        })
        .await?;
    if !created {
        return Err(ApiError::forbidden(format!(
            "This account already has {max} sessions; delete some first."
        )));
    }
    state.metrics.sessions_created.inc();
    tracing::info!(session = %id, account = principal.account, "session created");
    Ok((
        StatusCode::CREATED,
        JsonResponse(SessionCreated {
            url: state.session_url(&id),
            id,
            created_at: store::rfc3339(now),
        }),
    ))
}

/// `GET /v1/code/sessions`: the account's sessions.
pub async fn list(
    State(state): State<Shared>,
    principal: Principal,
) -> ApiResult<JsonResponse<Vec<SessionSummary>>> {
    let account = principal.account;
    let rows = state
        .store
        .read(move |c| sessions::list(c, account))
        .await?;
    Ok(JsonResponse(
        rows.into_iter().map(|r| summary(&state, r)).collect(),
    ))
}

/// `GET /v1/code/sessions/{id}`: one session.
pub async fn get(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonResponse<SessionSummary>> {
    let id = parse_id(&id)?;
    let row = owned(&state, &id, principal.account).await?;
    Ok(JsonResponse(summary(&state, row)))
}

/// `PATCH /v1/code/sessions/{id}`: rename it.
pub async fn patch(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<PatchSession>,
) -> ApiResult<JsonResponse<SessionSummary>> {
    let id = parse_id(&id)?;
    owned(&state, &id, principal.account).await?;
    if let Some(title) = body.title {
        let title = title.trim().to_owned();
        if title.is_empty() {
            return Err(ApiError::bad_request("The title may not be empty."));
        }
        check_title(&state, &title)?;
        let sid = id.clone();
        let now = store::now();
        state
            .store
            .write(move |c| sessions::set_title(c, &sid, &title, now))
            .await?;
    }
    let row = owned(&state, &id, principal.account).await?;
    Ok(JsonResponse(summary(&state, row)))
}

/// `DELETE /v1/code/sessions/{id}`: delete it and its log, and end its streams.
pub async fn delete(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    owned(&state, &id, principal.account).await?;
    let (sid, closed, st) = (id.clone(), id.clone(), state.clone());
    state
        .store
        .write_then(
            std::slice::from_ref(&id),
            move |c| sessions::delete(c, &sid),
            move |_, order| st.hub.close(order, &closed),
        )
        .await?;
    state
        .remembered
        .owners
        .forget(|(session, _), _| *session == id);
    state.nodes.tell(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/bridge`: register a worker. The epoch goes up, every older worker token is stale,
/// and the new worker gets a short-lived JWT for this session only.
pub async fn bridge(
    State(state): State<Shared>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(_body): Json<serde_json::Value>,
) -> ApiResult<JsonResponse<BridgeGrant>> {
    let id = parse_id(&id)?;
    let Via::Bearer { family, .. } = principal.via else {
        return Err(ApiError::forbidden(
            "Workers register with the CLI's access token, not a browser login.",
        ));
    };
    owned(&state, &id, principal.account).await?;
    let now = store::now();
    if state.config.require_trusted_device {
        let token = headers.get(DEVICE_HEADER).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            ApiError::unauthorized("This relay requires a trusted device: send X-Trusted-Device-Token (run `tether login`).")
        })?;
        let hash = secret::digest(SecretKind::DeviceToken, token)
            .ok_or_else(|| ApiError::unauthorized("The trusted device token is not valid."))?;
        let account = principal.account;
        let extend_to = now + state.config.lifetimes.trusted_device.as_secs();
        let trusted = state
            .store
            .write(move |c| devices::check_and_touch(c, account, &hash, now, extend_to))
            .await?;
        if !trusted {
            return Err(ApiError::unauthorized(
                "This device is not trusted (revoked, expired or unknown); run `tether login` again.",
            ));
        }
    }
    let (sid, changed, st) = (id.clone(), id.clone(), state.clone());
    let epoch = state
        .store
        .write_then(
            std::slice::from_ref(&id),
            move |c| sessions::bump_epoch(c, &sid, now),
            move |epoch, order| {
                st.hub.epoch_changed(order, &changed, epoch);
                epoch
            },
        )
        .await?;
    state.nodes.tell(&id);
    // The login may have been revoked since this request's token was checked; a token signed
    // now would outlive that by a whole lifetime.
    if state.hub.revocations.is_revoked(&principal.login()) {
        return Err(ApiError::unauthorized(
            "This login has been revoked; run `tether login` again.",
        ));
    }
    let ttl = state.config.lifetimes.worker_jwt.as_secs();
    let claims = WorkerClaims {
        sub: principal.account,
        sid: id,
        role: WORKER_ROLE.into(),
        epoch,
        fam: family,
        iat: now,
        exp: now + ttl,
    };
    state.metrics.bridges_issued.inc();
    tracing::info!(session = %claims.sid, epoch, "worker registered");
    Ok(JsonResponse(BridgeGrant {
        worker_jwt: jwt::sign(&state.jwt_key, &claims),
        expires_in: ttl,
        worker_epoch: epoch,
        api_base_url: state.public_url.clone(),
    }))
}
