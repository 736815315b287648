//! The bridge worker: a background task that makes the terminal the session's worker on the
//! relay (docs/protocol.md, "Worker endpoints").
//!
//! It registers (`/bridge`), opens the worker stream (SSE or WebSocket) from the last `seq` it
//! saw, and hands each client event to the terminal once ([`Inbound`]). What the terminal
//! publishes is queued and delivered once and in order, surviving network failures and relay
//! restarts (resent with the same ids, which the relay deduplicates). It heartbeats, reports the
//! terminal's state, registers again before its worker token expires, and stops for good — never
//! registering again — when another terminal takes the session over.
//!
//! Every event that carries the conversation is sealed before it is queued and opened as it
//! arrives (docs/protocol.md §4.7, `tether-seal`): the relay sees only the envelope. A client
//! event that does not open never reaches the terminal as an event, only as
//! [`Inbound::Unverified`].
//!
//! The stages live in their own files: `register.rs` (`/bridge`), `link.rs` and `ws.rs` (the two
//! transports), `inbound.rs` (what comes in), `outbound.rs` and `state.rs` (what goes out),
//! `verdict.rs` (what a failure means), `backoff.rs` (when to retry), and `run.rs`, the loop that
//! ties them together.

mod backoff;
mod dedup;
mod handle;
mod inbound;
mod link;
mod outbound;
mod register;
mod run;
mod state;
mod verdict;
mod ws;

use std::time::Duration;

use tether_protocol::SessionId;
use tether_seal::SessionKey;
use tokio::sync::{mpsc, watch};

use crate::api::Api;
use crate::tokens::TokenSource;

pub use handle::WorkerHandle;
pub use inbound::Inbound;
pub use verdict::{SESSION_GONE, TAKEN_OVER};

/// How the worker stream travels. Publishing goes over the socket with `Ws` and as
/// `POST …/worker/events` with `Sse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Server-Sent Events: the default, and what works through most proxies.
    Sse,
    /// A WebSocket, reading and publishing over one connection (`--transport ws`).
    Ws,
}

/// Where the worker is, for the terminal's status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Registering and opening the stream for the first time.
    Connecting,
    /// The stream is open: clients' events arrive and the terminal's are being delivered.
    Online,
    /// The connection failed; `attempt` retries so far, `error` the last failure. Publishing
    /// still works: events wait in the queue.
    Reconnecting {
        /// Failed attempts in a row, since the worker was last connected.
        attempt: u32,
        /// What the last attempt failed with, for people.
        error: String,
    },
    /// For good: taken over, session deleted, login revoked, or shut down.
    Stopped {
        /// Why, for people: shown on the status line (such as [`TAKEN_OVER`]).
        reason: String,
    },
}

/// How the session's payloads travel.
#[derive(Clone)]
pub enum Protection {
    /// Sealed end to end under the session key (docs/protocol.md §4.7): what tether runs.
    EndToEnd(SessionKey),
    /// In plaintext. Only for measuring what encryption costs, in benchmarks, and for tests of
    /// the transport; the terminal never runs a session this way.
    Plaintext,
}

/// How to run a worker: the relay, the credentials, the session, and timing. [`WorkerConfig::new`]
/// gives the documented defaults.
pub struct WorkerConfig {
    /// The relay, at the URL the user configured.
    pub api: Api,
    /// The account's access token (and trusted device token) for `/bridge`, refreshed as needed.
    /// Subscribe to it to save rotated credentials.
    pub tokens: TokenSource,
    /// The session to act as the worker of.
    pub session: SessionId,
    /// Whether payloads are sealed, and under which key.
    pub protection: Protection,
    /// How the worker stream travels.
    pub transport: Transport,
    /// `POST …/worker/heartbeat` this often while connected (PROTOCOL: ~20 s).
    pub heartbeat: Duration,
    /// Register again this long before the worker token expires.
    pub refresh_margin: Duration,
    /// The first reconnect waits about this long; each failure doubles it, up to `backoff_max`.
    pub backoff_initial: Duration,
    /// The longest wait between reconnects.
    pub backoff_max: Duration,
    /// A stream silent for this long is taken for dead (the relay sends keepalives at least
    /// every 15 s), which catches connections that vanished without a reset.
    pub idle_timeout: Duration,
}

impl WorkerConfig {
    /// The documented defaults: SSE, 20 s heartbeats, refresh 60 s before expiry, backoff from
    /// 500 ms to 30 s, 45 s of silence means a dead stream.
    pub fn new(
        api: Api,
        tokens: TokenSource,
        session: SessionId,
        protection: Protection,
    ) -> WorkerConfig {
        WorkerConfig {
            api,
            tokens,
            session,
            protection,
            transport: Transport::Sse,
            heartbeat: Duration::from_secs(20),
            refresh_margin: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(45),
        }
    }
}

/// What the handle asks of the worker task.
pub(crate) enum Command {
    Publish(tether_protocol::NewEvent),
    SetState(tether_protocol::api::WorkerState, Option<serde_json::Value>),
    /// Call the session's person, or withdraw a call (`…/worker/notify`), its text sealed.
    Notify(tether_protocol::push::Notify),
    /// Open clients' events with this key from now on (`/session revoke`).
    Rekey(SessionKey),
    Shutdown,
}

/// Start the worker on the current tokio runtime. Events for the terminal arrive on the
/// receiver, ending with [`Inbound::Stopped`]. The worker runs until [`WorkerHandle::shutdown`],
/// until it stops for good, or until every handle is dropped.
pub fn spawn(config: WorkerConfig) -> (WorkerHandle, mpsc::UnboundedReceiver<Inbound>) {
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (inbound_tx, inbound_rx) = mpsc::unbounded_channel();
    let (status_tx, status_rx) = watch::channel(Status::Connecting);
    let (settled_tx, settled_rx) = watch::channel(0u64);
    let sealer = handle::sealer_for(&config);
    let worker = run::Worker::new(config, commands_rx, inbound_tx, status_tx, settled_tx);
    let task = tokio::spawn(worker.run());
    let handle = WorkerHandle::new(commands_tx, settled_rx, status_rx, task, sealer);
    (handle, inbound_rx)
}
