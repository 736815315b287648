//! `tether login`: the whole device authorization grant (RFC 8628), then trusted-device
//! enrolment, ending in the [`Credentials`] the CLI saves.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tether_protocol::api::{DeviceCode, TokenResponse};

use crate::api::{Api, ApiError, PollError};

/// What a login leaves behind: enough to register workers for months without asking again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The relay's base URL.
    pub server: String,
    /// Bearer token (`tthr_at_…`) for the relay's API, valid until `access_expires_at`.
    pub access_token: String,
    /// Rotates on every refresh; the previous one must never be presented again.
    pub refresh_token: String,
    /// Unix seconds.
    pub access_expires_at: u64,
    /// The trusted device. Optional because a relay may not require one (the relay embedded
    /// in `tether --remote`, or `--no-trusted-devices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Secret (`tthr_dt_…`) sent as `X-Trusted-Device-Token` when registering a worker; present
    /// exactly when `device_id` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

/// Tokens never reach logs through `{:?}`.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .field("access_token", &"…")
            .field("refresh_token", &"…")
            .field("access_expires_at", &self.access_expires_at)
            .field("device_id", &self.device_id)
            .field("device_token", &self.device_token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Credentials {
    /// Credentials from a token answer received at `now` (Unix seconds).
    pub fn from_tokens(server: &str, tokens: &TokenResponse, now: u64) -> Credentials {
        Credentials {
            server: server.to_owned(),
            access_token: tokens.access_token.clone(),
            refresh_token: tokens.refresh_token.clone(),
            access_expires_at: now.saturating_add(tokens.expires_in),
            device_id: None,
            device_token: None,
        }
    }

    /// The same login with freshly refreshed tokens.
    pub fn refreshed(&self, tokens: &TokenResponse, now: u64) -> Credentials {
        Credentials {
            access_token: tokens.access_token.clone(),
            refresh_token: tokens.refresh_token.clone(),
            access_expires_at: now.saturating_add(tokens.expires_in),
            ..self.clone()
        }
    }
}

/// Why `tether login` ended without credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// The person denied the login in the browser.
    #[error("the login was denied in the browser")]
    Denied,
    /// The device code expired (after 600 s) before anyone approved it.
    #[error("the login code expired before it was approved; run the login again")]
    Expired,
    /// The relay could not be reached or refused a step.
    #[error("the login failed: {0}")]
    Api(#[from] ApiError),
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What to do after one poll that did not yield tokens (RFC 8628 §3.5): wait this long and poll
/// again, or give up with an error. `interval` is the current polling interval; the answer's
/// first element is the new one.
fn after_poll(interval: Duration, outcome: PollError) -> Result<(Duration, Duration), LoginError> {
    const MAX_NETWORK_WAIT: Duration = Duration::from_secs(60);
    match outcome {
        PollError::Pending => Ok((interval, interval)),
        // "the interval MUST be increased by 5 seconds for this and all subsequent requests"
        PollError::SlowDown => {
            let slower = interval + Duration::from_secs(5);
            Ok((slower, slower))
        }
        PollError::Denied => Err(LoginError::Denied),
        PollError::Expired => Err(LoginError::Expired),
        // §3.5: on a connection problem, back off exponentially, but keep the interval.
        PollError::Other(ApiError::Network(_)) => {
            Ok((interval, (interval * 2).min(MAX_NETWORK_WAIT)))
        }
        PollError::Other(e) => Err(LoginError::Api(e)),
    }
}

/// Log in to the relay at `server`: get a device code, hand it to `on_code` (which shows the
/// URL and user code, and a QR code, to the person), poll until they approve it in a browser,
/// then enrol this machine as a trusted device called `display_name`.
///
/// Polling honours the relay's interval and slows down by 5 s on `slow_down`; a denied or
/// expired request ends with [`LoginError::Denied`] / [`LoginError::Expired`].
pub async fn login(
    server: &str,
    display_name: &str,
    mut on_code: impl FnMut(&DeviceCode),
) -> Result<Credentials, LoginError> {
    let api = Api::new(server)?;
    let code = api.device_code().await?;
    on_code(&code);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(code.expires_in);
    let mut interval = Duration::from_secs(code.interval.max(1));
    let mut wait = interval;
    let tokens = loop {
        if tokio::time::Instant::now() + wait >= deadline {
            return Err(LoginError::Expired);
        }
        tokio::time::sleep(wait).await;
        match api.poll_token(&code.device_code).await {
            Ok(tokens) => break tokens,
            Err(outcome) => {
                if outcome == PollError::SlowDown {
                    tracing::debug!("the relay asked to slow down polling");
                }
                (interval, wait) = after_poll(interval, outcome)?;
            }
        }
    };
    let mut credentials = Credentials::from_tokens(&api.base_url, &tokens, unix_now());
    // The relay enrols devices only right after a login, so this cannot wait for later.
    let device = api
        .enroll_device(&credentials.access_token, display_name)
        .await?;
    credentials.device_id = Some(device.device_id);
    credentials.device_token = Some(device.device_token);
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn pending_keeps_the_interval_and_slow_down_adds_five_seconds_for_good() {
        assert_eq!(after_poll(S(5), PollError::Pending), Ok((S(5), S(5))));
        assert_eq!(after_poll(S(5), PollError::SlowDown), Ok((S(10), S(10))));
        assert_eq!(after_poll(S(10), PollError::Pending), Ok((S(10), S(10))));
    }

    #[test]
    fn denied_and_expired_stop_polling() {
        assert_eq!(after_poll(S(5), PollError::Denied), Err(LoginError::Denied));
        assert_eq!(
            after_poll(S(5), PollError::Expired),
            Err(LoginError::Expired)
        );
        let refused = ApiError::Status {
            status: 400,
            kind: "invalid_grant".into(),
            message: "used".into(),
        };
        assert_eq!(
            after_poll(S(5), PollError::Other(refused.clone())),
            Err(LoginError::Api(refused))
        );
    }

    #[test]
    fn network_trouble_backs_off_without_changing_the_interval() {
        let down = PollError::Other(ApiError::Network("refused".into()));
        assert_eq!(after_poll(S(5), down.clone()), Ok((S(5), S(10))));
        assert_eq!(after_poll(S(40), down), Ok((S(40), S(60))));
    }

    #[test]
    fn credentials_debug_hides_tokens() {
        let c = Credentials {
            server: "http://relay".into(),
            access_token: "tthr_at_secret".into(),
            refresh_token: "tthr_rt_secret".into(),
            access_expires_at: 10,
            device_id: Some("dev_1".into()),
            device_token: Some("tthr_dt_secret".into()),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("dev_1"));
    }
}
