//! Sessions, and `/bridge`: the worker's registration.

use tether_protocol::SessionId;
use tether_protocol::api::{BridgeGrant, CreateSession, SessionCreated, SessionSummary};

use super::{Api, ApiError, session_path};

/// The header that carries the trusted device token to `/bridge`.
pub const DEVICE_HEADER: &str = "x-trusted-device-token";

impl Api {
    /// `POST /v1/code/sessions`.
    pub async fn create_session(
        &self,
        access: &str,
        title: Option<&str>,
    ) -> Result<SessionCreated, ApiError> {
        let request = self
            .http
            .post(self.url("/v1/code/sessions"))
            .bearer_auth(access)
            .json(&CreateSession {
                title: title.map(str::to_owned),
            });
        self.call(request).await
    }

    /// `GET /v1/code/sessions/{id}`.
    pub async fn get_session(
        &self,
        access: &str,
        session: &SessionId,
    ) -> Result<SessionSummary, ApiError> {
        let request = self
            .http
            .get(self.url(&session_path(session, "")))
            .bearer_auth(access);
        self.call(request).await
    }

    /// `POST /v1/code/sessions/{id}/bridge`: register as the session's worker. Every call bumps
    /// the epoch, which makes every earlier worker token stale — including our own.
    pub async fn bridge(
        &self,
        access: &str,
        device_token: Option<&str>,
        session: &SessionId,
    ) -> Result<BridgeGrant, ApiError> {
        let mut request = self
            .http
            .post(self.url(&session_path(session, "/bridge")))
            .bearer_auth(access)
            .json(&serde_json::json!({}));
        if let Some(token) = device_token {
            request = request.header(DEVICE_HEADER, token);
        }
        self.call(request).await
    }
}
