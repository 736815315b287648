//! Who is asking: request extractors that apply the credential rules. Handlers take a
//! `Principal` (an account acting as a client) or a `Worker` (a worker JWT) and never look at
//! headers themselves.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};

use super::jwt::{self, JwtError, WorkerClaims};
use super::origin;
use super::secret::{self, SecretKind};
use crate::error::ApiError;
use crate::state::Shared;
use crate::store::{self, logins, oauth};

pub const COOKIE: &str = "tether_login";

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A browser login cookie (which passed the Origin check).
    Cookie,
    /// An OAuth access token; `login_at` is when the device login that produced it was approved.
    Bearer { login_at: u64 },
}

/// An account acting as a client (a browser, a phone, the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub account: i64,
    pub via: Via,
}

pub fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("The Authorization header is not valid text."))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::unauthorized(
            "Use `Authorization: Bearer <token>`.",
        )),
    }
}

pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn is_websocket_upgrade(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The Origin rule for a request authenticated by cookie.
pub fn check_origin(parts: &Parts, state: &Shared) -> Result<(), ApiError> {
    let unsafe_request =
        !matches!(parts.method, Method::GET | Method::HEAD) || is_websocket_upgrade(parts);
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    origin::check(&state.allowed_origins, origin, unsafe_request)
        .map_err(|refusal| ApiError::forbidden(format!("Origin check failed: {refusal}.")))
}

/// The account behind the login cookie, if any (for pages, which redirect instead of failing).
pub async fn browser_account(parts: &Parts, state: &Shared) -> Result<Option<i64>, ApiError> {
    let Some(hash) =
        cookie(parts, COOKIE).and_then(|c| secret::digest(SecretKind::BrowserLogin, c))
    else {
        return Ok(None);
    };
    let now = store::now();
    Ok(state
        .store
        .read(move |c| logins::account(c, &hash, now))
        .await?)
}

impl FromRequestParts<Shared> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer(parts)? {
            if jwt::looks_like_jwt(token) {
                return Err(ApiError::forbidden(
                    "A worker token cannot act as a client; use an account's access token.",
                ));
            }
            let expired = || {
                ApiError::unauthorized(
                    "The access token is unknown or expired; refresh it or log in again.",
                )
            };
            let hash = secret::digest(SecretKind::AccessToken, token).ok_or_else(expired)?;
            let now = store::now();
            let found = state
                .store
                .read(move |c| oauth::access_token(c, &hash, now))
                .await?;
            let (account, login_at) = found.ok_or_else(expired)?;
            return Ok(Principal {
                account,
                via: Via::Bearer { login_at },
            });
        }
        if cookie(parts, COOKIE).is_some() {
            check_origin(parts, state)?;
            if let Some(account) = browser_account(parts, state).await? {
                return Ok(Principal {
                    account,
                    via: Via::Cookie,
                });
            }
            return Err(ApiError::unauthorized(
                "Your login has expired; log in again.",
            ));
        }
        Err(ApiError::unauthorized(
            "Log in first: an access token (`tether login`) or a browser login is required.",
        ))
    }
}

/// A worker, proved by a worker JWT from `/bridge`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker(pub WorkerClaims);

impl FromRequestParts<Shared> for Worker {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.ok_or_else(|| {
            ApiError::unauthorized("Worker endpoints need the worker token from POST …/bridge.")
        })?;
        match jwt::verify(&state.jwt_key, token, store::now()) {
            Ok(claims) => Ok(Worker(claims)),
            Err(JwtError::Role) => Err(ApiError::forbidden("This token is not a worker token.")),
            Err(JwtError::Expired) => Err(ApiError::unauthorized(
                "The worker token has expired; call …/bridge again.",
            )),
            Err(e) => Err(ApiError::unauthorized(format!(
                "The worker token was refused: {e}."
            ))),
        }
    }
}
