//! Trusted devices: enrolled right after a login, listed and revoked by their owner.

use tether_protocol::api::{DeviceEnrolled, EnrollDevice, TrustedDevice};

use super::{Api, ApiError};

impl Api {
    /// `POST /v1/auth/trusted_devices`. Only works within minutes of a device login.
    pub async fn enroll_device(
        &self,
        access: &str,
        display_name: &str,
    ) -> Result<DeviceEnrolled, ApiError> {
        let request = self
            .http
            .post(self.url("/v1/auth/trusted_devices"))
            .bearer_auth(access)
            .json(&EnrollDevice {
                display_name: display_name.to_owned(),
            });
        self.call(request).await
    }

    /// `GET /v1/auth/trusted_devices`.
    pub async fn list_devices(&self, access: &str) -> Result<Vec<TrustedDevice>, ApiError> {
        let request = self
            .http
            .get(self.url("/v1/auth/trusted_devices"))
            .bearer_auth(access);
        self.call(request).await
    }

    /// `DELETE /v1/auth/trusted_devices/{device_id}`.
    pub async fn revoke_device(&self, access: &str, device_id: &str) -> Result<(), ApiError> {
        let request = self
            .http
            .delete(self.url(&format!("/v1/auth/trusted_devices/{device_id}")))
            .bearer_auth(access);
        self.call_empty(request).await
    }
}
