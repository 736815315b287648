//! An account's devices for Web Push: the relay's public key to subscribe with, and the
//! subscriptions themselves (docs/protocol.md 5.10).

use axum::Json as JsonResponse;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tether_protocol::push::{
    LOOKING_FOR_MS, Looking, PushDevice, PushDevices, PushKey, SetKinds, Subscribe,
};

use super::sessions::{owns, parse_id};
use crate::auth::extract::Principal;
use crate::body::Json;
use crate::error::{ApiError, ApiResult};
use crate::push::subscribe::{self, SubscribeError};
use crate::state::Shared;
use crate::store::{self, push};

/// `GET /v1/push/key`: what a browser passes to `PushManager.subscribe()`.
pub async fn key(State(state): State<Shared>, _: Principal) -> JsonResponse<PushKey> {
    JsonResponse(PushKey {
        public_key: state.push.sender.vapid().public_key().to_owned(),
    })
}

/// `PUT /v1/push/subscriptions/{device}`: subscribe this browser, or change what it is told.
pub async fn put(
    State(state): State<Shared>,
    principal: Principal,
    Path(device): Path<String>,
    Json(body): Json<Subscribe>,
) -> ApiResult<JsonResponse<PushDevice>> {
    subscribe::check_device(&device).map_err(refused)?;
    let kinds = subscribe::check(&state.push.services, &body).map_err(refused)?;
    let max = state.config.push.max_devices_per_account;
    let (account, now) = (principal.account, store::now());
    let (dev, stored_kinds, endpoint) = (device.clone(), kinds.clone(), body.endpoint.clone());
    let stored = state
        .store
        .write(move |c| {
            push::put(
                c,
                &push::NewSubscription {
                    account,
                    device: &dev,
                    endpoint: &body.endpoint,
                    p256dh: &body.keys.p256dh,
                    auth: &body.keys.auth,
                    kinds: &stored_kinds,
                    now,
                },
                max,
            )
        })
        .await?;
    if !stored {
        return Err(ApiError::conflict(format!(
            "This account already has {max} devices for notifications; remove one first."
        )));
    }
    Ok(JsonResponse(shown(device, kinds, &endpoint, now)))
}

/// `GET /v1/push/subscriptions`: the account's devices, without their secrets.
pub async fn list(
    State(state): State<Shared>,
    principal: Principal,
) -> ApiResult<JsonResponse<PushDevices>> {
    let account = principal.account;
    let devices = state
        .store
        .read(move |c| push::list(c, account))
        .await?
        .into_iter()
        .map(|s| shown(s.device, s.kinds, &s.endpoint, s.updated_at))
        .collect();
    Ok(JsonResponse(PushDevices { devices }))
}

/// `PATCH /v1/push/subscriptions/{device}`: change what a subscribed device is told about
/// (from another surface, which holds no endpoint or keys). `404` if it has no subscription.
pub async fn set_kinds(
    State(state): State<Shared>,
    principal: Principal,
    Path(device): Path<String>,
    Json(body): Json<SetKinds>,
) -> ApiResult<JsonResponse<PushDevice>> {
    subscribe::check_device(&device).map_err(refused)?;
    let kinds = subscribe::check_kinds(&body.kinds).map_err(refused)?;
    let (account, now) = (principal.account, store::now());
    let stored = state
        .store
        .write(move |c| push::set_kinds(c, account, &device, &kinds, now))
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(JsonResponse(shown(
        stored.device,
        stored.kinds,
        &stored.endpoint,
        stored.updated_at,
    )))
}

/// `DELETE /v1/push/subscriptions/{device}`: no more notifications on this device. `204`, or
/// `404` if it had none.
pub async fn remove(
    State(state): State<Shared>,
    principal: Principal,
    Path(device): Path<String>,
) -> ApiResult<StatusCode> {
    subscribe::check_device(&device).map_err(refused)?;
    let account = principal.account;
    let removed = state
        .store
        .write(move |c| push::remove(c, account, &device))
        .await?;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

/// `PUT /v1/push/looking/{session}`: this page shows the session to its person now, or no
/// longer does (docs/protocol.md 5.10). `204`.
pub async fn looking(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<Looking>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    subscribe::check_device(&body.device).map_err(refused)?;
    owns(&state, &id, principal.account).await?;
    let session = id.to_string();
    let device = body.device;
    if !body.visible {
        state
            .store
            .write(move |c| push::look_away(c, &session, &device))
            .await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    let max = state.config.push.max_devices_per_account;
    let now = store::now_ms();
    let stored = state
        .store
        .write(move |c| push::look(c, &session, &device, now, now + LOOKING_FOR_MS, max))
        .await?;
    if !stored {
        return Err(ApiError::conflict(format!(
            "{max} devices already look at this session."
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

fn refused(e: SubscribeError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// A device as its owner sees it: the push service's host, never the endpoint or the keys.
fn shown(
    device: String,
    kinds: Vec<tether_protocol::push::PushKind>,
    endpoint: &str,
    updated_at: u64,
) -> PushDevice {
    let service = endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
        .unwrap_or_default();
    PushDevice {
        device,
        kinds,
        service,
        updated_at: store::rfc3339(updated_at),
    }
}
