//! Request bodies with the relay's size limit: an oversized body is refused whole with `413`
//! before it is parsed, and a malformed one gets `400` with the parser's reason. A body that
//! trickles in gets `408` after `body_timeout`, so it cannot hold its connection for ever.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::Shared;

async fn limited_bytes(
    req: Request,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<axum::body::Bytes, ApiError> {
    let too_large =
        || ApiError::too_large(format!("The request body is larger than {limit} bytes."));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    tokio::time::timeout(timeout, axum::body::to_bytes(req.into_body(), limit))
        .await
        .map_err(|_| {
            ApiError::request_timeout(format!(
                "The request body did not arrive within {} s.",
                timeout.as_secs_f32()
            ))
        })?
        .map_err(|_| too_large())
}

/// A JSON body.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Shared> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let bytes = limited_bytes(
            req,
            state.config.limits.max_body,
            state.config.connections.body_timeout,
        )
        .await?;
        // An empty body reads as `{}`, so `POST …/bridge` with no body works as PROTOCOL's `{}`.
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map(Json)
            .map_err(|e| ApiError::bad_request(format!("The JSON body is not valid: {e}.")))
    }
}

/// A form-encoded body (HTML forms and the OAuth endpoints).
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Shared> for Form<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let bytes = limited_bytes(
            req,
            (64 * 1024).min(state.config.limits.max_body),
            state.config.connections.body_timeout,
        )
        .await?;
        serde_urlencoded::from_bytes(&bytes)
            .map(Form)
            .map_err(|e| ApiError::bad_request(format!("The form is not valid: {e}.")))
    }
}
