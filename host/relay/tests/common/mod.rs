//! Shared by the relay's integration tests: a real relay on a loopback port with a real SQLite
//! file, and the HTTP, SSE and WebSocket plumbing to drive it as the CLI, a browser and a
//! worker would.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tether_protocol::api::{
    BridgeGrant, DeviceCode, DeviceEnrolled, SessionCreated, TokenResponse,
};
use tether_protocol::{Event, NewEvent};
use tether_relay::{Relay, RelayConfig, users};

pub const PASSWORD: &str = "correct horse battery";

pub struct TestRelay {
    pub relay: Option<Relay>,
    pub url: String,
    pub addr: SocketAddr,
    pub db: PathBuf,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// Timings short enough for tests: keepalives every 200 ms, workers offline after 1 s of
/// silence, device polling every second.
pub fn test_config(db: PathBuf) -> RelayConfig {
    let mut config = RelayConfig::new(db);
    config.liveness.keepalive = Duration::from_millis(200);
    config.liveness.worker_timeout = Duration::from_secs(1);
    config.liveness.sweep_interval = Duration::from_millis(100);
    config.lifetimes.device_poll_interval = Duration::from_secs(1);
    // `/metrics` is never on the public listener by default: tests read it where an operator's
    // scraper would, on a loopback listener of its own.
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    config
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl TestRelay {
    pub async fn start() -> TestRelay {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut RelayConfig)) -> TestRelay {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("relay.db");
        let mut config = test_config(db.clone());
        tweak(&mut config);
        let relay = Relay::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        TestRelay {
            url: relay.public_url().to_owned(),
            addr: relay.addr(),
            relay: Some(relay),
            db,
            dir,
            http: client(),
        }
    }

    /// Stop the relay and start a new one on the same database (a different port).
    pub async fn restart_with(&mut self, tweak: impl FnOnce(&mut RelayConfig)) {
        if let Some(relay) = self.relay.take() {
            relay.stop().await.unwrap();
        }
        let mut config = test_config(self.db.clone());
        tweak(&mut config);
        let relay = Relay::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        self.url = relay.public_url().to_owned();
        self.addr = relay.addr();
        self.relay = Some(relay);
    }

    pub fn add_user(&self, name: &str) {
        users::add(&self.db, name, PASSWORD).unwrap();
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
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

    /// `POST /v1/oauth/token` as the CLI refreshing with `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post("/v1/oauth/token")
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", "tether-cli"),
            ])
            .send()
            .await
            .unwrap()
    }

    /// The running relay (for what only the embedding process can do).
    pub fn server(&self) -> &Relay {
        self.relay.as_ref().expect("the relay is running")
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

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// `POST /login` as a browser would (with our Origin). Returns the `Cookie` header value.
    pub async fn browser_login(&self, name: &str) -> String {
        let response = self
            .http
            .post(self.at("/login"))
            .header("origin", &self.url)
            .form(&[
                ("username", name),
                ("password", PASSWORD),
                ("next", "/code"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login of {name}");
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
        set_cookie.split(';').next().unwrap().to_owned()
    }

    pub async fn device_code(&self) -> DeviceCode {
        let response = self
            .http
            .post(self.at("/v1/oauth/device/code"))
            .form(&[("client_id", "tether-cli")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// `POST /device` with a browser cookie: approve or deny a CLI login.
    pub async fn decide(&self, cookie: &str, user_code: &str, decision: &str) -> reqwest::Response {
        self.http
            .post(self.at("/device"))
            .header("origin", &self.url)
            .header("cookie", cookie)
            .form(&[("user_code", user_code), ("decision", decision)])
            .send()
            .await
            .unwrap()
    }

    /// One poll of the token endpoint: `Ok(tokens)` or `Err((status, error code))`.
    pub async fn poll_token(
        &self,
        device_code: &str,
    ) -> Result<TokenResponse, (StatusCode, String)> {
        let response = self
            .http
            .post(self.at("/v1/oauth/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code),
                ("client_id", "tether-cli"),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status == StatusCode::OK {
            Ok(serde_json::from_value(body).unwrap())
        } else {
            Err((
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            ))
        }
    }

    /// The whole CLI login: device code, browser login, approval, token.
    pub async fn cli_login(&self, name: &str) -> TokenResponse {
        let code = self.device_code().await;
        let cookie = self.browser_login(name).await;
        let approved = self.decide(&cookie, &code.user_code, "approve").await;
        assert_eq!(approved.status(), StatusCode::OK);
        self.poll_token(&code.device_code).await.unwrap()
    }

    pub async fn enroll(&self, access: &str) -> DeviceEnrolled {
        let response = self
            .http
            .post(self.at("/v1/auth/trusted_devices"))
            .bearer_auth(access)
            .json(&json!({"display_name": "test machine"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub async fn create_session(&self, access: &str) -> SessionCreated {
        let response = self
            .http
            .post(self.at("/v1/code/sessions"))
            .bearer_auth(access)
            .json(&json!({"title": "test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub async fn bridge(&self, access: &str, device_token: &str, session: &str) -> BridgeGrant {
        let response = self
            .http
            .post(self.at(&format!("/v1/code/sessions/{session}/bridge")))
            .bearer_auth(access)
            .header("x-trusted-device-token", device_token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// A user logged in on the CLI with a trusted device, owning one session with a
    /// registered worker.
    pub async fn setup(&self, name: &str) -> Setup {
        self.add_user(name);
        let tokens = self.cli_login(name).await;
        let device = self.enroll(&tokens.access_token).await;
        let session = self.create_session(&tokens.access_token).await;
        let grant = self
            .bridge(
                &tokens.access_token,
                &device.device_token,
                session.id.as_str(),
            )
            .await;
        Setup {
            access: tokens.access_token,
            refresh: tokens.refresh_token,
            device: device.device_token,
            session: session.id.to_string(),
            grant,
        }
    }

    pub async fn publish_client(
        &self,
        access: &str,
        session: &str,
        events: &[NewEvent],
    ) -> reqwest::Response {
        self.http
            .post(self.at(&format!("/v1/code/sessions/{session}/events")))
            .bearer_auth(access)
            .json(&json!({ "events": events }))
            .send()
            .await
            .unwrap()
    }

    pub async fn publish_worker(
        &self,
        grant: &BridgeGrant,
        session: &str,
        events: &[NewEvent],
    ) -> reqwest::Response {
        self.http
            .post(self.at(&format!("/v1/code/sessions/{session}/worker/events")))
            .bearer_auth(&grant.worker_jwt)
            .json(&json!({ "worker_epoch": grant.worker_epoch, "events": events }))
            .send()
            .await
            .unwrap()
    }
}

pub struct Setup {
    pub access: String,
    pub refresh: String,
    pub device: String,
    pub session: String,
    pub grant: BridgeGrant,
}

pub fn event(kind: &str, payload: Value) -> NewEvent {
    NewEvent::new(kind, payload)
}

pub fn user_message(text: &str) -> NewEvent {
    event("user_message", json!({"text": text, "origin": "client"}))
}

/// One frame of a Server-Sent Events stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Event { id: Option<String>, data: String },
    Comment(String),
}

impl Frame {
    pub fn event(&self) -> Option<Event> {
        match self {
            Frame::Event { data, .. } => Some(serde_json::from_str(data).expect("events are JSON")),
            Frame::Comment(_) => None,
        }
    }
}

/// A minimal SSE reader over a reqwest response (the spec's line format, enough for tests).
pub struct Sse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl Sse {
    pub async fn open(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Sse {
        let mut request = http.get(url).header("accept", "text/event-stream");
        for (k, v) in headers {
            request = request.header(*k, HeaderValue::from_str(v).unwrap());
        }
        let response = request.send().await.unwrap();
        Sse {
            status: response.status(),
            headers: response.headers().clone(),
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next frame, or `None` when the stream ends or nothing comes within `wait`.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = Vec::new();
                let mut comment = None;
                for line in block.lines() {
                    if let Some(rest) = line.strip_prefix(':') {
                        comment = Some(rest.trim().to_owned());
                    } else if let Some(rest) = line.strip_prefix("id:") {
                        id = Some(rest.trim().to_owned());
                    } else if let Some(rest) = line.strip_prefix("data:") {
                        data.push(rest.strip_prefix(' ').unwrap_or(rest).to_owned());
                    }
                }
                if !data.is_empty() {
                    return Some(Frame::Event {
                        id,
                        data: data.join("\n"),
                    });
                }
                if let Some(c) = comment {
                    return Some(Frame::Comment(c));
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.ok()?));
        }
    }

    /// The next event, skipping keepalive comments.
    pub async fn next_event(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await? {
                Frame::Comment(_) => continue,
                frame => return frame.event(),
            }
        }
    }

    /// Every event that arrives within `wait`.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(e) = self.next_event(wait).await {
            out.push(e);
        }
        out
    }
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Open a WebSocket with extra headers (Authorization, Cookie, Origin).
pub async fn ws_connect(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().unwrap();
    for (k, v) in headers {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// The next JSON text frame (events, acks, errors), skipping pings; `None` on close or timeout.
pub async fn ws_next(ws: &mut Ws, wait: Duration) -> Option<Value> {
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

pub async fn ws_send(ws: &mut Ws, value: &Value) {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}
