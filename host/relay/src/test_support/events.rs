//! Publishing events, as a client and as a worker.

use serde_json::{Value, json};
use tether_protocol::NewEvent;
use tether_protocol::api::BridgeGrant;

use super::relay::TestRelay;

/// A new event of `kind` (with a fresh id).
pub fn event(kind: &str, payload: Value) -> NewEvent {
    NewEvent::new(kind, payload)
}

/// What a phone says.
pub fn user_message(text: &str) -> NewEvent {
    event("user_message", json!({"text": text, "origin": "client"}))
}

impl TestRelay {
    /// `POST …/events` as a client with the bearer `access`, whatever the answer.
    pub async fn publish_client(
        &self,
        access: &str,
        session: &str,
        events: &[NewEvent],
    ) -> reqwest::Response {
        self.post(&format!("/v1/code/sessions/{session}/events"))
            .bearer_auth(access)
            .json(&json!({ "events": events }))
            .send()
            .await
            .unwrap()
    }

    /// `POST …/worker/events` as the worker of `grant`, whatever the answer.
    pub async fn publish_worker(
        &self,
        grant: &BridgeGrant,
        session: &str,
        events: &[NewEvent],
    ) -> reqwest::Response {
        self.post(&format!("/v1/code/sessions/{session}/worker/events"))
            .bearer_auth(&grant.worker_jwt)
            .json(&json!({ "worker_epoch": grant.worker_epoch, "events": events }))
            .send()
            .await
            .unwrap()
    }
}
