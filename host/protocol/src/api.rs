//! The JSON bodies of the relay's HTTP API (docs/protocol.md), shared by the relay, the bridge and the
//! tests so that both ends agree by construction.

use serde::{Deserialize, Serialize};

use crate::event::NewEvent;
use crate::session_id::SessionId;

/// The error body every non-OAuth endpoint answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong: a machine-readable `type` and a message for people.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`], also sent alone over a WebSocket to refuse a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The error's `type` on the wire (`stale_epoch`, `not_found`, …): what code branches on.
    #[serde(rename = "type")]
    pub kind: String,
    /// English text for people; its wording may change, so code must not match on it.
    pub message: String,
}

/// An OAuth error as RFC 6749 §5.2 and RFC 8628 §3.5 spell it (`authorization_pending`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    /// The `error` field: the RFC's error code, such as `authorization_pending` or `invalid_grant`.
    pub error: String,
    /// Optional `error_description`: a human-readable explanation, left out when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// `POST /v1/oauth/device/code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCode {
    /// Secret the CLI polls `POST /v1/oauth/token` with; unlike `user_code`, never shown.
    pub device_code: String,
    /// Short code the person types at `verification_uri`: `XXXX-XXXX` of consonants.
    pub user_code: String,
    /// Page where the person approves the login (`<public-url>/device`).
    pub verification_uri: String,
    /// `verification_uri` with `user_code` already filled in, for a link or QR code.
    pub verification_uri_complete: String,
    /// Seconds until the device code expires (600).
    pub expires_in: u64,
    /// Minimum seconds between two polls of the token endpoint (5, raised by `slow_down`).
    pub interval: u64,
}

/// `POST /v1/oauth/token`, on success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// Bearer token (`tthr_at_…`) for the API, valid for `expires_in` seconds.
    pub access_token: String,
    /// Single-use token (`tthr_rt_…`) for the next pair; presented twice, it revokes the login.
    pub refresh_token: String,
    /// Always `"Bearer"`.
    pub token_type: String,
    /// Seconds until `access_token` expires (3600).
    pub expires_in: u64,
}

/// `POST /v1/auth/trusted_devices`: enrols this machine as a trusted device, right after a login.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EnrollDevice {
    /// Name the device is listed under: 1 to 100 printable characters.
    pub display_name: String,
}

/// The answer to [`EnrollDevice`] (`201`): the device's id and the only copy of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEnrolled {
    /// Public id, `dev_<32 hex>`, used to list and revoke the device.
    pub device_id: String,
    /// Secret (`tthr_dt_…`) the bridge sends as `X-Trusted-Device-Token` on `POST …/bridge`.
    pub device_token: String,
}

/// One entry of `GET /v1/auth/trusted_devices`: a live device of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedDevice {
    /// Public id, `dev_<32 hex>`; `DELETE /v1/auth/trusted_devices/{device_id}` revokes it.
    pub device_id: String,
    /// Name given at enrolment.
    pub display_name: String,
    /// When the device was enrolled, RFC 3339 (seconds, UTC).
    pub created_at: String,
    /// When its token last registered a worker, RFC 3339; `null` if never.
    pub last_used_at: Option<String>,
    /// When the token stops working unless used again (90 days rolling), RFC 3339.
    pub expires_at: String,
}

/// `POST /v1/code/sessions`: creates a session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateSession {
    /// Title to show; trimmed, and `"New session"` when absent or empty. At most 200 characters.
    #[serde(default)]
    pub title: Option<String>,
}

/// The answer to [`CreateSession`] (`201`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCreated {
    /// The new session's id.
    pub id: SessionId,
    /// Where the web client follows it: `<public-url>/code/<id>`.
    pub url: String,
    /// When it was created, RFC 3339 (seconds, UTC).
    pub created_at: String,
}

/// The state a worker reports with `PUT …/worker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// No turn running: waiting for input.
    Idle,
    /// A turn is running.
    Running,
    /// A permission prompt is open and waits for an answer.
    RequiresAction,
}

impl WorkerState {
    /// The wire spelling (`idle`, `running`, `requires_action`), as stored by the relay.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Idle => "idle",
            WorkerState::Running => "running",
            WorkerState::RequiresAction => "requires_action",
        }
    }

    /// Reads the wire spelling back; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "idle" => Some(WorkerState::Idle),
            "running" => Some(WorkerState::Running),
            "requires_action" => Some(WorkerState::RequiresAction),
            _ => None,
        }
    }
}

/// A session as `GET /v1/code/sessions` lists it and `GET`/`PATCH …/{id}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// The session's id.
    pub id: SessionId,
    /// Its title, as shown in lists.
    pub title: String,
    /// The state its worker last reported with `PUT …/worker` (`idle` when new).
    pub state: WorkerState,
    /// Whether a worker is connected now (the presence of `worker_status`).
    pub worker_online: bool,
    /// Where the web client follows it: `<public-url>/code/<id>`.
    pub url: String,
    /// When it was created, RFC 3339 (seconds, UTC).
    pub created_at: String,
    /// When its title, state or worker registration last changed, RFC 3339; lists are sorted
    /// newest first by it.
    pub updated_at: String,
}

/// `PATCH /v1/code/sessions/{id}`: renames a session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PatchSession {
    /// New title; absent leaves it, empty is refused `400`.
    #[serde(default)]
    pub title: Option<String>,
}

/// `POST …/bridge`: the worker's registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeGrant {
    /// HS256 JWT the worker sends as `Authorization: Bearer` on the worker endpoints.
    pub worker_jwt: String,
    /// Seconds until `worker_jwt` expires (900); the bridge renews before then.
    pub expires_in: u64,
    /// The session's epoch after this registration; every body the worker sends repeats it.
    pub worker_epoch: u64,
    /// The relay's public URL (informational: the bridge keeps the URL it was configured with).
    pub api_base_url: String,
}

/// `POST …/worker/events`: a worker's batch of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerEvents {
    /// The epoch of the worker's JWT; any other is refused `409 stale_epoch`.
    pub worker_epoch: u64,
    /// The events to store, in order: at most 256, each at most 256 KiB serialised.
    pub events: Vec<NewEvent>,
}

/// `POST …/events`: a client's batch of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientEvents {
    /// The events to store, in order: at most 256, each at most 256 KiB serialised.
    pub events: Vec<NewEvent>,
}

/// `PUT …/worker`: the worker reports the session's state, which the relay also publishes as
/// `session_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutWorkerState {
    /// The epoch of the worker's JWT; any other is refused `409 stale_epoch`.
    pub worker_epoch: u64,
    /// What the session is doing now.
    pub state: WorkerState,
    /// Optional context, forwarded as is: `{request_id, tool_name}` while `requires_action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// `POST …/worker/heartbeat`: keeps the worker marked online while it has nothing to say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The epoch of the worker's JWT; any other is refused `409 stale_epoch`.
    pub worker_epoch: u64,
    /// The worker's last word: it stops on purpose (the terminal quit), so when it goes
    /// offline nobody is called (docs/protocol.md 5.10).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaving: bool,
}

/// The answer to a publish: the sequence number each event got, in the order sent. A retried
/// event gets the number it got the first time, so a publisher can tell nothing was doubled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// One entry per event sent, in the order sent.
    pub events: Vec<PublishedEvent>,
}

/// The outcome for one published event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedEvent {
    /// The event's id in canonical form (lower-case hyphenated UUID).
    pub id: String,
    /// The sequence number the event has in the session's log.
    pub seq: u64,
    /// True when the id had been published before and this copy was dropped.
    #[serde(default)]
    pub duplicate: bool,
}

/// A frame a peer sends over the WebSocket: the body it would have POSTed. `worker_epoch` is
/// required from workers and ignored from clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocketWrite {
    /// The worker's epoch; required from workers, ignored from clients.
    #[serde(default)]
    pub worker_epoch: Option<u64>,
    /// The events to store, as in a POST: at most 256, each at most 256 KiB serialised.
    pub events: Vec<NewEvent>,
    /// Whether a stored write is answered `{"ack"}`. A writer that learns its events were stored
    /// some other way (a client sees them come back on its own stream) sends `false` and spares
    /// the relay a frame; a refusal is answered either way. Absent means asked, as every write
    /// was before the field existed.
    #[serde(default = "asked", skip_serializing_if = "is_asked")]
    pub ack: bool,
}

fn asked() -> bool {
    true
}

fn is_asked(ack: &bool) -> bool {
    *ack
}

/// The longest event id an error reply names: a canonical UUID is 36 bytes, and a longer id is
/// refused anyway; the cap keeps a hostile frame from having its ids echoed back at length.
pub const MAX_NAMED_ID: usize = 64;

/// What the relay sends over a WebSocket besides events, told apart by the top-level key:
/// `{"ack": …}` answers a write, `{"error": …}` refuses one (the socket stays open unless the
/// error is fatal, such as a stale epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SocketReply {
    /// `{"ack": …}`: the write was accepted.
    Ack {
        /// What a POST of the same write would have answered.
        ack: Published,
    },
    /// `{"error": …}`: the write was refused.
    Error {
        /// Why, as the `error` of an HTTP error body.
        error: ErrorDetail,
        /// The refused write's event ids as it sent them (each of at most
        /// [`MAX_NAMED_ID`] bytes), so that a writer that asks for no acks can tell which write
        /// this answers. Empty when the frame named none (not JSON, binary, no events).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ids: Vec<String>,
    },
}
