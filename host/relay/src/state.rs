//! The relay's state, in one place: configuration, storage, live sessions, counters.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::config::RelayConfig;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::Store;

/// Everything a request handler reaches, shared by all of them.
pub struct AppState {
    /// As started.
    pub config: RelayConfig,
    /// Without a trailing slash.
    pub public_url: String,
    /// The origins cookie-authenticated requests may come from.
    pub allowed_origins: Vec<String>,
    /// Cookies get `Secure` when the relay is reached over HTTPS.
    pub cookie_secure: bool,
    /// The login cookie's name, one per relay on a host (see `auth::cookie`).
    pub cookie_name: String,
    /// The bound on concurrent password checks.
    pub passwords: crate::auth::hashing::PasswordGate,
    /// The database, the truth.
    pub store: Arc<Store>,
    /// Live sessions, following the database.
    pub hub: Hub,
    /// The other nodes on the same database, told of this one's commits.
    pub nodes: crate::nodes::Nodes,
    /// Signs worker tokens; kept in the database so tokens survive a restart.
    pub jwt_key: [u8; 32],
    /// Web Push: the services it may call, its VAPID identity, what is in flight.
    pub push: crate::push::Push,
    /// This process among the nodes on one database: its streams' places are leased under it.
    pub node: String,
    /// The counters `/metrics` shows.
    pub metrics: Metrics,
    /// Access tokens and sessions' owners the database vouched for within the last second.
    pub remembered: crate::auth::remembered::Checks,
    /// The embedded relay's one-time pairing secrets (empty on a hosted relay).
    pub pairings: Mutex<crate::pairing::Pairings>,
    /// Flips to true when the relay stops, once its listener is closed, so that endless streams
    /// end (asking their readers to reconnect elsewhere) and shutdown completes.
    pub shutdown: watch::Receiver<bool>,
}

/// How handlers hold the state.
pub type Shared = Arc<AppState>;

impl AppState {
    /// How long a stream's place is held in the database without its node renewing it: a node
    /// that dies frees its streams' places within this (its sweep renews them four times over).
    pub fn stream_lease(&self) -> std::time::Duration {
        self.config.liveness.sweep_interval * 4
    }

    /// The pairing secrets, locked (never across an await).
    pub fn pairings(&self) -> std::sync::MutexGuard<'_, crate::pairing::Pairings> {
        self.pairings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The page of session `id`, for links shown elsewhere (the CLI's QR code).
    pub fn session_url(&self, id: &tether_protocol::SessionId) -> String {
        format!("{}/code/{id}", self.public_url)
    }
}
