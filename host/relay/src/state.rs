//! The relay's state, in one place: configuration, storage, live sessions, throttles, counters.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use crate::auth::rate_limit::Window;
use crate::config::RelayConfig;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::Store;

pub struct AppState {
    pub config: RelayConfig,
    /// Without a trailing slash.
    pub public_url: String,
    pub allowed_origins: Vec<String>,
    /// Cookies get `Secure` when the relay is reached over HTTPS.
    pub cookie_secure: bool,
    /// The login cookie's name, one per relay on a host (see `auth::cookie`).
    pub cookie_name: String,
    /// The bound on concurrent password checks.
    pub passwords: crate::auth::hashing::PasswordGate,
    pub store: Arc<Store>,
    pub hub: Hub,
    pub jwt_key: [u8; 32],
    pub throttle: Mutex<Throttles>,
    pub metrics: Metrics,
    /// The embedded relay's one-time pairing secrets (empty on a hosted relay).
    pub pairings: Mutex<crate::pairing::Pairings>,
    /// Flips to true when the relay stops, so that endless streams end and shutdown completes.
    pub shutdown: watch::Receiver<bool>,
}

pub type Shared = Arc<AppState>;

pub struct Throttles {
    pub login_by_account: Window,
    pub login_by_address: Window,
    pub device_codes_by_address: Window,
    pub user_code_attempts: Window,
    /// Wrong `?pair=` secrets, apart from logins so that bad links lock no one out of them.
    pub pairing_by_address: Window,
}

impl Throttles {
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

    pub fn prune(&mut self, now: Instant) {
        self.login_by_account.prune(now);
        self.login_by_address.prune(now);
        self.device_codes_by_address.prune(now);
        self.user_code_attempts.prune(now);
        self.pairing_by_address.prune(now);
    }
}

impl AppState {
    pub fn throttles(&self) -> std::sync::MutexGuard<'_, Throttles> {
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn pairings(&self) -> std::sync::MutexGuard<'_, crate::pairing::Pairings> {
        self.pairings.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn session_url(&self, id: &tether_protocol::SessionId) -> String {
        format!("{}/code/{id}", self.public_url)
    }
}
