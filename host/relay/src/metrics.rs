//! Counters for `/metrics` (Prometheus text format). Plain atomics: cheap enough to bump on
//! every event.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// The relay's counters and gauges, as `/metrics` shows them.
#[derive(Default)]
pub struct Metrics {
    /// Events appended to a log.
    pub events_published: AtomicU64,
    /// Events handed to a stream.
    pub events_delivered: AtomicU64,
    /// Password logins that succeeded.
    pub logins_ok: AtomicU64,
    /// Password logins refused for a wrong name or password.
    pub logins_failed: AtomicU64,
    /// Requests refused with `429` by a throttle.
    pub rate_limited: AtomicU64,
    /// Worker streams open now.
    pub worker_streams: AtomicI64,
    /// Client streams open now.
    pub client_streams: AtomicI64,
    /// Sessions created.
    pub sessions_created: AtomicU64,
    /// Worker tokens issued by `/bridge`.
    pub bridges_issued: AtomicU64,
    /// Worker requests refused because a newer worker registered.
    pub stale_epoch_refusals: AtomicU64,
    /// Passwords actually checked (argon2 runs), whatever the outcome.
    pub password_checks: AtomicU64,
    /// Logins refused with `503` because too many checks were running or waiting.
    pub password_checks_refused: AtomicU64,
}

impl Metrics {
    /// The Prometheus text format, with the session gauges the caller counted.
    pub fn render(&self, live_sessions: usize, workers_online: usize) -> String {
        let mut out = String::new();
        let mut put = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let c = |a: &AtomicU64| a.load(Relaxed).to_string();
        let g = |a: &AtomicI64| a.load(Relaxed).to_string();
        put(
            "tether_relay_events_published_total",
            "counter",
            "Events appended to session logs.",
            c(&self.events_published),
        );
        put(
            "tether_relay_events_delivered_total",
            "counter",
            "Events written to worker and client streams.",
            c(&self.events_delivered),
        );
        put(
            "tether_relay_logins_total",
            "counter",
            "Successful browser logins.",
            c(&self.logins_ok),
        );
        put(
            "tether_relay_login_failures_total",
            "counter",
            "Failed browser logins.",
            c(&self.logins_failed),
        );
        put(
            "tether_relay_rate_limited_total",
            "counter",
            "Requests refused with 429.",
            c(&self.rate_limited),
        );
        put(
            "tether_relay_sessions_created_total",
            "counter",
            "Sessions created.",
            c(&self.sessions_created),
        );
        put(
            "tether_relay_bridges_issued_total",
            "counter",
            "Worker registrations (/bridge).",
            c(&self.bridges_issued),
        );
        put(
            "tether_relay_stale_epoch_total",
            "counter",
            "Worker requests refused with 409.",
            c(&self.stale_epoch_refusals),
        );
        put(
            "tether_relay_password_checks_total",
            "counter",
            "Passwords checked with argon2 (browser logins that got past the throttles).",
            c(&self.password_checks),
        );
        put(
            "tether_relay_password_checks_refused_total",
            "counter",
            "Browser logins refused with 503: too many password checks running or waiting.",
            c(&self.password_checks_refused),
        );
        put(
            "tether_relay_worker_streams",
            "gauge",
            "Open worker streams.",
            g(&self.worker_streams),
        );
        put(
            "tether_relay_client_streams",
            "gauge",
            "Open client streams.",
            g(&self.client_streams),
        );
        put(
            "tether_relay_live_sessions",
            "gauge",
            "Sessions with live state in memory.",
            live_sessions.to_string(),
        );
        put(
            "tether_relay_workers_online",
            "gauge",
            "Sessions whose worker this node hears from (holds its stream, or heard it within the timeout).",
            workers_online.to_string(),
        );
        out
    }
}
