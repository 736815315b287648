//! Registration: `POST …/bridge` with a valid access token (refreshed first if it is about to
//! expire, or once more if the relay refuses it) and the trusted device token.

use tether_protocol::SessionId;
use tether_protocol::api::BridgeGrant;

use super::verdict::SESSION_GONE;
use crate::api::{Api, ApiError};
use crate::tokens::TokenSource;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegisterError {
    /// Try again after a backoff (the relay is unreachable or struggling).
    Retry(String),
    /// It will not work until the person does something (log in again, …).
    Fatal(String),
}

pub(crate) async fn register(
    api: Api,
    tokens: TokenSource,
    session: SessionId,
) -> Result<BridgeGrant, RegisterError> {
    let access = tokens.access_token().await.map_err(token_failure)?;
    let device = tokens.device_token();
    match api.bridge(&access, device.as_deref(), &session).await {
        Ok(grant) => return Ok(grant),
        Err(e) if e.status() == Some(401) => {
            tracing::debug!("the relay refused the access token; refreshing: {e}");
        }
        Err(e) => return Err(bridge_failure(e)),
    }
    // Expired or revoked early: refresh (unless another caller just did) and try once more. A
    // second 401 is not about the access token (the device was revoked, say).
    let access = tokens
        .refresh_rejected(&access)
        .await
        .map_err(token_failure)?;
    api.bridge(&access, device.as_deref(), &session)
        .await
        .map_err(bridge_failure)
}

/// A failed refresh: a refused refresh token means the login is over.
fn token_failure(err: ApiError) -> RegisterError {
    match err.status() {
        Some(400 | 401) => RegisterError::Fatal(format!(
            "The login has expired or was revoked ({}); run `tether login` again.",
            message(&err)
        )),
        _ => RegisterError::Retry(err.to_string()),
    }
}

fn bridge_failure(err: ApiError) -> RegisterError {
    match err.status() {
        Some(404) => RegisterError::Fatal(SESSION_GONE.to_owned()),
        Some(401 | 403) => RegisterError::Fatal(format!(
            "The relay refused to register this terminal: {}",
            message(&err)
        )),
        _ => RegisterError::Retry(err.to_string()),
    }
}

fn message(err: &ApiError) -> String {
    match err {
        ApiError::Status { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, message: &str) -> ApiError {
        ApiError::Status {
            status,
            kind: "k".into(),
            message: message.into(),
        }
    }

    #[test]
    fn refused_logins_and_devices_are_fatal_and_outages_are_not() {
        assert!(matches!(
            token_failure(status(400, "used")),
            RegisterError::Fatal(m) if m.contains("used") && m.contains("tether login")
        ));
        assert!(matches!(
            token_failure(ApiError::Network("down".into())),
            RegisterError::Retry(_)
        ));
        assert!(matches!(
            bridge_failure(status(401, "This device is not trusted")),
            RegisterError::Fatal(m) if m.contains("not trusted")
        ));
        assert_eq!(
            bridge_failure(status(404, "No such session.")),
            RegisterError::Fatal(SESSION_GONE.into())
        );
        for s in [429, 500, 503] {
            assert!(matches!(
                bridge_failure(status(s, "")),
                RegisterError::Retry(_)
            ));
        }
    }
}
