//! Who is asking: request extractors that apply the credential rules. Handlers take a
//! `Principal` (an account acting as a client) or a `Worker` (a worker JWT) and never look at
//! headers themselves.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use super::client_addr::{self, Forwarding};
use super::jwt::{self, JwtError, WorkerClaims};
use super::origin;
use super::remembered::Access;
use super::secret::{self, SecretKind};
use crate::error::{ApiError, ApiResult};
use crate::revocation::Login;
use crate::state::Shared;
use crate::store::{self, logins, oauth};

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A browser login cookie (which passed the Origin check); `login` is the stored hash that
    /// names that login.
    Cookie {
        /// The login's stored hash.
        login: [u8; 32],
    },
    /// An OAuth access token; `login_at` is when the device login that produced it was
    /// approved, `family` names that login (every token it issued).
    Bearer {
        /// When the device login was approved (Unix seconds).
        login_at: u64,
        /// The login (token family).
        family: uuid::Uuid,
    },
}

/// The client's address, for throttles and logs: the socket's peer, or what a trusted proxy
/// says (see [`client_addr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<Shared> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| ApiError::internal("the server was started without peer addresses"))?;
        let trusted = &state.config.trusted_proxies;
        if trusted.is_empty() {
            return Ok(ClientAddr(peer));
        }
        // A value that is not text is kept as an unreadable hop rather than dropped, so that it
        // cannot make a header look absent.
        let all = |name| -> Vec<&str> {
            parts
                .headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap_or("\u{fffd}"))
                .collect()
        };
        let (xff, forwarded) = (all("x-forwarded-for"), all("forwarded"));
        let headers = Forwarding {
            x_forwarded_for: &xff,
            forwarded: &forwarded,
        };
        Ok(ClientAddr(client_addr::client_address(
            peer, trusted, headers,
        )))
    }
}

/// An account acting as a client (a browser, a phone, the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The account.
    pub account: i64,
    /// Which credential it came with.
    pub via: Via,
}

impl Principal {
    /// The login the credential belongs to, whose revocation ends what it opened.
    pub fn login(&self) -> Login {
        match self.via {
            Via::Cookie { login } => Login::Browser(login),
            Via::Bearer { family, .. } => Login::Family(family),
        }
    }
}

/// The token of `Authorization: Bearer`, if the header is there; malformed, it is refused.
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

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    cookie_in(&parts.headers, name)
}

/// The value of cookie `name` among a request's `Cookie` headers.
pub fn cookie_in<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
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
        cookie(parts, &state.cookie_name).and_then(|c| secret::digest(SecretKind::BrowserLogin, c))
    else {
        return Ok(None);
    };
    let now = store::now();
    Ok(state
        .store
        .read(move |c| logins::account(c, &hash, now))
        .await?)
}

/// What the access token hashed to `hash` stands for, if it is live: from what the database
/// said within the last second, unless its login has been revoked since (then the database
/// decides again), else from the database.
async fn access(state: &Shared, hash: [u8; 32]) -> ApiResult<Option<Access>> {
    let now = store::now();
    let remembered = &state.remembered.access;
    if let Some(access) = remembered.get(&hash, Instant::now())
        && access.expires_at > now
        && !state
            .hub
            .revocations
            .is_revoked(&Login::Family(access.family))
    {
        return Ok(Some(access));
    }
    let read = Instant::now();
    let Some(row) = state
        .store
        .read(move |c| oauth::access_token(c, &hash, now))
        .await?
    else {
        return Ok(None);
    };
    // Families are UUIDs the relay wrote; anything else is a damaged row.
    let family = uuid::Uuid::parse_str(&row.family)
        .map_err(|_| ApiError::internal("an access token's family is not a UUID"))?;
    let access = Access {
        account: row.account,
        login_at: row.login_at,
        family,
        expires_at: row.expires_at,
    };
    remembered.put(hash, access, read);
    Ok(Some(access))
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
            let access = access(state, hash).await?.ok_or_else(expired)?;
            return Ok(Principal {
                account: access.account,
                via: Via::Bearer {
                    login_at: access.login_at,
                    family: access.family,
                },
            });
        }
        if let Some(value) = cookie(parts, &state.cookie_name) {
            check_origin(parts, state)?;
            if let Some(login) = secret::digest(SecretKind::BrowserLogin, value) {
                let now = store::now();
                let found = state
                    .store
                    .read(move |c| logins::account(c, &login, now))
                    .await?;
                if let Some(account) = found {
                    return Ok(Principal {
                        account,
                        via: Via::Cookie { login },
                    });
                }
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
            // In memory: this runs for every worker request, and revocations are rare.
            Ok(claims) if state.hub.revocations.is_revoked(&Login::Family(claims.fam)) => {
                Err(ApiError::unauthorized(
                    "The login this worker token was issued from has been revoked; run `tether login` again.",
                ))
            }
            Ok(claims) => Ok(Worker(claims)),
            Err(JwtError::Unbound) => Err(ApiError::unauthorized(
                "The worker token is from an older relay and names no login; call …/bridge again.",
            )),
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
