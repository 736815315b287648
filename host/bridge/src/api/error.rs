//! What can go wrong talking to the relay, told apart the way callers must act on it: the relay
//! could not be reached (retry later), it answered with an error (read `status` and `kind`), or
//! it answered something we cannot read (a version mismatch or a proxy in the way).

use tether_protocol::api::{ErrorBody, OAuthError};

/// A failed call to the relay, sorted by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No answer: connection refused or reset, DNS, TLS, timeout. Worth retrying.
    #[error("cannot reach the relay: {0}")]
    Network(String),
    /// The relay answered with an error. `kind` is the body's `error.type` (or the OAuth
    /// `error` code such as `invalid_grant`); `message` is meant for people.
    #[error("the relay refused ({status} {kind}): {message}")]
    Status {
        /// The HTTP status (`401`, `409`, …).
        status: u16,
        /// The error's `type` (`stale_epoch`, …) or OAuth `error` code: what code branches on.
        kind: String,
        /// The relay's explanation, for people; its wording may change.
        message: String,
    },
    /// A success status with a body that is not what docs/protocol.md promises.
    #[error("unexpected answer from the relay: {0}")]
    Decode(String),
}

impl ApiError {
    /// The HTTP status, when the relay answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error type (`stale_epoch`, `unauthorized`, `invalid_grant`, …), when the relay answered.
    pub fn kind(&self) -> Option<&str> {
        match self {
            ApiError::Status { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// A request that got no answer. The URL is left out: it is long (it names the session)
    /// and the caller knows which relay it called.
    pub(crate) fn network(err: reqwest::Error) -> ApiError {
        ApiError::Network(chain(&err.without_url()))
    }
}

/// An error and its causes on one line: reqwest's own message ("error sending request") says
/// little without them ("connection refused").
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// The error a relay answer with `status` and `body` stands for. Pure, so every shape is tested:
/// `{error: {type, message}}` from the API, `{error, error_description}` from the OAuth
/// endpoints, and anything else (a proxy's HTML page) as the status alone.
pub fn parse_error(status: u16, body: &[u8]) -> ApiError {
    if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
        return ApiError::Status {
            status,
            kind: error.kind,
            message: error.message,
        };
    }
    if let Ok(OAuthError {
        error,
        error_description,
    }) = serde_json::from_slice::<OAuthError>(body)
    {
        return ApiError::Status {
            status,
            message: error_description.unwrap_or_else(|| error.clone()),
            kind: error,
        };
    }
    let text = String::from_utf8_lossy(body);
    let snippet: String = text.trim().chars().take(200).collect();
    ApiError::Status {
        status,
        kind: kind_for_status(status).to_owned(),
        message: if snippet.is_empty() {
            format!("HTTP {status}")
        } else {
            snippet
        },
    }
}

/// The error type the relay uses for `status`, for answers that carry none (and for WebSocket
/// error frames, which carry a type but no status: see [`status_for_kind`]).
fn kind_for_status(status: u16) -> &'static str {
    match status {
        400 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        409 => "stale_epoch",
        413 => "too_large",
        429 => "rate_limited",
        _ => "http_error",
    }
}

/// The HTTP status the relay would have used for an error `kind`. A WebSocket `{"error"}` frame
/// has only the type; mapping it back lets one rule classify socket and HTTP failures alike.
pub(crate) fn status_for_kind(kind: &str) -> u16 {
    match kind {
        "invalid_request" => 400,
        "unauthorized" => 401,
        "forbidden" => 403,
        "not_found" => 404,
        "stale_epoch" => 409,
        "too_large" => 413,
        "rate_limited" => 429,
        _ => 500,
    }
}

/// One poll of the token endpoint that did not yield tokens (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// `authorization_pending`: keep polling at the same interval.
    #[error("the login has not been approved yet")]
    Pending,
    /// `slow_down`: keep polling, 5 seconds slower from now on.
    #[error("polling too fast; slowing down")]
    SlowDown,
    /// `access_denied`: the person said no.
    #[error("the login was denied in the browser")]
    Denied,
    /// `expired_token`: the code is dead; start again.
    #[error("the login request expired before it was approved")]
    Expired,
    /// Any other failure: an unexpected OAuth error, a refused status or a network problem.
    #[error(transparent)]
    Other(ApiError),
}

impl From<ApiError> for PollError {
    fn from(err: ApiError) -> Self {
        match err.kind() {
            Some("authorization_pending") => PollError::Pending,
            Some("slow_down") => PollError::SlowDown,
            Some("access_denied") => PollError::Denied,
            Some("expired_token") => PollError::Expired,
            _ => PollError::Other(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, kind: &str, message: &str) -> ApiError {
        ApiError::Status {
            status,
            kind: kind.into(),
            message: message.into(),
        }
    }

    #[test]
    fn api_error_bodies_keep_their_type_and_message() {
        let body = br#"{"error":{"type":"stale_epoch","message":"Another worker registered."}}"#;
        assert_eq!(
            parse_error(409, body),
            status(409, "stale_epoch", "Another worker registered.")
        );
    }

    #[test]
    fn oauth_error_bodies_use_the_code_as_kind() {
        let body = br#"{"error":"slow_down","error_description":"Polling too fast."}"#;
        assert_eq!(
            parse_error(400, body),
            status(400, "slow_down", "Polling too fast.")
        );
        assert_eq!(
            parse_error(400, br#"{"error":"invalid_grant"}"#),
            status(400, "invalid_grant", "invalid_grant")
        );
    }

    #[test]
    fn anything_else_is_its_status() {
        assert_eq!(
            parse_error(502, b"<html>Bad Gateway</html>"),
            status(502, "http_error", "<html>Bad Gateway</html>")
        );
        assert_eq!(
            parse_error(401, b""),
            status(401, "unauthorized", "HTTP 401")
        );
        let long = "x".repeat(1000);
        let ApiError::Status { message, .. } = parse_error(500, long.as_bytes()) else {
            panic!()
        };
        assert_eq!(message.len(), 200);
    }

    #[test]
    fn socket_error_types_map_back_to_statuses() {
        for code in [400, 401, 403, 404, 409, 413, 429] {
            assert_eq!(status_for_kind(kind_for_status(code)), code);
        }
        assert_eq!(status_for_kind("internal"), 500);
    }

    #[test]
    fn token_poll_errors_follow_rfc_8628() {
        let poll = |kind: &str| PollError::from(status(400, kind, ""));
        assert_eq!(poll("authorization_pending"), PollError::Pending);
        assert_eq!(poll("slow_down"), PollError::SlowDown);
        assert_eq!(poll("access_denied"), PollError::Denied);
        assert_eq!(poll("expired_token"), PollError::Expired);
        assert!(matches!(poll("invalid_grant"), PollError::Other(_)));
        assert!(matches!(
            PollError::from(ApiError::Network("refused".into())),
            PollError::Other(ApiError::Network(_))
        ));
    }
}
