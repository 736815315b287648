//! What `/metrics` shows, per node, through `prometheus-client` (the Prometheus project's own
//! Rust library): counters and gauges cheap enough to bump on every event (an atomic each),
//! and histograms of how long the database takes and how late other nodes' Redis
//! announcements arrive. The library writes the text format, so no name, label or escape is
//! formatted by hand.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Database latency buckets: 0.25 ms doubling to 4 s (a query slower than that is an outage).
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.00025, 2.0, 15))
}

/// How long the database takes, by what was asked of it, and how many writes share a commit;
/// the store holds one and records into it (`Store::read`, `Store::write`).
#[derive(Clone)]
pub struct StoreMetrics {
    /// Read-only queries.
    pub read: Histogram,
    /// Transactions that write (waiting for the connection or the writer included).
    pub write: Histogram,
    /// Writes run (each a closure of statements, [`crate::store::Store::write`]).
    pub writes: Counter,
    /// Transactions committed: fewer than the writes when they share commits (SQLite's group
    /// commit).
    pub commits: Counter,
    family: Family<[(&'static str, &'static str); 1], Histogram>,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        let family: Family<[(&'static str, &'static str); 1], Histogram> =
            Family::new_with_constructor(latency);
        let read = family.get_or_create(&[("op", "read")]).clone();
        let write = family.get_or_create(&[("op", "write")]).clone();
        StoreMetrics {
            read,
            write,
            writes: Counter::default(),
            commits: Counter::default(),
            family,
        }
    }
}

/// The relay's counters, gauges and histograms, as `/metrics` shows them.
pub struct Metrics {
    /// Events appended to a log.
    pub events_published: Counter,
    /// Events handed to a stream.
    pub events_delivered: Counter,
    /// Password logins that succeeded.
    pub logins_ok: Counter,
    /// Password logins refused for a wrong name or password.
    pub logins_failed: Counter,
    /// Requests refused with `429` by a throttle.
    pub rate_limited: Counter,
    /// Worker streams open now.
    pub worker_streams: Gauge,
    /// Client streams open now.
    pub client_streams: Gauge,
    /// Sessions created.
    pub sessions_created: Counter,
    /// Worker tokens issued by `/bridge`.
    pub bridges_issued: Counter,
    /// Worker requests refused because a newer worker registered.
    pub stale_epoch_refusals: Counter,
    /// Passwords actually checked (argon2 runs), whatever the outcome.
    pub password_checks: Counter,
    /// Logins refused with `503` because too many checks were running or waiting.
    pub password_checks_refused: Counter,
    /// From a node's announcement of a commit on Redis to this node hearing it (by the
    /// sender's clock: the nodes' clocks must agree, as presence needs too).
    pub redis_lag: Histogram,
    /// Push messages by how they ended (see [`Metrics::push`]).
    pushes: Family<[(&'static str, &'static str); 1], Counter>,
    live_sessions: Gauge,
    workers_online: Gauge,
    registry: Registry,
}

impl Metrics {
    /// Every metric at zero, the database's latency recorded in `store`.
    pub fn new(store: &StoreMetrics) -> Metrics {
        let mut registry = Registry::with_prefix("tether_relay");
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        registry.register(
            "store_seconds",
            "Time the database took, by operation (read or write)",
            store.family.clone(),
        );
        registry.register(
            "store_writes",
            "Writes run by the database (each one transaction's worth of statements)",
            store.writes.clone(),
        );
        registry.register(
            "store_commits",
            "Transactions committed (fewer than the writes when writes share a commit)",
            store.commits.clone(),
        );
        let redis_lag = latency();
        registry.register(
            "redis_lag_seconds",
            "From another node's announcement of a commit on Redis to this node hearing it",
            redis_lag.clone(),
        );
        let pushes = Family::<[(&'static str, &'static str); 1], Counter>::default();
        registry.register(
            "pushes",
            "Push messages by outcome: delivered, gone (the subscription was removed), refused, given_up (after the retries), dropped (too many in flight), looking (held: someone watches the session), and each retry",
            pushes.clone(),
        );
        let r = &mut registry;
        Metrics {
            pushes,
            events_published: counter(r, "events_published", "Events appended to session logs"),
            events_delivered: counter(
                r,
                "events_delivered",
                "Events written to worker and client streams",
            ),
            logins_ok: counter(r, "logins", "Successful browser logins"),
            logins_failed: counter(r, "login_failures", "Failed browser logins"),
            rate_limited: counter(r, "rate_limited", "Requests refused with 429"),
            sessions_created: counter(r, "sessions_created", "Sessions created"),
            bridges_issued: counter(r, "bridges_issued", "Worker registrations (/bridge)"),
            stale_epoch_refusals: counter(r, "stale_epoch", "Worker requests refused with 409"),
            password_checks: counter(
                r,
                "password_checks",
                "Passwords checked with argon2 (browser logins that got past the throttles)",
            ),
            password_checks_refused: counter(
                r,
                "password_checks_refused",
                "Browser logins refused with 503: too many password checks running or waiting",
            ),
            worker_streams: gauge(r, "worker_streams", "Open worker streams on this node"),
            client_streams: gauge(r, "client_streams", "Open client streams on this node"),
            live_sessions: gauge(r, "live_sessions", "Sessions with live state in memory"),
            workers_online: gauge(
                r,
                "workers_online",
                "Sessions whose worker this node hears from (holds its stream, or heard it within the timeout)",
            ),
            redis_lag,
            registry,
        }
    }

    /// Count a push message's `outcome` (or a retry of one).
    pub fn push(&self, outcome: &'static str) {
        self.pushes.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// The Prometheus text format, with the session gauges the caller counted now.
    pub fn render(&self, live_sessions: usize, workers_online: usize) -> String {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.live_sessions.set(count(live_sessions));
        self.workers_online.set(count(workers_online));
        let mut out = String::new();
        prometheus_text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_the_documented_ones_and_values_show() {
        let store = StoreMetrics::default();
        let m = Metrics::new(&store);
        m.events_published.inc_by(3);
        m.worker_streams.inc();
        m.worker_streams.inc();
        m.worker_streams.dec();
        store.write.observe(0.002);
        m.redis_lag.observe(0.001);
        let text = m.render(4, 1);
        for line in [
            "# TYPE tether_relay_events_published_total counter",
            "tether_relay_events_published_total 3",
            "tether_relay_events_delivered_total 0",
            "tether_relay_logins_total 0",
            "tether_relay_login_failures_total 0",
            "tether_relay_rate_limited_total 0",
            "tether_relay_sessions_created_total 0",
            "tether_relay_bridges_issued_total 0",
            "tether_relay_stale_epoch_total 0",
            "tether_relay_password_checks_total 0",
            "tether_relay_password_checks_refused_total 0",
            "# TYPE tether_relay_worker_streams gauge",
            "tether_relay_worker_streams 1",
            "tether_relay_client_streams 0",
            "tether_relay_live_sessions 4",
            "tether_relay_workers_online 1",
            "# TYPE tether_relay_store_seconds histogram",
            "tether_relay_store_seconds_count{op=\"write\"} 1",
            "tether_relay_store_seconds_count{op=\"read\"} 0",
            "tether_relay_redis_lag_seconds_count 1",
            "tether_relay_store_writes_total 0",
            "tether_relay_store_commits_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
        }
    }
}
