//! Trusted devices: enrolled by the CLI right after logging in, listed and revoked by the owner.

use axum::Json as JsonResponse;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tether_protocol::api::{DeviceEnrolled, EnrollDevice, TrustedDevice};

use crate::auth::extract::{Principal, Via};
use crate::auth::secret::{self, SecretKind};
use crate::body::Json;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;
use crate::store::{self, devices};

/// `POST /v1/auth/trusted_devices`: trust this machine for `/bridge`.
pub async fn enroll(
    State(state): State<Shared>,
    principal: Principal,
    Json(body): Json<EnrollDevice>,
) -> ApiResult<(StatusCode, JsonResponse<DeviceEnrolled>)> {
    let now = store::now();
    // Enrolment needs a fresh login, so a stolen long-lived credential cannot mint devices.
    let Via::Bearer { login_at, family } = principal.via else {
        return Err(ApiError::forbidden(
            "Devices are enrolled by the CLI with its access token.",
        ));
    };
    if now.saturating_sub(login_at) > state.config.lifetimes.enrolment_window.as_secs() {
        return Err(ApiError::forbidden(
            "Enrol a trusted device right after logging in: run `tether login` again.",
        ));
    }
    let name = body.display_name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "display_name must be 1-100 printable characters.",
        ));
    }
    let device_id = format!("dev_{}", uuid::Uuid::new_v4().simple());
    let token = secret::generate(SecretKind::DeviceToken);
    let hash = secret::digest(SecretKind::DeviceToken, &token).expect("fresh");
    let expires = now + state.config.lifetimes.trusted_device.as_secs();
    let (id, account, family) = (device_id.clone(), principal.account, family.to_string());
    state
        .store
        .write(move |c| {
            devices::insert(
                c,
                &devices::NewDevice {
                    id: &id,
                    account,
                    name: &name,
                    hash: &hash,
                    family: &family,
                    now,
                    expires_at: expires,
                },
            )
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(DeviceEnrolled {
            device_id,
            device_token: token,
        }),
    ))
}

/// `GET /v1/auth/trusted_devices`: the account's trusted devices.
pub async fn list(
    State(state): State<Shared>,
    principal: Principal,
) -> ApiResult<JsonResponse<Vec<TrustedDevice>>> {
    let now = store::now();
    let account = principal.account;
    Ok(JsonResponse(
        state
            .store
            .read(move |c| devices::list(c, account, now))
            .await?,
    ))
}

/// Revoking a device also revokes the login that enrolled it (see [`devices::revoke`]).
pub async fn revoke(
    State(state): State<Shared>,
    principal: Principal,
    Path(device_id): Path<String>,
) -> ApiResult<StatusCode> {
    let now = store::now();
    let account = principal.account;
    let keep = crate::revocation::keep(&state).as_secs();
    let revoked = state
        .store
        .write(move |c| devices::revoke(c, account, &device_id, now, keep))
        .await?;
    if let Some(family) = revoked {
        if let Some(family) = family {
            crate::revocation::family_revoked(&state, &family);
        }
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError {
            message: "No such trusted device.".into(),
            ..ApiError::not_found()
        })
    }
}
