//! A real relay for the bridge's tests: in process, on a loopback port, with a SQLite file in a
//! temporary folder; plus a browser (cookie) to approve logins and to play the phone.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tether_bridge::worker::Inbound;
use tether_bridge::{Api, Credentials, TokenSource, Transport, WorkerConfig};
use tether_protocol::{Event, NewEvent, SessionId, Source};
use tether_relay::{Relay, RelayConfig, users};
use tokio::sync::mpsc::UnboundedReceiver;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestRelay {
    pub relay: Option<Relay>,
    pub url: String,
    pub addr: SocketAddr,
    pub db: PathBuf,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    tweak: fn(&mut RelayConfig),
}

/// Fast timings: keepalives every 200 ms, workers offline after 1 s, polling every second.
fn config(db: PathBuf, tweak: fn(&mut RelayConfig)) -> RelayConfig {
    let mut config = RelayConfig::new(db);
    config.liveness.keepalive = Duration::from_millis(200);
    config.liveness.worker_timeout = Duration::from_secs(1);
    config.liveness.sweep_interval = Duration::from_millis(100);
    config.lifetimes.device_poll_interval = Duration::from_secs(1);
    // `/metrics` is served publicly only to this token's bearer.
    config.metrics_token = Some(METRICS_TOKEN.into());
    tweak(&mut config);
    config
}

const METRICS_TOKEN: &str = "bridge-tests-metrics";

impl TestRelay {
    pub async fn start() -> TestRelay {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: fn(&mut RelayConfig)) -> TestRelay {
        logs();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("relay.db");
        let relay = Relay::start(config(db.clone(), tweak), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        TestRelay {
            url: relay.public_url().to_owned(),
            addr: relay.addr(),
            relay: Some(relay),
            db,
            dir,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            tweak,
        }
    }

    /// A browser for the relay at `url`, without the relay (for tasks that only have the URL).
    pub fn browser(url: &str) -> Browser {
        Browser {
            url: url.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    pub async fn stop(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.stop().await.unwrap();
        }
    }

    /// Start again on the same database and the same address, as a restarted service would.
    pub async fn start_again(&mut self) {
        assert!(self.relay.is_none(), "stop it first");
        let mut last = None;
        for _ in 0..50 {
            match Relay::start(config(self.db.clone(), self.tweak), self.addr).await {
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

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn api(&self) -> Api {
        Api::new(&self.url).unwrap()
    }

    /// A relay counter from `/metrics` (this process's only).
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self
            .http
            .get(self.at("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }

    pub async fn browser_login(&self, name: &str) -> String {
        Self::browser(&self.url).browser_login(name).await
    }

    pub async fn decide(&self, cookie: &str, user_code: &str, decision: &str) {
        Self::browser(&self.url)
            .decide(cookie, user_code, decision)
            .await
    }

    /// A user logged in on the CLI with a trusted device, without the polling wait of the full
    /// login helper (approve first, then one poll).
    pub async fn credentials(&self, name: &str) -> (Credentials, String) {
        users::add(&self.db, name, PASSWORD).unwrap();
        let api = self.api();
        let code = api.device_code().await.unwrap();
        let cookie = self.browser_login(name).await;
        self.decide(&cookie, &code.user_code, "approve").await;
        let tokens = api.poll_token(&code.device_code).await.unwrap();
        let mut credentials = Credentials::from_tokens(&api.base_url, &tokens, unix_now());
        let device = api
            .enroll_device(&credentials.access_token, "test machine")
            .await
            .unwrap();
        credentials.device_id = Some(device.device_id);
        credentials.device_token = Some(device.device_token);
        (credentials, cookie)
    }

    pub async fn session(&self, credentials: &Credentials) -> SessionId {
        self.api()
            .create_session(&credentials.access_token, Some("bridge test"))
            .await
            .unwrap()
            .id
    }

    /// What a phone says: `POST …/events` with the browser's cookie.
    pub async fn client_publish(&self, cookie: &str, session: &SessionId, events: &[NewEvent]) {
        let response = self
            .http
            .post(self.at(&format!("/v1/code/sessions/{session}/events")))
            .header("origin", &self.url)
            .header("cookie", cookie)
            .json(&json!({ "events": events }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "client publish");
    }

    /// The session's whole log as a client replays it, read until it has been quiet a while.
    pub async fn client_log(&self, cookie: &str, session: &SessionId) -> Vec<Event> {
        let mut response = self
            .http
            .get(self.at(&format!(
                "/v1/code/sessions/{session}/events/stream?from_seq=0"
            )))
            .header("cookie", cookie)
            .header("accept", "text/event-stream")
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let mut buffer = String::new();
        let mut events = Vec::new();
        // Quiet means no event for a while: keepalive comments keep coming.
        let quiet = Duration::from_millis(700);
        let mut deadline = tokio::time::Instant::now() + quiet;
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                for line in block.lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        events.push(serde_json::from_str(data.trim()).unwrap());
                        deadline = tokio::time::Instant::now() + quiet;
                    }
                }
            }
        }
        events
    }

    /// A worker config with test timings.
    pub fn worker(
        &self,
        credentials: &Credentials,
        session: &SessionId,
        transport: Transport,
    ) -> WorkerConfig {
        let api = self.api();
        let tokens = TokenSource::new(api.clone(), credentials.clone());
        let mut config = WorkerConfig::new(api, tokens, session.clone());
        config.transport = transport;
        config.heartbeat = Duration::from_millis(500);
        config.backoff_initial = Duration::from_millis(100);
        config.backoff_max = Duration::from_millis(800);
        config.idle_timeout = Duration::from_secs(3);
        config
    }
}

/// `RUST_LOG=tether_bridge=debug cargo test …` shows what the worker did.
fn logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    });
}

/// A browser: logs in with the password form and approves or denies CLI logins.
pub struct Browser {
    url: String,
    http: reqwest::Client,
}

impl Browser {
    /// `POST /login`: the `Cookie` header value.
    pub async fn browser_login(&self, name: &str) -> String {
        let response = self
            .http
            .post(format!("{}/login", self.url))
            .header("origin", &self.url)
            .form(&[
                ("username", name),
                ("password", PASSWORD),
                ("next", "/code"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 303, "login of {name}");
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    /// `POST /device`: approve or deny a CLI login.
    pub async fn decide(&self, cookie: &str, user_code: &str, decision: &str) {
        let response = self
            .http
            .post(format!("{}/device", self.url))
            .header("origin", &self.url)
            .header("cookie", cookie)
            .form(&[("user_code", user_code), ("decision", decision)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{decision} {user_code}");
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn event(kind: &str, payload: Value) -> NewEvent {
    NewEvent::new(kind, payload)
}

pub fn user_message(text: &str) -> NewEvent {
    event("user_message", json!({ "text": text, "origin": "client" }))
}

/// The worker's events of type `kind` in a client's log, as their payloads' `n`.
pub fn worker_numbers(log: &[Event], kind: &str) -> Vec<u64> {
    log.iter()
        .filter(|e| e.source == Source::Worker && e.kind == kind)
        .map(|e| e.payload["n"].as_u64().unwrap())
        .collect()
}

/// Items from the worker until `n` have come (or `wait` passes), then any extras that come
/// within a short quiet period (there should be none).
pub async fn receive(
    rx: &mut UnboundedReceiver<Inbound>,
    n: usize,
    wait: Duration,
) -> Vec<Inbound> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut items = Vec::new();
    while items.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(item)) => items.push(item),
            _ => break,
        }
    }
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        items.push(item);
    }
    items
}

/// The texts of user messages among `items`.
pub fn texts(items: &[Inbound]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            Inbound::UserMessage { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// Wait until the status satisfies `pred`.
pub async fn wait_status(
    handle: &tether_bridge::WorkerHandle,
    wait: Duration,
    pred: impl Fn(&tether_bridge::Status) -> bool,
) -> tether_bridge::Status {
    let mut status = handle.status();
    let matched = tokio::time::timeout(wait, status.wait_for(|s| pred(s)))
        .await
        .ok()
        .and_then(|r| r.ok().map(|s| s.clone()));
    matched.unwrap_or_else(|| panic!("status never matched; last {:?}", *status.borrow()))
}
