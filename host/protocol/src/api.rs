//! The JSON bodies of the relay's HTTP API (PROTOCOL.md), shared by the relay, the bridge and the
//! tests so that both ends agree by construction.

use serde::{Deserialize, Serialize};

use crate::event::NewEvent;
use crate::session_id::SessionId;

/// The error body every non-OAuth endpoint answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// An OAuth error as RFC 6749 §5.2 and RFC 8628 §3.5 spell it (`authorization_pending`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// `POST /v1/oauth/device/code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// `POST /v1/oauth/token`, on success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EnrollDevice {
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEnrolled {
    pub device_id: String,
    pub device_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedDevice {
    pub device_id: String,
    pub display_name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateSession {
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCreated {
    pub id: SessionId,
    pub url: String,
    pub created_at: String,
}

/// The state a worker reports with `PUT …/worker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    Idle,
    Running,
    RequiresAction,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Idle => "idle",
            WorkerState::Running => "running",
            WorkerState::RequiresAction => "requires_action",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "idle" => Some(WorkerState::Idle),
            "running" => Some(WorkerState::Running),
            "requires_action" => Some(WorkerState::RequiresAction),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub id: SessionId,
    pub title: String,
    pub state: WorkerState,
    pub worker_online: bool,
    pub url: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PatchSession {
    #[serde(default)]
    pub title: Option<String>,
}

/// `POST …/bridge`: the worker's registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeGrant {
    pub worker_jwt: String,
    pub expires_in: u64,
    pub worker_epoch: u64,
    pub api_base_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerEvents {
    pub worker_epoch: u64,
    pub events: Vec<NewEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientEvents {
    pub events: Vec<NewEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutWorkerState {
    pub worker_epoch: u64,
    pub state: WorkerState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub worker_epoch: u64,
}

/// The answer to a publish: the sequence number each event got, in the order sent. A retried
/// event gets the number it got the first time, so a publisher can tell nothing was doubled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub events: Vec<PublishedEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedEvent {
    pub id: String,
    pub seq: u64,
    /// True when the id had been published before and this copy was dropped.
    #[serde(default)]
    pub duplicate: bool,
}

/// A frame a peer sends over the WebSocket: the body it would have POSTed. `worker_epoch` is
/// required from workers and ignored from clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocketWrite {
    #[serde(default)]
    pub worker_epoch: Option<u64>,
    pub events: Vec<NewEvent>,
}

/// What the relay sends over a WebSocket besides events, told apart by the top-level key:
/// `{"ack": …}` answers a write, `{"error": …}` refuses one (the socket stays open unless the
/// error is fatal, such as a stale epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SocketReply {
    Ack { ack: Published },
    Error { error: ErrorDetail },
}
