//! The relay's error answers: `{error: {type, message}}` with the status docs/protocol.md lists.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tether_protocol::api::{ErrorBody, ErrorDetail};

/// An error as the API answers it: a status and docs/protocol.md's `{"error": …}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body's `type`, for programs.
    pub kind: &'static str,
    /// The body's `message`, for people.
    pub message: String,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }
    /// `400`: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
    /// `401`: no valid credential.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// `403`: a valid credential that may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// Also the answer for another account's session, so its existence is not revealed.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such session.")
    }
    /// `409`: a newer worker registered; `current` is its epoch.
    pub fn stale_epoch(current: u64) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "stale_epoch",
            format!(
                "Another worker registered for this session (epoch {current}); this one must stop."
            ),
        )
    }
    /// `413`: over a size or count limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
    /// `409`: the request conflicts with what is there (a limit of things kept).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// Too many streams open at once; the client may retry once one has closed.
    pub fn too_many_streams(message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(5),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_streams", message)
        }
    }
    /// `408`: the body did not arrive in time.
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", message)
    }
    /// `503`: the relay cannot serve now (its database does not answer); retry shortly, or
    /// elsewhere.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }
    /// `500`: the relay's own failure, logged; the caller learns nothing of it.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The relay hit an internal error; it has been logged.",
        )
    }

    /// The `error` object of the body (also sent on WebSockets).
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            kind: self.kind.to_owned(),
            message: self.message.clone(),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    /// A database that is down is the client's to wait out (`503`, retry in a second; with
    /// several nodes, the load balancer's to route around); anything else is the relay's own
    /// failure. Either way the cause is logged, not told.
    fn from(err: crate::store::StoreError) -> Self {
        if err.is_unavailable() {
            tracing::warn!("database unavailable: {err}");
            ApiError::unavailable("The relay's database does not answer; try again shortly.")
        } else if matches!(err, crate::store::StoreError::Gone(_)) {
            ApiError::not_found()
        } else {
            ApiError::internal(err)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.detail(),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
