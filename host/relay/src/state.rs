//! The relay's state, in one place: configuration, storage, live sessions, throttles, counters.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use crate::auth::rate_limit::Window;
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
    /// Failed attempts per account and address (see [`AppState::throttles`]).
    pub throttle: Mutex<Throttles>,
    /// The counters `/metrics` shows.
    pub metrics: Metrics,
    /// The embedded relay's one-time pairing secrets (empty on a hosted relay).
    pub pairings: Mutex<crate::pairing::Pairings>,
    /// Flips to true when the relay stops, so that endless streams end and shutdown completes.
    pub shutdown: watch::Receiver<bool>,
}

/// How handlers hold the state.
pub type Shared = Arc<AppState>;

/// The throttling windows, one per thing counted.
pub struct Throttles {
    /// Failed password logins per user name.
    pub login_by_account: Window,
    /// Failed password logins per client address.
    pub login_by_address: Window,
    /// Device codes requested per client address.
    pub device_codes_by_address: Window,
    /// Wrong user codes entered per account.
    pub user_code_attempts: Window,
    /// Wrong `?pair=` secrets, apart from logins so that bad links lock no one out of them.
    pub pairing_by_address: Window,
}

impl Throttles {
    /// Empty windows with the configured limits.
    pub fn new(config: &RelayConfig) -> Self {
        let t = &config.throttle;
        Throttles {
            login_by_account: Window::new(t.failures_per_account, t.window),
            login_by_address: Window::new(t.failures_per_address, t.window),
            device_codes_by_address: Window::new(t.device_codes_per_address, t.window),
            user_code_attempts: Window::new(t.failures_per_account * 2, t.window),
            pairing_by_address: Window::new(t.failures_per_address, t.window),
        }
    }

    /// Forget what has left every window, so memory follows recent activity.
    pub fn prune(&mut self, now: Instant) {
        self.login_by_account.prune(now);
        self.login_by_address.prune(now);
        self.device_codes_by_address.prune(now);
        self.user_code_attempts.prune(now);
        self.pairing_by_address.prune(now);
    }
}

impl AppState {
    /// The throttles, locked (never across an await).
    pub fn throttles(&self) -> std::sync::MutexGuard<'_, Throttles> {
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
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
