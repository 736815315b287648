//! The OAuth 2.0 device authorization grant (RFC 8628), refresh-token rotation (RFC 6749 §6)
//! and revocation (RFC 7009). Errors here use the RFC's own shape (`{error,
//! error_description}`), which OAuth clients expect.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tether_protocol::RelayKind;
use tether_protocol::api::{DeviceCode, OAuthError, TokenResponse};

use crate::auth::device_flow::{self, Poll};
use crate::auth::extract::ClientAddr;
use crate::auth::secret::{self, SecretKind};
use crate::body::Form;
use crate::error::ApiError;
use crate::state::Shared;
use crate::store::{self, oauth};
use crate::throttle::{self, Refused, Window};

/// The one OAuth client the relay knows: the CLI.
pub const CLIENT_ID: &str = "tether-cli";
/// The `grant_type` of the device flow (RFC 8628 §3.4).
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(OAuthError {
            error: code.to_owned(),
            error_description: Some(description.to_owned()),
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A form from a client: the form, or the OAuth error for a malformed form or for any client
/// but the CLI, in that order.
#[allow(clippy::result_large_err)]
fn client_form<T>(
    form: Result<Form<T>, ApiError>,
    client_id: impl FnOnce(&T) -> Option<&str>,
) -> Result<T, Response> {
    let Form(form) = form.map_err(|e| oauth_error(e.status, "invalid_request", &e.message))?;
    match client_refusal(client_id(&form)) {
        Some(r) => Err(r),
        None => Ok(form),
    }
}

/// The refusal for anything but the CLI's client id.
fn client_refusal(client_id: Option<&str>) -> Option<Response> {
    match client_id {
        Some(CLIENT_ID) => None,
        Some(other) => Some(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            &format!(
                "Unknown client `{}`; the CLI's client_id is `{CLIENT_ID}`.",
                other.chars().take(40).collect::<String>()
            ),
        )),
        None => Some(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id is required.",
        )),
    }
}

/// The device authorization request (RFC 8628 §3.1).
#[derive(Deserialize)]
pub struct DeviceCodeForm {
    client_id: Option<String>,
}

/// `POST /v1/oauth/device/code`: start a CLI login (throttled per address).
pub async fn device_code(
    State(state): State<Shared>,
    ClientAddr(address): ClientAddr,
    form: Result<Form<DeviceCodeForm>, ApiError>,
) -> Response {
    if let Err(r) = client_form(form, |f| f.client_id.as_deref()) {
        return r;
    }
    let address = address.to_string();
    match throttle::reserve(&state, &[(Window::DeviceCodesByAddress, &address)]).await {
        // Every request counts, granted or not.
        Ok(reservation) => reservation.keep(),
        Err(Refused::Wait(wait)) => {
            let mut r = oauth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                &format!("Too many login attempts; try again in {wait} s."),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return r;
        }
        Err(Refused::Store(e)) => return ApiError::from(e).into_response(),
    }
    let lifetimes = &state.config.lifetimes;
    let expires_in = lifetimes.device_code.as_secs();
    let interval = lifetimes.device_poll_interval.as_secs();
    let device_code = secret::generate(SecretKind::DeviceCode);
    let hash = secret::digest(SecretKind::DeviceCode, &device_code).expect("fresh secret");
    let now_s = store::now();
    let inserted = state
        .store
        .write(move |c| {
            // A collision among 2.6e10 codes is rare; draw again a few times rather than fail.
            for _ in 0..8 {
                let user_code = device_flow::new_user_code();
                let new = oauth::NewDeviceCode {
                    device_code_hash: &hash,
                    user_code: &user_code,
                    client_id: CLIENT_ID,
                    now: now_s,
                    expires_at: now_s + expires_in,
                    interval,
                };
                if oauth::insert_device_code(c, &new)? {
                    return Ok(Some(user_code));
                }
            }
            Ok(None)
        })
        .await;
    let user_code = match inserted {
        Ok(Some(code)) => code,
        Ok(None) => {
            return oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Could not allocate a user code; try again.",
            );
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let verification_uri = format!("{}/device", state.public_url);
    let body = DeviceCode {
        verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
        verification_uri,
        device_code,
        user_code,
        expires_in,
        interval,
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A token request: a device code's poll or a refresh.
#[derive(Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    device_code: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
}

/// `POST /v1/oauth/token`: poll a device code, or refresh (rotating the refresh token).
pub async fn token(
    State(state): State<Shared>,
    form: Result<Form<TokenForm>, ApiError>,
) -> Response {
    let form = match client_form(form, |f| f.client_id.as_deref()) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match form.grant_type.as_deref() {
        // The embedded relay's only login is the terminal's own; it runs no device flow.
        Some(DEVICE_GRANT) if state.config.kind == RelayKind::Local => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "This relay has no device logins.",
        ),
        Some(DEVICE_GRANT) => device_grant(state, form.device_code).await,
        Some("refresh_token") => refresh_grant(state, form.refresh_token).await,
        Some(other) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!(
                "grant_type `{}` is not supported.",
                other.chars().take(80).collect::<String>()
            ),
        ),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required.",
        ),
    }
}

async fn device_grant(state: Shared, device_code: Option<String>) -> Response {
    let hash = match presented(SecretKind::DeviceCode, device_code, "device_code") {
        Ok(hash) => hash,
        Err(refusal) => return refusal,
    };
    let lifetimes = state.config.lifetimes.clone();
    let now = store::now();
    let outcome = state
        .store
        .write(move |c| {
            let Some(row) = oauth::device_code(c, &hash)? else {
                return Ok(Err("invalid_grant"));
            };
            let decision = device_flow::poll(row.pending, now);
            let interval = match decision {
                Poll::SlowDown { new_interval } => new_interval,
                _ => row.pending.interval,
            };
            oauth::record_poll(c, &hash, now, interval)?;
            if decision != Poll::Issue {
                return Ok(Err(decision.error_code().expect("not Issue")));
            }
            let account = row.account.expect("an approved request has an account");
            if !oauth::consume(c, &hash)? {
                return Ok(Err("invalid_grant"));
            }
            let login_at = row.approved_at.unwrap_or(now);
            Ok(Ok(issue_pair(
                c,
                account,
                &uuid::Uuid::new_v4().to_string(),
                login_at,
                now,
                &lifetimes,
            )?))
        })
        .await;
    match outcome {
        Ok(Ok(tokens)) => token_response(tokens),
        Ok(Err(code)) => oauth_error(StatusCode::BAD_REQUEST, code, describe(code)),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The stored hash of a secret the client sent as `field`, or the RFC's refusal: missing is
/// `invalid_request`, malformed is `invalid_grant` (like unknown, so nothing is learned from it).
#[allow(clippy::result_large_err)]
fn presented(kind: SecretKind, value: Option<String>, field: &str) -> Result<[u8; 32], Response> {
    let Some(value) = value else {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("{field} is required."),
        ));
    };
    secret::digest(kind, &value).ok_or_else(|| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            &format!("Unknown {field}."),
        )
    })
}

fn describe(code: &str) -> &'static str {
    match code {
        "authorization_pending" => "The user has not approved this login yet; keep polling.",
        "slow_down" => "Polling too fast; wait 5 more seconds between polls.",
        "access_denied" => "The user denied this login.",
        "expired_token" => "The login request expired; start again.",
        _ => "The grant is invalid, used or expired.",
    }
}

async fn refresh_grant(state: Shared, refresh_token: Option<String>) -> Response {
    let hash = match presented(SecretKind::RefreshToken, refresh_token, "refresh_token") {
        Ok(hash) => hash,
        Err(refusal) => return refusal,
    };
    let lifetimes = state.config.lifetimes.clone();
    let now = store::now();
    let st = state.clone();
    let outcome = state
        .store
        .write(move |c| {
            let Some(row) = oauth::refresh_token(c, &hash)? else {
                return Ok(None);
            };
            if row.used {
                // A used refresh token came back: it was copied. End the whole login.
                tracing::warn!(
                    account = row.account,
                    "refresh token reused; revoking its login"
                );
                oauth::revoke_family(c, &row.family, now, lifetimes.worker_jwt.as_secs())?;
                crate::revocation::family_revoked(&st, &row.family);
                return Ok(None);
            }
            if now >= row.expires_at || !oauth::mark_used(c, &hash, now)? {
                return Ok(None);
            }
            Ok(Some(issue_pair(
                c,
                row.account,
                &row.family,
                row.login_at,
                now,
                &lifetimes,
            )?))
        })
        .await;
    match outcome {
        Ok(Some(tokens)) => token_response(tokens),
        Ok(None) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The refresh token is invalid, used or expired; log in again.",
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// A revocation request (RFC 7009 §2.1).
#[derive(Deserialize)]
pub struct RevokeForm {
    token: Option<String>,
    /// Ignored: the token's prefix says what it is (RFC 7009 §2.1 lets the server search).
    #[allow(dead_code)]
    token_type_hint: Option<String>,
    client_id: Option<String>,
}

/// RFC 7009 `POST /v1/oauth/revoke`: end the login an access or refresh token belongs to, every
/// token of it at once (a logout that left the other one alive would leave the login alive).
/// Unknown, expired and already revoked tokens get the same `200` (§2.2), so the answer says
/// nothing about which tokens exist.
pub async fn revoke(
    State(state): State<Shared>,
    form: Result<Form<RevokeForm>, ApiError>,
) -> Response {
    let form = match client_form(form, |f| f.client_id.as_deref()) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(token) = form.token.filter(|t| !t.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required.",
        );
    };
    let access = secret::digest(SecretKind::AccessToken, &token);
    let refresh = secret::digest(SecretKind::RefreshToken, &token);
    if access.is_some() || refresh.is_some() {
        let (now, keep) = (store::now(), crate::revocation::keep(&state).as_secs());
        let revoked = state
            .store
            .write(move |c| {
                let family = oauth::family_of(c, access.as_ref(), refresh.as_ref())?;
                if let Some(family) = &family {
                    oauth::revoke_family(c, family, now, keep)?;
                }
                Ok(family)
            })
            .await;
        match revoked {
            Ok(Some(family)) => {
                crate::revocation::family_revoked(&state, &family);
                tracing::info!("login revoked (RFC 7009)");
            }
            Ok(None) => {}
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A new access and refresh token for the login `family` of `account`, stored by their digests.
pub(crate) fn issue_pair(
    c: &mut dyn store::Sql,
    account: i64,
    family: &str,
    login_at: u64,
    now: u64,
    lifetimes: &crate::config::Lifetimes,
) -> store::StoreResult<TokenResponse> {
    let access = secret::generate(SecretKind::AccessToken);
    let refresh = secret::generate(SecretKind::RefreshToken);
    let access_hash = secret::digest(SecretKind::AccessToken, &access).expect("fresh");
    let refresh_hash = secret::digest(SecretKind::RefreshToken, &refresh).expect("fresh");
    oauth::insert_pair(
        c,
        &oauth::TokenPair {
            account,
            family,
            login_at,
            access_hash: &access_hash,
            access_expires_at: now + lifetimes.access_token.as_secs(),
            refresh_hash: &refresh_hash,
            refresh_expires_at: now + lifetimes.refresh_token.as_secs(),
        },
    )?;
    Ok(TokenResponse {
        access_token: access,
        refresh_token: refresh,
        token_type: "Bearer".into(),
        expires_in: lifetimes.access_token.as_secs(),
    })
}

fn token_response(tokens: TokenResponse) -> Response {
    let mut response = Json(tokens).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
