//! Everything an operator (or a test) can tune, with the defaults PROTOCOL.md implies.

use std::path::PathBuf;
use std::time::Duration;

use tether_protocol::RelayKind;

/// How long each credential lives.
#[derive(Debug, Clone)]
pub struct Lifetimes {
    /// The browser's login cookie.
    pub browser_login: Duration,
    /// OAuth access tokens (PROTOCOL: about an hour).
    pub access_token: Duration,
    /// OAuth refresh tokens; each use issues a new one with a fresh lifetime.
    pub refresh_token: Duration,
    /// A device authorization request waiting for the user (RFC 8628 `expires_in`).
    pub device_code: Duration,
    /// The minimum polling interval handed to the CLI (RFC 8628 `interval`).
    pub device_poll_interval: Duration,
    /// Trusted devices: rolling, extended on each use.
    pub trusted_device: Duration,
    /// How soon after logging in the CLI may enrol a trusted device.
    pub enrolment_window: Duration,
    /// Worker JWTs (PROTOCOL: at most 15 minutes).
    pub worker_jwt: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Lifetimes {
            browser_login: Duration::from_secs(14 * DAY),
            access_token: Duration::from_secs(3600),
            refresh_token: Duration::from_secs(30 * DAY),
            device_code: Duration::from_secs(600),
            device_poll_interval: Duration::from_secs(5),
            trusted_device: Duration::from_secs(90 * DAY),
            enrolment_window: Duration::from_secs(600),
            worker_jwt: Duration::from_secs(15 * 60),
        }
    }
}

/// Size limits. Anything over a limit is refused whole with `413`, never truncated.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Any request body, and any WebSocket message.
    pub max_body: usize,
    /// One event, as JSON.
    pub max_event: usize,
    /// Events in one publish.
    pub max_batch: usize,
    /// Session titles, in characters.
    pub max_title: usize,
    /// Sessions one account may hold.
    pub max_sessions_per_account: usize,
    /// Events kept per session; older ones are dropped and a resume from before them gets
    /// `catch_up_truncated`.
    pub retain_events: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1024 * 1024,
            max_event: 256 * 1024,
            max_batch: 256,
            max_title: 200,
            max_sessions_per_account: 1000,
            retain_events: 10_000,
        }
    }
}

/// Timing of the live streams.
#[derive(Debug, Clone)]
pub struct Liveness {
    /// A keepalive on every stream at least this often (PROTOCOL: ≤ 15 s).
    pub keepalive: Duration,
    /// A worker with no heartbeat and no open stream for this long is reported offline.
    pub worker_timeout: Duration,
    /// How often that is checked.
    pub sweep_interval: Duration,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            keepalive: Duration::from_secs(15),
            worker_timeout: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(5),
        }
    }
}

/// Login throttling: failures allowed per window before `429`.
#[derive(Debug, Clone)]
pub struct Throttle {
    pub failures_per_account: u32,
    pub failures_per_address: u32,
    pub window: Duration,
    /// Device-code requests per address per window.
    pub device_codes_per_address: u32,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            failures_per_account: 5,
            failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
            device_codes_per_address: 30,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// SQLite database file (created if missing).
    pub db: PathBuf,
    /// The URL browsers use to reach this relay, without a trailing slash. `None` means the
    /// address the relay ends up listening on (useful with port 0).
    pub public_url: Option<String>,
    /// Origins allowed besides the public URL's, for cookie-authenticated requests.
    pub extra_origins: Vec<String>,
    pub kind: RelayKind,
    /// Whether `/bridge` demands `X-Trusted-Device-Token`.
    pub require_trusted_device: bool,
    pub lifetimes: Lifetimes,
    pub limits: Limits,
    pub liveness: Liveness,
    pub throttle: Throttle,
}

impl RelayConfig {
    /// A production relay on `db` with the documented defaults.
    pub fn new(db: impl Into<PathBuf>) -> Self {
        RelayConfig {
            db: db.into(),
            public_url: None,
            extra_origins: Vec::new(),
            kind: RelayKind::Production,
            require_trusted_device: true,
            lifetimes: Lifetimes::default(),
            limits: Limits::default(),
            liveness: Liveness::default(),
            throttle: Throttle::default(),
        }
    }
}
