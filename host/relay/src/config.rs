//! Everything an operator (or a test) can tune, with the defaults docs/protocol.md implies.

use std::path::PathBuf;

pub use crate::store::Location;
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
    /// Bytes of events one stream holds for a reader that has not taken them yet, and one
    /// session keeps in memory for its live readers (always at least one event). A reader that
    /// never reads costs this, not a page of the largest events.
    pub stream_buffer: usize,
    /// Streams (SSE or WebSocket, worker or client) open at once on one session; more is `429`.
    pub max_streams_per_session: usize,
    /// Streams open at once across all of one account's sessions; more is `429`.
    pub max_streams_per_account: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1024 * 1024,
            max_event: tether_protocol::event::MAX_EVENT_BYTES,
            max_batch: 256,
            max_title: 200,
            max_sessions_per_account: 1000,
            retain_events: 10_000,
            stream_buffer: 1024 * 1024,
            max_streams_per_session: 32,
            max_streams_per_account: 128,
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

/// Connections: how long a peer may take to speak, how many may be open at once, and how long
/// a stopping relay waits for requests in progress.
#[derive(Debug, Clone)]
pub struct Connections {
    /// A connection must have sent a whole request head within this long of opening, or of its
    /// previous response ending: hyper starts the clock when a keep-alive connection goes idle,
    /// so this is also the idle timeout. Then the connection is closed.
    pub header_timeout: Duration,
    /// A request body must have arrived whole within this long of being read (`408`).
    pub body_timeout: Duration,
    /// The most connections open at once, streams and WebSockets included. `None`: as many as
    /// `RLIMIT_NOFILE` allows, less a headroom for the database and the runtime. A lower
    /// descriptor limit always wins. At the cap, the connection idle for the longest (between
    /// requests, or still sending its head) is closed to make room; a request in progress, a
    /// stream or a WebSocket never is.
    pub max_connections: Option<usize>,
    /// A stopping relay lets requests in progress finish for this long, then drops them.
    /// Connections between requests, or still sending their head, are closed at once.
    pub shutdown_grace: Duration,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: None,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Login throttling: failures allowed per window before `429`.
#[derive(Debug, Clone)]
pub struct Throttle {
    /// Failed logins per account name per window.
    pub failures_per_account: u32,
    /// Failed logins per client address per window.
    pub failures_per_address: u32,
    /// The sliding window the counts are over.
    pub window: Duration,
    /// Device-code requests per address per window.
    pub device_codes_per_address: u32,
    /// Password checks (argon2id: 19 MiB and tens of milliseconds each) run at once: one per
    /// core, since more would not finish sooner and would only take memory.
    pub password_workers: usize,
    /// Password checks that may wait for a worker; a login beyond that is refused with `503`.
    pub password_queue: usize,
}

impl Default for Throttle {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Throttle {
            failures_per_account: 5,
            failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
            device_codes_per_address: 30,
            password_workers: cores,
            password_queue: 16 * cores,
        }
    }
}

/// Everything a relay is started with; [`RelayConfig::new`] gives the defaults of
/// `tether relay serve`.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The database: a SQLite file (created if missing) or a PostgreSQL URL.
    pub store: Location,
    /// The URL browsers use to reach this relay, without a trailing slash. `None` means the
    /// address the relay ends up listening on (useful with port 0).
    pub public_url: Option<String>,
    /// Origins allowed besides the public URL's, for cookie-authenticated requests.
    pub extra_origins: Vec<String>,
    /// Production, staging or the terminal's embedded relay (`Local`), which has no password
    /// logins and pairs browsers by QR code instead.
    pub kind: RelayKind,
    /// Whether `/bridge` demands `X-Trusted-Device-Token`.
    pub require_trusted_device: bool,
    /// How long each credential lasts.
    pub lifetimes: Lifetimes,
    /// Sizes and counts that bound what a caller can make the relay hold.
    pub limits: Limits,
    /// Keepalives and how a silent worker goes offline.
    pub liveness: Liveness,
    /// Login throttling and the password-check pool.
    pub throttle: Throttle,
    /// What the accept loop enforces per connection.
    pub connections: Connections,
    /// How nodes sharing a PostgreSQL database learn of each other's commits.
    pub nodes: crate::nodes::NodesConfig,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed (the TLS proxy): the
    /// throttles then key on the client they name. Anyone else's are ignored.
    pub trusted_proxies: Vec<crate::auth::client_addr::Cidr>,
    /// A listener of its own for `/metrics` (and `/healthz`), for a scraper on a private
    /// network. Without it (or `metrics_token`), no listener serves `/metrics`.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Serve `/metrics` on the public listener too, to requests with `Authorization: Bearer`
    /// and this token.
    pub metrics_token: Option<String>,
    /// Serve HTTPS (and WSS) on the public listener with this certificate and key, instead of
    /// plain HTTP behind a TLS proxy. The `/metrics` listener stays plain: it is for a private
    /// network.
    pub tls: Option<TlsFiles>,
    /// Sign worker tokens with this key (`--jwt-key-file`) instead of the one the relay keeps in
    /// its database. Every node of one relay needs the same key.
    pub jwt_key: Option<crate::auth::jwt_key::JwtKey>,
    /// Web Push: where the relay may push, and who to contact about it.
    pub push: PushConfig,
}

/// Web Push (`src/push`).
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Push services besides the browsers' own (`--push-service`): a self-hosted one, or the
    /// tests' on loopback.
    pub services: Vec<crate::push::endpoint::ServiceOrigin>,
    /// VAPID's `sub` (`--push-contact`, a `mailto:` or `https:` URL); the public URL when it is
    /// HTTPS, else `mailto:relay@localhost`.
    pub contact: Option<String>,
    /// Devices an account may subscribe.
    pub max_devices_per_account: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            services: Vec::new(),
            contact: None,
            max_devices_per_account: 20,
        }
    }
}

/// `--tls-cert` and `--tls-key`: PEM files, read once at start.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl RelayConfig {
    /// A production relay on `store` (a SQLite path or a [`Location`]) with the documented
    /// defaults.
    pub fn new(store: impl Into<Location>) -> Self {
        RelayConfig {
            store: store.into(),
            public_url: None,
            extra_origins: Vec::new(),
            kind: RelayKind::Production,
            require_trusted_device: true,
            lifetimes: Lifetimes::default(),
            limits: Limits::default(),
            liveness: Liveness::default(),
            throttle: Throttle::default(),
            connections: Connections::default(),
            nodes: crate::nodes::NodesConfig::default(),
            trusted_proxies: Vec::new(),
            metrics_listen: None,
            metrics_token: None,
            tls: None,
            jwt_key: None,
            push: PushConfig::default(),
        }
    }
}
