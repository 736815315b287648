//! The device authorization grant (RFC 8628), refresh (RFC 6749 §6) and revocation (RFC 7009).
//! Form-encoded, as the RFCs say; errors come back in OAuth form and are mapped by
//! [`super::parse_error`].

use tether_protocol::api::{DeviceCode, TokenResponse};

use super::{Api, ApiError, PollError};

/// The CLI's OAuth client id (docs/protocol.md).
pub const CLIENT_ID: &str = "tether-cli";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

impl Api {
    /// `POST /v1/oauth/device/code`: start a login.
    pub async fn device_code(&self) -> Result<DeviceCode, ApiError> {
        let request = self
            .http
            .post(self.url("/v1/oauth/device/code"))
            .form(&[("client_id", CLIENT_ID)]);
        self.call(request).await
    }

    /// `POST /v1/oauth/token` with the device code: one poll.
    pub async fn poll_token(&self, device_code: &str) -> Result<TokenResponse, PollError> {
        let request = self.http.post(self.url("/v1/oauth/token")).form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", CLIENT_ID),
        ]);
        self.call(request).await.map_err(PollError::from)
    }

    /// `POST /v1/oauth/token` with a refresh token. The answer carries a new refresh token and
    /// the old one is spent: presenting it again revokes the whole login (decisions.md).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, ApiError> {
        let request = self.http.post(self.url("/v1/oauth/token")).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
        ]);
        self.call(request).await
    }

    /// `POST /v1/oauth/revoke` (RFC 7009) with the refresh token: the relay ends the whole
    /// login, access and refresh tokens alike. A token the relay no longer knows is not an
    /// error (it answers `200` for those too).
    pub async fn revoke_login(&self, refresh_token: &str) -> Result<(), ApiError> {
        let request = self.http.post(self.url("/v1/oauth/revoke")).form(&[
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
            ("client_id", CLIENT_ID),
        ]);
        self.call_empty(request).await
    }
}
