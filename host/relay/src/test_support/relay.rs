//! Starting, stopping and restarting the test relay, and reaching it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;

use super::PASSWORD;
use super::postgres::PgServer;
use crate::nodes::NodesConfig;
use crate::store::{Location, Store, StoreResult, sql::Sql};
use crate::{Relay, RelayConfig, users};

/// Which database a test relay keeps its state in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A SQLite file in the relay's temporary folder.
    Sqlite,
    /// A fresh database on the tests' own PostgreSQL server (see [`PgServer`]).
    Postgres,
}

impl StoreKind {
    /// Whether relays on this store can run here: PostgreSQL may be missing outside CI, and the
    /// tests that need it then return early (after [`PgServer::get`] said they are skipped).
    pub fn available(self) -> bool {
        match self {
            StoreKind::Sqlite => true,
            StoreKind::Postgres => super::postgres::blocking(|| PgServer::get().is_some()),
        }
    }
}

/// A relay under test, with the HTTP client the tests use to reach it.
pub struct TestRelay {
    /// The running relay; `None` between [`TestRelay::stop`] and a start.
    pub relay: Option<Relay>,
    /// Its public URL, without a trailing slash.
    pub url: String,
    /// Where its public listener is bound.
    pub addr: SocketAddr,
    /// Its database, which outlives restarts.
    pub store: Location,
    /// The temporary folder holding a SQLite database, removed when the relay is dropped.
    pub dir: tempfile::TempDir,
    /// A client that does not follow redirects (tests check them).
    pub http: reqwest::Client,
    /// Applied again to the configuration by [`TestRelay::start_again`].
    tweak: fn(&mut RelayConfig),
    /// How it follows other nodes on its database (kept across restarts too).
    nodes: NodesConfig,
}

/// Timings short enough for tests: keepalives every 200 ms, workers offline after 1 s of
/// silence, device polling every second.
pub fn test_config(store: impl Into<Location>) -> RelayConfig {
    let mut config = RelayConfig::new(store);
    config.liveness.keepalive = Duration::from_millis(200);
    config.liveness.worker_timeout = Duration::from_secs(1);
    config.liveness.sweep_interval = Duration::from_millis(100);
    config.lifetimes.device_poll_interval = Duration::from_secs(1);
    // `/metrics` is never on the public listener by default: tests read it where an operator's
    // scraper would, on a loopback listener of its own.
    config.metrics_listen = Some("127.0.0.1:0".parse().expect("an address"));
    // Pushes may go to the tests' own push service, once a test has started it.
    if let Some(origin) = super::push::PushService::started_origin() {
        config.push.services = vec![origin.parse().expect("the push service's origin")];
    }
    config
}

/// An HTTP client for tests: redirects are answers to check, not to follow.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// `RUST_LOG=tether_relay=debug cargo test …` shows what the relay (or the bridge) did.
fn logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    });
}

impl TestRelay {
    /// A relay with [`test_config`].
    pub async fn start() -> TestRelay {
        Self::start_with(|_| {}).await
    }

    /// A relay with [`test_config`] changed by `tweak` (kept for [`TestRelay::start_again`]).
    pub async fn start_with(tweak: fn(&mut RelayConfig)) -> TestRelay {
        Self::start_on(StoreKind::Sqlite, tweak).await
    }

    /// A relay on a new database of `kind`, with [`test_config`] changed by `tweak`. For
    /// PostgreSQL, check [`StoreKind::available`] first.
    pub async fn start_on(kind: StoreKind, tweak: fn(&mut RelayConfig)) -> TestRelay {
        logs();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = match kind {
            StoreKind::Sqlite => Location::Sqlite(dir.path().join("relay.db")),
            StoreKind::Postgres => {
                let server =
                    super::postgres::blocking(PgServer::get).expect("PostgreSQL is installed");
                Location::Postgres(super::postgres::blocking(|| server.fresh_database()))
            }
        };
        Self::start_at(store, dir, tweak).await
    }

    /// A relay on `store` (another node of a relay already running on it, say).
    pub async fn start_at(
        store: Location,
        dir: tempfile::TempDir,
        tweak: fn(&mut RelayConfig),
    ) -> TestRelay {
        Self::start_node(store, dir, tweak, NodesConfig::default()).await
    }

    /// A node of a relay on the PostgreSQL `store`, following the others as `nodes` says.
    pub async fn start_node(
        store: Location,
        dir: tempfile::TempDir,
        tweak: fn(&mut RelayConfig),
        nodes: NodesConfig,
    ) -> TestRelay {
        logs();
        let mut this = TestRelay {
            url: String::new(),
            addr: "127.0.0.1:0".parse().unwrap(),
            relay: None,
            store,
            dir,
            http: http_client(),
            tweak,
            nodes,
        };
        let relay = Relay::start(this.configured(tweak), this.addr)
            .await
            .expect("the relay starts");
        this.url = relay.public_url().to_owned();
        this.addr = relay.addr();
        this.relay = Some(relay);
        this
    }

    /// Two nodes of one relay on the PostgreSQL `store`, started together (so they migrate
    /// together), each with `tweak` and following the other as `nodes` says.
    pub async fn two_nodes_on(
        store: Location,
        tweak: fn(&mut RelayConfig),
        nodes: NodesConfig,
    ) -> (TestRelay, TestRelay) {
        let start = || {
            Self::start_node(
                store.clone(),
                tempfile::tempdir().expect("a temporary folder"),
                tweak,
                nodes.clone(),
            )
        };
        tokio::join!(start(), start())
    }

    /// The SQLite file, for tests of what only SQLite does.
    pub fn sqlite_path(&self) -> &Path {
        match &self.store {
            Location::Sqlite(path) => path,
            Location::Postgres(_) => panic!("this relay keeps its state in PostgreSQL"),
        }
    }

    /// Run `f` on the relay's database behind its back, in a transaction, as another process
    /// (an administrator's command, another node) would.
    pub fn sql<T: Send>(&self, f: impl FnOnce(&mut dyn Sql) -> StoreResult<T> + Send) -> T {
        let store = self.store.clone();
        super::postgres::blocking(move || {
            Store::open(&store)
                .and_then(|s| s.write_blocking(f))
                .expect("the database answers")
        })
    }

    /// Stop the relay and start a new one on the same database (a different port), with
    /// [`test_config`] changed by `tweak`.
    pub async fn restart_with(&mut self, tweak: fn(&mut RelayConfig)) {
        self.stop().await;
        let relay = Relay::start(self.configured(tweak), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the relay starts again");
        self.url = relay.public_url().to_owned();
        self.addr = relay.addr();
        self.relay = Some(relay);
        self.tweak = tweak;
    }

    /// Stop the relay (if it is running), as a stopped service would.
    pub async fn stop(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.stop().await.expect("the relay stops");
        }
    }

    /// Start again on the same database and the same address, as a restarted service would.
    pub async fn start_again(&mut self) {
        assert!(self.relay.is_none(), "stop it first");
        let mut last = None;
        // The port may take a moment to be free again.
        for _ in 0..50 {
            match Relay::start(self.configured(self.tweak), self.addr).await {
                Ok(relay) => {
                    assert_eq!(relay.public_url(), self.url);
                    self.relay = Some(relay);
                    return;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot listen on {} again: {last:?}", self.addr);
    }

    /// The running relay (for what only the embedding process can do).
    pub fn server(&self) -> &Relay {
        self.relay.as_ref().expect("the relay is running")
    }

    /// Add an account `name` with [`PASSWORD`], as `tether relay user add` would.
    pub fn add_user(&self, name: &str) {
        users::add(&self.store, name, PASSWORD).expect("the account is added");
    }

    /// The URL of `path` on this relay.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The `ws://` URL of `path` on this relay.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// `GET path` on this relay, with the tests' client.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.at(path))
    }

    /// `POST path` on this relay, with the tests' client.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.at(path))
    }

    /// `GET path` as `access`, the body read as JSON.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, access: &str) -> T {
        self.get(path)
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The `/metrics` text, from the metrics listener.
    pub async fn metrics(&self) -> String {
        let addr = self
            .server()
            .metrics_addr()
            .expect("test relays serve /metrics");
        let response = self
            .http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }

    /// One counter or gauge from `/metrics`.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    }
}

impl TestRelay {
    fn configured(&self, tweak: fn(&mut RelayConfig)) -> RelayConfig {
        let mut config = test_config(self.store.clone());
        config.nodes = self.nodes.clone();
        tweak(&mut config);
        config
    }
}
