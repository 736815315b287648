//! What the CLI does over HTTP: the device login, trusted devices, sessions and the `/bridge`
//! grant a worker starts with.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tether_protocol::api::{
    BridgeGrant, DeviceCode, DeviceEnrolled, SessionCreated, TokenResponse,
};

use super::relay::TestRelay;

/// A user logged in on the CLI with a trusted device, owning one session with a registered
/// worker: what most stream tests start from.
pub struct Setup {
    /// The CLI's access token.
    pub access: String,
    /// The CLI's refresh token.
    pub refresh: String,
    /// The trusted device's token.
    pub device: String,
    /// The session's id.
    pub session: String,
    /// The worker's grant for the session.
    pub grant: BridgeGrant,
}

impl TestRelay {
    /// `POST /v1/oauth/device/code`, which must be granted.
    pub async fn device_code(&self) -> DeviceCode {
        let response = self
            .post("/v1/oauth/device/code")
            .form(&[("client_id", "tether-cli")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// One poll of the token endpoint: `Ok(tokens)` or `Err((status, error code))`.
    pub async fn poll_token(
        &self,
        device_code: &str,
    ) -> Result<TokenResponse, (StatusCode, String)> {
        let response = self
            .post("/v1/oauth/token")
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code),
                ("client_id", "tether-cli"),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status == StatusCode::OK {
            Ok(serde_json::from_value(body).unwrap())
        } else {
            Err((
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            ))
        }
    }

    /// `POST /v1/oauth/token` as the CLI refreshing with `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post("/v1/oauth/token")
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", "tether-cli"),
            ])
            .send()
            .await
            .unwrap()
    }

    /// The whole CLI login: device code, browser login, approval, token.
    pub async fn cli_login(&self, name: &str) -> TokenResponse {
        let code = self.device_code().await;
        let cookie = self.browser_login(name).await;
        self.decide(&cookie, &code.user_code, "approve").await;
        self.poll_token(&code.device_code).await.unwrap()
    }

    /// Enroll this machine as a trusted device of `access`'s account.
    pub async fn enroll(&self, access: &str) -> DeviceEnrolled {
        let response = self
            .post("/v1/auth/trusted_devices")
            .bearer_auth(access)
            .json(&json!({"display_name": "test machine"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// A new session titled `test`.
    pub async fn create_session(&self, access: &str) -> SessionCreated {
        let response = self
            .post("/v1/code/sessions")
            .bearer_auth(access)
            .json(&json!({"title": "test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// `POST …/bridge`: register a worker for `session` from the trusted device.
    pub async fn bridge(&self, access: &str, device_token: &str, session: &str) -> BridgeGrant {
        let response = self
            .post(&format!("/v1/code/sessions/{session}/bridge"))
            .bearer_auth(access)
            .header("x-trusted-device-token", device_token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// A new account `name`, logged in on the CLI with a trusted device, owning one session
    /// with a registered worker.
    pub async fn setup(&self, name: &str) -> Setup {
        self.add_user(name);
        let tokens = self.cli_login(name).await;
        let device = self.enroll(&tokens.access_token).await;
        let session = self.create_session(&tokens.access_token).await;
        let grant = self
            .bridge(
                &tokens.access_token,
                &device.device_token,
                session.id.as_str(),
            )
            .await;
        Setup {
            access: tokens.access_token,
            refresh: tokens.refresh_token,
            device: device.device_token,
            session: session.id.to_string(),
            grant,
        }
    }
}
