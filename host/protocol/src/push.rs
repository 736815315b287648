//! Notifications by Web Push (RFC 8030, 8291, 8292): what a browser sends to subscribe, what a
//! worker sends to have its person called, and what the service worker receives.
//!
//! The relay never reads what a notification says: the worker seals the text with the session
//! key, and the relay forwards the envelope inside the push message it encrypts to the browser.
//! What it does read is only what it needs to route: the session, the kind and the tag.

use serde::{Deserialize, Serialize};

/// Why the agent wants its person, which is also what a device chooses to be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    /// A permission request has waited unanswered.
    Permission,
    /// The agent asked a question.
    Question,
    /// A long turn ended.
    Done,
    /// The terminal went offline unexpectedly.
    Offline,
}

impl PushKind {
    /// Every kind, in the order they are listed to a person.
    pub const ALL: [PushKind; 4] = [
        PushKind::Permission,
        PushKind::Question,
        PushKind::Done,
        PushKind::Offline,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::Permission => "permission",
            PushKind::Question => "question",
            PushKind::Done => "done",
            PushKind::Offline => "offline",
        }
    }
}

/// The longest device id: a browser install names itself with a random id of its own.
pub const MAX_DEVICE_ID: usize = 64;

/// The longest tag. A tag is what a later notification of the same request replaces or
/// withdraws; a worker uses the request id.
pub const MAX_TAG: usize = 128;

/// The most a sealed notification may weigh as JSON: a push message carries at most 4,096
/// bytes once encrypted (RFC 8291 §4: one record), and the rest of the message needs room.
pub const MAX_SEALED: usize = 3_000;

/// `PUT /v1/push/subscriptions/{device}`: this browser's subscription, from
/// `PushManager.subscribe()`, and the kinds it wants. A second `PUT` for the same device
/// replaces the first (a new endpoint, new keys or new kinds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    /// The push service's URL for this browser (`PushSubscription.endpoint`).
    pub endpoint: String,
    /// The browser's keys (`PushSubscription.toJSON().keys`).
    pub keys: SubscriptionKeys,
    /// What this device is told about; all kinds when absent.
    #[serde(default = "all_kinds")]
    pub kinds: Vec<PushKind>,
}

fn all_kinds() -> Vec<PushKind> {
    PushKind::ALL.to_vec()
}

/// The browser's half of RFC 8291's key agreement, base64url as `toJSON()` gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionKeys {
    /// Its P-256 public key, uncompressed (65 bytes).
    pub p256dh: String,
    /// Its authentication secret (16 bytes).
    pub auth: String,
}

/// One of the account's subscribed devices, as listed to its owner (never the endpoint or
/// the keys: they are the browser's secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushDevice {
    /// The id the browser chose.
    pub device: String,
    /// What it is told about.
    pub kinds: Vec<PushKind>,
    /// The push service's host, so that a person can tell their devices apart.
    pub service: String,
    /// When it subscribed or last changed (RFC 3339).
    pub updated_at: String,
}

/// `GET /v1/push/subscriptions`: the account's devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushDevices {
    /// Oldest first.
    pub devices: Vec<PushDevice>,
}

/// `GET /v1/push/key`: the relay's VAPID public key (RFC 8292), which a browser passes to
/// `PushManager.subscribe()` as `applicationServerKey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushKey {
    /// The P-256 public key, uncompressed, base64url without padding.
    pub public_key: String,
}

/// `POST /v1/code/sessions/{id}/worker/notify`: call the session's person, or withdraw a
/// call. Not an event: it is not kept in the log, and its envelope is sealed under a sender of
/// its own so that no device's ledger sees a gap for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Why.
    pub kind: PushKind,
    /// What a later notification with the same tag replaces or withdraws (the request id).
    pub tag: String,
    /// The text, sealed with the session key (an envelope of `tether-seal`); absent on a
    /// withdrawal. A device without the key shows a generic line instead.
    #[serde(default)]
    pub sealed: Option<serde_json::Value>,
    /// True to withdraw the notification with this tag (it was answered somewhere).
    #[serde(default)]
    pub close: bool,
}

/// The answer to [`Notify`] (`202`): how many devices a push is being sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notified {
    /// Devices subscribed to this kind.
    pub devices: usize,
    /// Someone is looking at the session (a page visible and focused, [`Looking`]): nothing
    /// was sent, and the worker calls again later if the request still waits. Withdrawals are
    /// always sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub looking: bool,
}

/// `PUT /v1/push/looking/{session}`: whether this page shows the session to its person now
/// (visible and focused). A visible page says so again within [`LOOKING_FOR_MS`]; past that it
/// counts as gone, so a page closed without a word mutes nothing for long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Looking {
    /// The page's device id (the one it subscribes with).
    pub device: String,
    /// Visible and focused.
    pub visible: bool,
}

/// `PATCH /v1/push/subscriptions/{device}`: change what a subscribed device is told about,
/// without its endpoint or keys (which only the browser holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetKinds {
    /// At least one kind, each once.
    pub kinds: Vec<PushKind>,
}

/// How long a page's "visible" holds without being said again, in milliseconds.
pub const LOOKING_FOR_MS: u64 = 45_000;

/// What the service worker receives, once the push service has delivered it and the browser
/// has decrypted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushMessage {
    /// The format's version: 1.
    pub v: u32,
    /// The session whose person is called.
    pub session: String,
    /// The session's title as the relay knows it, for a device without the key.
    pub title: String,
    /// Why.
    pub kind: PushKind,
    /// The tag of [`Notify`].
    pub tag: String,
    /// The worker's envelope, as it sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<serde_json::Value>,
    /// True to withdraw the notification with this tag.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub close: bool,
}
