//! The bridge's side of its tests. The relay itself (started, stopped, restarted on its port)
//! and the browser that approves logins come from `tether_relay::test_support`, shared with the
//! relay's own tests; what is here drives it through this crate's `Api` and worker.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tether_bridge::worker::Inbound;
use tether_bridge::{Api, Credentials, Protection, TokenSource, Transport, WorkerConfig};
use tether_protocol::{Event, NewEvent, SessionId, Source};
use tether_relay::users;
use tether_seal::{Direction, Order, Reader, Received, Sealer, SessionKey, is_sealed, sender_id};
use tokio::sync::mpsc::UnboundedReceiver;

pub use tether_relay::test_support::*;

/// What the bridge's tests do with the relay, through this crate's own client where there is
/// one.
#[allow(async_fn_in_trait)]
pub trait BridgeSide {
    /// This crate's API client for the relay.
    fn api(&self) -> Api;
    /// A user logged in on the CLI with a trusted device, and the browser's login cookie.
    async fn credentials(&self, name: &str) -> (Credentials, String);
    /// A new session.
    async fn session(&self, credentials: &Credentials) -> SessionId;
    /// What a phone says: `POST …/events` with the browser's cookie, sealed under [`key`] as a
    /// new device.
    async fn client_publish(&self, cookie: &str, session: &SessionId, events: &[NewEvent]);
    /// `POST …/events` exactly as given: a keyless client's or a tampering relay's events.
    async fn client_publish_raw(&self, cookie: &str, session: &SessionId, events: &[NewEvent]);
    /// The session's whole log as the relay streams it, payloads as stored.
    async fn client_log_raw(&self, cookie: &str, session: &SessionId) -> Vec<Event>;
    /// The session's whole log as a client replays it, read until it has been quiet a while,
    /// each sealed payload opened (and every one must open, in order).
    async fn client_log(&self, cookie: &str, session: &SessionId) -> Vec<Event>;
    /// A worker config with test timings.
    fn worker(
        &self,
        credentials: &Credentials,
        session: &SessionId,
        transport: Transport,
    ) -> WorkerConfig;
}

impl BridgeSide for TestRelay {
    fn api(&self) -> Api {
        Api::new(&self.url).unwrap()
    }

    async fn credentials(&self, name: &str) -> (Credentials, String) {
        // On a thread of its own: PostgreSQL's synchronous client cannot run on the runtime's.
        postgres::blocking(|| users::add(&self.store, name, PASSWORD)).unwrap();
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

    async fn session(&self, credentials: &Credentials) -> SessionId {
        self.api()
            .create_session(&credentials.access_token, Some("bridge test"))
            .await
            .unwrap()
            .id
    }

    async fn client_publish(&self, cookie: &str, session: &SessionId, events: &[NewEvent]) {
        let mut phone = Sealer::new(
            &key(),
            &session.to_string(),
            Direction::Client,
            sender_id("d_"),
        );
        let events: Vec<NewEvent> = events
            .iter()
            .map(|e| NewEvent {
                payload: phone.seal(&e.id, &e.kind, &e.payload).unwrap(),
                ..e.clone()
            })
            .collect();
        self.client_publish_raw(cookie, session, &events).await;
    }

    async fn client_publish_raw(&self, cookie: &str, session: &SessionId, events: &[NewEvent]) {
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

    async fn client_log(&self, cookie: &str, session: &SessionId) -> Vec<Event> {
        let mut events = self.client_log_raw(cookie, session).await;
        let mut reader = Reader::new(&key(), &session.to_string());
        for event in &mut events {
            match reader.receive(event) {
                Received::Plain => assert!(!is_sealed(&event.kind)),
                Received::Verified {
                    payload,
                    order: Order::InOrder,
                    ..
                } => event.payload = payload,
                other => panic!("{} {}: {other:?}", event.seq, event.kind),
            }
        }
        events
    }

    async fn client_log_raw(&self, cookie: &str, session: &SessionId) -> Vec<Event> {
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
        let mut parser = tether_sse::Parser::new(1 << 20);
        let mut events = Vec::new();
        // Quiet means no event for a while: keepalive comments keep coming.
        let quiet = Duration::from_millis(700);
        let mut deadline = tokio::time::Instant::now() + quiet;
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
            for item in parser.push(&chunk).unwrap() {
                if let tether_sse::Item::Event(e) = item {
                    events.push(serde_json::from_str(&e.data).unwrap());
                    deadline = tokio::time::Instant::now() + quiet;
                }
            }
        }
        events
    }

    fn worker(
        &self,
        credentials: &Credentials,
        session: &SessionId,
        transport: Transport,
    ) -> WorkerConfig {
        let api = self.api();
        let tokens = TokenSource::new(api.clone(), credentials.clone());
        let mut config =
            WorkerConfig::new(api, tokens, session.clone(), Protection::EndToEnd(key()));
        config.transport = transport;
        config.heartbeat = Duration::from_millis(500);
        config.backoff_initial = Duration::from_millis(100);
        config.backoff_max = Duration::from_millis(800);
        config.idle_timeout = Duration::from_secs(3);
        config
    }
}

/// The session key every test's terminal and phones hold.
pub fn key() -> SessionKey {
    SessionKey::from_bytes([42; 32], 0)
}

/// The current time in Unix seconds, as the CLI stamps credentials.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
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

/// A payload published as given, whatever its type (tests count with fields of their own).
pub fn raw(kind: &str, payload: Value) -> tether_protocol::Payload {
    tether_protocol::Payload::Unknown {
        kind: kind.into(),
        payload,
    }
}

/// The texts of user messages among `items`.
pub fn texts(items: &[Inbound]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            Inbound::Event {
                payload: tether_protocol::Payload::UserMessage(m),
                ..
            } => Some(m.text.clone()),
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

/// A relay of three nodes on one PostgreSQL database: `pair`, two killable nodes behind
/// `proxy` (everything goes to the first one up), and `phone`, never killed, where the
/// phone's browser is logged in. The worker reaches the relay through the proxy.
pub struct Cluster {
    pub pair: [KillableNode; 2],
    pub phone: TestRelay,
    pub proxy: TcpProxy,
    /// The phone's login cookie on `phone`.
    pub cookie: String,
    pub session: SessionId,
    pub worker: tether_bridge::WorkerHandle,
    pub inbound: UnboundedReceiver<Inbound>,
    /// The nodes' Redis, if installed.
    pub redis: Option<redis::RedisServer>,
}

/// A [`Cluster`] on a fresh database, its worker configured by `tweak` and online; `None`
/// (skipped) without PostgreSQL.
pub async fn cluster(
    transport: Transport,
    tweak: impl FnOnce(&mut WorkerConfig),
) -> Option<Cluster> {
    let server = postgres::blocking(postgres::PgServer::get)?;
    let db =
        tether_relay::store::Location::Postgres(postgres::blocking(|| server.fresh_database()));
    // With Redis (where installed) a commit on one node reaches the others' readers at once,
    // so what is measured is the failover, not the database poll.
    let redis = redis::RedisServer::start();
    let follow = tether_relay::nodes::NodesConfig {
        redis_url: redis.as_ref().map(|r| r.url()),
        ..Default::default()
    };
    let nodes = || follow.clone();
    let pair = [
        KillableNode::start(db.clone(), nodes(), |_| {}).await,
        KillableNode::start(db.clone(), nodes(), |_| {}).await,
    ];
    let phone = TestRelay::start_node(db, tempfile::tempdir().unwrap(), |_| {}, nodes()).await;
    let proxy = TcpProxy::start(pair.iter().map(|n| n.addr).collect(), Pick::InOrder).await;
    let (credentials, _) = phone.credentials("ada").await;
    let cookie = phone.browser_login("ada").await;
    let session = phone.session(&credentials).await;
    let mut config = phone.worker(&credentials, &session, transport);
    let api = Api::new(&proxy.url()).unwrap();
    config.tokens = TokenSource::new(api.clone(), credentials.clone());
    config.api = api;
    tweak(&mut config);
    let (worker, inbound) = tether_bridge::spawn(config);
    wait_status(&worker, Duration::from_secs(20), |s| {
        *s == tether_bridge::Status::Online
    })
    .await;
    Some(Cluster {
        pair,
        phone,
        proxy,
        cookie,
        session,
        worker,
        inbound,
        redis,
    })
}

/// Resolves with the time from now until the worker next reads Online after a change (it
/// never does if the worker never left Online). The status changes only for real, so a change
/// that reads Online is the worker back after noticing, however briefly, that it was cut off.
pub fn back_online(worker: &tether_bridge::WorkerHandle) -> tokio::task::JoinHandle<Duration> {
    let mut status = worker.status();
    status.borrow_and_update();
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        let waited = tokio::time::timeout(Duration::from_secs(20), async {
            while status.changed().await.is_ok() {
                if *status.borrow_and_update() == tether_bridge::Status::Online {
                    return;
                }
            }
        });
        waited.await.expect("the worker is back online");
        started.elapsed()
    })
}

/// The `p`th percentile of `samples` (nearest rank), for the benches.
pub fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (p * sorted.len()).div_ceil(100).max(1) - 1;
    sorted[rank.min(sorted.len() - 1)]
}

/// Subscribe a browser of the account of `credentials` to Web Push as device `phone`, at the
/// tests' push service, for `kinds` (all when empty).
pub async fn push_subscribe(
    relay: &TestRelay,
    credentials: &Credentials,
    sub: &TestSubscription,
    kinds: &[&str],
) {
    push_subscribe_as(relay, credentials, sub, "phone", kinds).await;
}

/// The same as device `device`.
pub async fn push_subscribe_as(
    relay: &TestRelay,
    credentials: &Credentials,
    sub: &TestSubscription,
    device: &str,
    kinds: &[&str],
) {
    let mut body = serde_json::json!({"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}});
    if !kinds.is_empty() {
        body["kinds"] = serde_json::json!(kinds);
    }
    let put = relay
        .http
        .put(relay.at(&format!("/v1/push/subscriptions/{device}")))
        .bearer_auth(&credentials.access_token)
        .json(&body)
        .send()
        .await
        .expect("the relay answers");
    assert_eq!(put.status().as_u16(), 200, "subscribing");
}
