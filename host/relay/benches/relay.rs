//! The relay benchmark: round trips, idle sessions and fan-out, each set against a baseline
//! measured in the same run. BENCHMARKS.md ("Relay") records the figures.
//!
//! ```sh
//! cargo bench -p tether-relay --bench relay                 # everything
//! cargo bench -p tether-relay --bench relay -- rtt --quick  # a subset, fewer samples
//! ```
//!
//! Sections: `rtt`, `idle-sse`, `idle-ws`, `fanout`, `halfopen`, `nodes`, `appends`; `idle` selects both
//! idle sections. `rtt` and `nodes` use PostgreSQL where it is installed (a server of the
//! bench's own, as the tests start it).
//!
//! The relay under test runs in a child process (this binary again, with
//! `TETHER_BENCH_ROLE=relay`): a production configuration (trusted devices required) on a fresh
//! SQLite file, on `127.0.0.1:0`, with the default runtime. The baselines run in a second child
//! (`TETHER_BENCH_ROLE=baseline`) so that both sides cross the same process boundary. Tokens come
//! from the real login: device code, browser login, approval, token, trusted device, `/bridge`.
//!
//! `cargo test --benches` (or `--all-targets`) runs this binary without `--bench`; it then exits
//! at once.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use memchr::memmem;
use serde_json::{Value, json};
use tether_protocol::NewEvent;
use tether_protocol::api::{
    BridgeGrant, DeviceCode, DeviceEnrolled, SessionCreated, TokenResponse,
};
use tether_relay::{Relay, RelayConfig, users};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use common::{ROLE, Server};

const USER: &str = "bench";
const PASSWORD: &str = "correct horse battery";
/// 64 characters of message text: a short chat line.
const TEXT: &str = "Run the tests again and tell me which ones fail, with a summary.";
/// Loopback source addresses for the many-connection section (28k ephemeral ports each).
const SOURCES: [Ipv4Addr; 4] = [
    Ipv4Addr::new(127, 0, 0, 1),
    Ipv4Addr::new(127, 0, 0, 2),
    Ipv4Addr::new(127, 0, 0, 3),
    Ipv4Addr::new(127, 0, 0, 4),
];
const NOFILE: u64 = 200_000;
/// What the bench's relay asks of `/metrics` scrapers on its public listener.
const METRICS_TOKEN: &str = "bench-metrics-token";

fn main() -> anyhow::Result<()> {
    match std::env::var(ROLE).as_deref() {
        Ok("relay") => return child_role(relay_role()),
        Ok("baseline") => return child_role(baseline_role()),
        _ => {}
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("relay bench: skipped (run it with `cargo bench -p tether-relay --bench relay`)");
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick");
    let wanted: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .cloned()
        .collect();
    let selected = |name: &str| {
        wanted.is_empty()
            || wanted
                .iter()
                .any(|w| name == w || name.starts_with(&format!("{w}-")))
    };
    raise_nofile(NOFILE);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        println!(
            "relay bench{} — {} cores; relay and baselines in child processes",
            if quick { " (--quick)" } else { "" },
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        if selected("rtt") {
            rtt(quick).await.context("rtt")?;
        }
        if selected("idle-sse") {
            idle(quick, Transport::Sse).await.context("idle-sse")?;
        }
        if selected("idle-ws") {
            idle(quick, Transport::Ws).await.context("idle-ws")?;
        }
        if selected("fanout") {
            fanout(quick).await.context("fanout")?;
        }
        if selected("halfopen") {
            halfopen().await.context("halfopen")?;
        }
        if selected("nodes") {
            nodes(quick).await.context("nodes")?;
        }
        if selected("appends") {
            concurrent_appends(quick).await.context("appends")?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Child processes

fn raise_nofile(n: u64) {
    // SAFETY: plain libc calls on a stack value.
    unsafe {
        let want = libc::rlimit {
            rlim_cur: n,
            rlim_max: n,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &want) != 0 {
            // No CAP_SYS_RESOURCE (some containers drop it even for root): take the hard limit.
            let mut cur: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) == 0 {
                cur.rlim_cur = cur.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &cur);
            }
        }
    }
}

fn nofile() -> u64 {
    // SAFETY: as above.
    unsafe {
        let mut cur: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur);
        cur.rlim_cur
    }
}

/// Set by the half-open section: the relay child runs with this RLIMIT_NOFILE instead.
const CHILD_NOFILE: &str = "TETHER_BENCH_NOFILE";

fn child_role(role: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    match std::env::var(CHILD_NOFILE)
        .ok()
        .and_then(|n| n.parse().ok())
    {
        // Lowering needs no privilege, and lowering both limits keeps it lowered.
        Some(n) => raise_nofile(n),
        None => raise_nofile(NOFILE),
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(role)
}

/// The parent closes our stdin to stop us (or dies, which does the same).
async fn parent_gone() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    })
    .await;
}

fn announce(addrs: &[SocketAddr]) {
    use std::io::Write as _;
    let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ADDR {}", list.join(" "));
    let _ = out.flush();
}

/// A fresh database on a PostgreSQL server of the bench's own (test_support), when PostgreSQL
/// is installed. (Its client is a blocking one, which must not run on the async threads.)
async fn postgres_database() -> anyhow::Result<Option<String>> {
    Ok(tokio::task::spawn_blocking(|| {
        tether_relay::test_support::postgres::PgServer::get().map(|pg| pg.fresh_database())
    })
    .await?)
}

/// Set for a relay child on PostgreSQL instead of a SQLite file: the database's URL.
const DATABASE_URL: &str = "TETHER_BENCH_DATABASE_URL";

async fn relay_role() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store: tether_relay::store::Location = match std::env::var(DATABASE_URL) {
        Ok(url) => tether_relay::store::Location::Postgres(url),
        Err(_) => dir.path().join("relay.db").as_path().into(),
    };
    // Nodes on one PostgreSQL database share the account: the first to start adds it.
    if let Err(e) = users::add(&store, USER, PASSWORD)
        && !e.to_string().contains("already exists")
    {
        return Err(e);
    }
    let mut config = RelayConfig::new(store);
    assert!(config.require_trusted_device, "production default");
    config.limits.max_sessions_per_account = 1_000_000;
    // The idle section holds two streams per session, all on one account.
    config.limits.max_streams_per_account = 1_000_000;
    config.metrics_token = Some(METRICS_TOKEN.into());
    let relay = Relay::start(config, "127.0.0.1:0".parse()?).await?;
    announce(&[relay.addr()]);
    parent_gone().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), relay.stop()).await;
    drop(dir);
    Ok(())
}

async fn baseline_role() -> anyhow::Result<()> {
    let echo = TcpListener::bind("127.0.0.1:0").await?;
    let fan = TcpListener::bind("127.0.0.1:0").await?;
    announce(&[echo.local_addr()?, fan.local_addr()?]);
    tokio::spawn(echo_server(echo));
    tokio::spawn(fanout_floor_server(fan));
    parent_gone().await;
    Ok(())
}

/// A bare WebSocket echo server: every text or binary message goes straight back.
async fn echo_server(listener: TcpListener) {
    while let Ok((tcp, _)) = listener.accept().await {
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            while let Some(Ok(m)) = ws.next().await {
                let echo = matches!(m, Message::Text(_) | Message::Binary(_));
                if matches!(m, Message::Close(_)) || (echo && ws.send(m).await.is_err()) {
                    return;
                }
            }
        });
    }
}

/// The floor for fan-out: what is left of a relay without HTTP routing, auth, JSON, storage or
/// a cursor. `GET` subscribes and gets a chunked `text/event-stream` response; a `POST` sends
/// newline-separated event JSON, and each line goes out to every subscriber as an SSE frame
/// (`id:` + `data:`, the relay's framing) through a tokio broadcast channel.
async fn fanout_floor_server(listener: TcpListener) {
    let (tx, _) = tokio::sync::broadcast::channel::<Bytes>(1 << 16);
    while let Ok((mut tcp, _)) = listener.accept().await {
        let tx = tx.clone();
        tokio::spawn(async move {
            let Ok((head, mut rest)) = read_head(&mut tcp).await else {
                return;
            };
            if head.starts_with("GET") {
                let mut rx = tx.subscribe();
                let ok = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                if tcp.write_all(ok).await.is_err() {
                    return;
                }
                loop {
                    match rx.recv().await {
                        Ok(frame) => {
                            if tcp.write_all(&frame).await.is_err() {
                                return;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            eprintln!("fan-out floor: a subscriber lagged by {n}");
                        }
                        Err(_) => return,
                    }
                }
            } else {
                let mut seq = 0u64;
                let mut start = 0;
                loop {
                    while let Some(nl) = memchr::memchr(b'\n', &rest[start..]) {
                        let line = &rest[start..start + nl];
                        seq += 1;
                        let data =
                            format!("id: {seq}\ndata: {}\n\n", String::from_utf8_lossy(line));
                        let _ = tx.send(Bytes::from(format!("{:x}\r\n{data}\r\n", data.len())));
                        start += nl + 1;
                    }
                    rest.drain(..start);
                    start = 0;
                    match tcp.read_buf(&mut rest).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The API as the CLI, a worker and a client use it

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    addr: SocketAddr,
    base: String,
    access: String,
    device: String,
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .expect("reqwest client")
}

async fn expect(response: reqwest::Response, status: u16, what: &str) -> anyhow::Result<Bytes> {
    let got = response.status();
    let body = response.bytes().await?;
    ensure!(
        got.as_u16() == status,
        "{what}: {got} {}",
        String::from_utf8_lossy(&body)
    );
    Ok(body)
}

impl Api {
    /// The whole CLI login against a fresh relay: device code, browser login and approval,
    /// token, trusted device.
    async fn login(addr: SocketAddr) -> anyhow::Result<Api> {
        let http = http_client();
        let base = format!("http://{addr}");
        let at = |p: &str| format!("{base}{p}");
        let r = http
            .post(at("/v1/oauth/device/code"))
            .form(&[("client_id", "tether-cli")])
            .send()
            .await?;
        let code: DeviceCode = serde_json::from_slice(&expect(r, 200, "device code").await?)?;
        let r = http
            .post(at("/login"))
            .header("origin", &base)
            .form(&[
                ("username", USER),
                ("password", PASSWORD),
                ("next", "/code"),
            ])
            .send()
            .await?;
        let cookie = r
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no login cookie"))?;
        expect(r, 303, "browser login").await?;
        let r = http
            .post(at("/device"))
            .header("origin", &base)
            .header("cookie", &cookie)
            .form(&[
                ("user_code", code.user_code.as_str()),
                ("decision", "approve"),
            ])
            .send()
            .await?;
        expect(r, 200, "approval").await?;
        let r = http
            .post(at("/v1/oauth/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", code.device_code.as_str()),
                ("client_id", "tether-cli"),
            ])
            .send()
            .await?;
        let tokens: TokenResponse = serde_json::from_slice(&expect(r, 200, "token").await?)?;
        let r = http
            .post(at("/v1/auth/trusted_devices"))
            .bearer_auth(&tokens.access_token)
            .json(&json!({"display_name": "bench"}))
            .send()
            .await?;
        let device: DeviceEnrolled =
            serde_json::from_slice(&expect(r, 201, "trusted device").await?)?;
        Ok(Api {
            http,
            addr,
            base,
            access: tokens.access_token,
            device: device.device_token,
        })
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn create_session(&self) -> anyhow::Result<String> {
        let r = self
            .http
            .post(self.at("/v1/code/sessions"))
            .bearer_auth(&self.access)
            .json(&json!({"title": "bench"}))
            .send()
            .await?;
        let s: SessionCreated = serde_json::from_slice(&expect(r, 201, "create session").await?)?;
        Ok(s.id.to_string())
    }

    async fn bridge(&self, session: &str) -> anyhow::Result<BridgeGrant> {
        let r = self
            .http
            .post(self.at(&format!("/v1/code/sessions/{session}/bridge")))
            .bearer_auth(&self.access)
            .header("x-trusted-device-token", &self.device)
            .json(&json!({}))
            .send()
            .await?;
        Ok(serde_json::from_slice(&expect(r, 200, "bridge").await?)?)
    }

    /// A session with a registered worker.
    async fn session(&self) -> anyhow::Result<(String, BridgeGrant)> {
        let id = self.create_session().await?;
        let grant = self.bridge(&id).await?;
        Ok((id, grant))
    }

    /// `POST …/worker/events` with a body serialised beforehand.
    async fn post_worker(&self, session: &str, jwt: &str, body: String) -> anyhow::Result<()> {
        let r = self
            .http
            .post(self.at(&format!("/v1/code/sessions/{session}/worker/events")))
            .bearer_auth(jwt)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        expect(r, 200, "worker publish").await?;
        Ok(())
    }

    /// The relay's writes and commits so far (`/metrics`); `None` from a relay that does not
    /// count them.
    async fn store_counts(&self) -> anyhow::Result<Option<(u64, u64)>> {
        let r = self
            .http
            .get(self.at("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await?;
        let body = expect(r, 200, "metrics").await?;
        let text = String::from_utf8_lossy(&body);
        let counter = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
        };
        Ok(counter("tether_relay_store_writes_total ")
            .zip(counter("tether_relay_store_commits_total ")))
    }

    async fn post_client(&self, session: &str, body: String) -> anyhow::Result<()> {
        let r = self
            .http
            .post(self.at(&format!("/v1/code/sessions/{session}/events")))
            .bearer_auth(&self.access)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        expect(r, 200, "client publish").await?;
        Ok(())
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn user_message(text: &str) -> NewEvent {
    NewEvent::new("user_message", json!({"text": text, "origin": "client"}))
}

/// What the worker answers a user message with.
fn reply_to(message_id: &str) -> NewEvent {
    NewEvent::new(
        "assistant_message",
        json!({
            "message_id": message_id,
            "text": TEXT,
            "usage": {"input_tokens": 12, "output_tokens": 34},
        }),
    )
}

fn assistant_delta(text: &str) -> NewEvent {
    NewEvent::new("assistant_delta", json!({"message_id": "m1", "text": text}))
}

/// An event as streams deliver it, for the baselines' message sizes.
fn delivered(event: &NewEvent, seq: u64, source: &str) -> String {
    json!({
        "seq": seq, "id": event.id, "type": event.kind, "source": source,
        "created_at": "2026-11-24T10:00:00Z", "payload": event.payload,
    })
    .to_string()
}

fn worker_body(epoch: u64, events: &[NewEvent]) -> String {
    json!({"worker_epoch": epoch, "events": events}).to_string()
}

fn client_body(events: &[NewEvent]) -> String {
    json!({"events": events}).to_string()
}

// ---------------------------------------------------------------------------------------------
// Streams

/// An SSE reader over a reqwest response, framed by `tether-sse`: yields each event's `data`.
struct SseReader {
    body: Pin<Box<dyn futures::Stream<Item = reqwest::Result<Bytes>> + Send>>,
    parser: tether_sse::Parser,
    /// Data of events a chunk completed that have not been asked for yet.
    ready: std::collections::VecDeque<String>,
}

impl SseReader {
    async fn open(http: &reqwest::Client, url: &str, bearer: &str) -> anyhow::Result<SseReader> {
        let r = http
            .get(url)
            .bearer_auth(bearer)
            .header("accept", "text/event-stream")
            .send()
            .await?;
        ensure!(r.status() == 200, "{url}: {}", r.status());
        Ok(SseReader {
            body: Box::pin(r.bytes_stream()),
            parser: tether_sse::Parser::new(64 << 20),
            ready: Default::default(),
        })
    }

    /// The next event's data (keepalive comments skipped); `None` when the stream ends.
    async fn next_data(&mut self) -> Option<String> {
        loop {
            if let Some(data) = self.ready.pop_front() {
                return Some(data);
            }
            let chunk = self.body.next().await?.ok()?;
            let items = self.parser.push(&chunk).ok()?;
            self.ready
                .extend(items.into_iter().filter_map(|item| match item {
                    tether_sse::Item::Event(e) => Some(e.data),
                    tether_sse::Item::Comment(_) | tether_sse::Item::Retry(_) => None,
                }));
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn ws_open(url: &str, bearer: &str) -> anyhow::Result<Ws> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {bearer}").parse()?);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
    Ok(ws)
}

/// The next text frame; `None` on close or error.
async fn ws_text<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return Some(t.as_str().to_owned()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

async fn connect_from(addr: SocketAddr, source: Option<Ipv4Addr>) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip.into(), 0))?;
    }
    socket.connect(addr).await
}

/// Read up to the end of an HTTP head; returns it and the bytes after it.
async fn read_head(tcp: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(512);
    loop {
        if let Some(end) = memmem::find(&buf, b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if tcp.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// An SSE stream opened by hand on a raw socket (light on the client side, and it lets us pick
/// the source address). Returns the socket once the `200` head is in, and any body bytes read.
async fn raw_sse(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
    path: &str,
    bearer: &str,
) -> anyhow::Result<(TcpStream, Vec<u8>)> {
    let mut tcp = connect_from(addr, source).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {bearer}\r\naccept: text/event-stream\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let (head, rest) = read_head(&mut tcp).await?;
    ensure!(
        head.starts_with("HTTP/1.1 200"),
        "GET {path}: {}",
        head.lines().next().unwrap_or("")
    );
    Ok((tcp, rest))
}

/// Counts a pattern in a byte stream that arrives in arbitrary pieces.
struct Counter {
    finder: memmem::Finder<'static>,
    tail: Vec<u8>,
    work: Vec<u8>,
}

impl Counter {
    fn new(pattern: &'static [u8]) -> Counter {
        Counter {
            finder: memmem::Finder::new(pattern),
            tail: Vec::new(),
            work: Vec::new(),
        }
    }

    fn feed(&mut self, data: &[u8]) -> usize {
        self.work.clear();
        self.work.extend_from_slice(&self.tail);
        self.work.extend_from_slice(data);
        let n = self.finder.find_iter(&self.work).count();
        let keep = self.finder.needle().len() - 1;
        let from = self.work.len().saturating_sub(keep);
        self.tail.clear();
        self.tail.extend_from_slice(&self.work[from..]);
        n
    }
}

/// Read until `pattern` has been seen `want` times; when that happened.
async fn count_until(
    mut tcp: TcpStream,
    first: Vec<u8>,
    pattern: &'static [u8],
    want: usize,
) -> anyhow::Result<Instant> {
    let mut counter = Counter::new(pattern);
    let mut seen = counter.feed(&first);
    let mut buf = vec![0u8; 64 * 1024];
    while seen < want {
        let n = tcp.read(&mut buf).await?;
        ensure!(n > 0, "the stream ended after {seen} of {want} events");
        seen += counter.feed(&buf[..n]);
    }
    Ok(Instant::now())
}

// ---------------------------------------------------------------------------------------------
// Statistics and tables

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Latency {
    p50: Duration,
    p90: Duration,
    p99: Duration,
    n: usize,
}

fn latency(mut samples: Vec<Duration>) -> Latency {
    samples.sort();
    Latency {
        p50: percentile(&samples, 0.50),
        p90: percentile(&samples, 0.90),
        p99: percentile(&samples, 0.99),
        n: samples.len(),
    }
}

fn kib(k: u64) -> String {
    if k >= 10 * 1024 {
        format!("{:.1} MiB", k as f64 / 1024.0)
    } else {
        format!("{k} KiB")
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Round trips

/// One round trip's sampler.
#[allow(async_fn_in_trait)]
trait RoundTrip {
    async fn once(&mut self) -> anyhow::Result<Duration>;
}

/// Client → echo server → client over a bare WebSocket, with a message the size of a delivered
/// event.
struct Echo {
    ws: Ws,
    message: String,
}

impl RoundTrip for Echo {
    async fn once(&mut self) -> anyhow::Result<Duration> {
        let t0 = Instant::now();
        self.ws
            .send(Message::Text(self.message.clone().into()))
            .await?;
        ws_text(&mut self.ws)
            .await
            .ok_or_else(|| anyhow!("echo closed"))?;
        Ok(t0.elapsed())
    }
}

/// Client publishes with `POST …/events` and reads its SSE stream; the worker reads its SSE
/// stream and answers with `POST …/worker/events`. One reqwest client (keep-alive) for all.
struct SseTrip {
    api: Api,
    session: String,
    client: SseReader,
    _worker: tokio::task::JoinHandle<()>,
}

impl SseTrip {
    async fn start(api: &Api) -> anyhow::Result<SseTrip> {
        let (session, grant) = api.session().await?;
        let mut worker = SseReader::open(
            &api.http,
            &api.at(&format!("/v1/code/sessions/{session}/worker/events/stream")),
            &grant.worker_jwt,
        )
        .await?;
        let client = SseReader::open(
            &api.http,
            &api.at(&format!("/v1/code/sessions/{session}/events/stream")),
            &api.access,
        )
        .await?;
        let (w_api, w_session) = (api.clone(), session.clone());
        let worker = tokio::spawn(async move {
            while let Some(data) = worker.next_data().await {
                let event: Value = serde_json::from_str(&data).expect("events are JSON");
                if event["type"] != "user_message" {
                    continue;
                }
                let reply = reply_to(event["id"].as_str().unwrap_or_default());
                let body = worker_body(grant.worker_epoch, &[reply]);
                if let Err(e) = w_api.post_worker(&w_session, &grant.worker_jwt, body).await {
                    eprintln!("worker: {e:#}");
                    return;
                }
            }
        });
        Ok(SseTrip {
            api: api.clone(),
            session,
            client,
            _worker: worker,
        })
    }
}

impl RoundTrip for SseTrip {
    async fn once(&mut self) -> anyhow::Result<Duration> {
        let message = user_message(TEXT);
        let id = message.id.clone();
        let body = client_body(&[message]);
        let t0 = Instant::now();
        let post = self.api.post_client(&self.session, body);
        let client = &mut self.client;
        let reply = async {
            while let Some(data) = client.next_data().await {
                if data.contains("\"assistant_message\"") && data.contains(&id) {
                    return Ok(t0.elapsed());
                }
            }
            Err(anyhow!("the client stream ended"))
        };
        let (posted, rtt) = tokio::join!(post, reply);
        posted?;
        rtt
    }
}

/// Both sides on WebSockets, writing over the socket. The worker asks for its acks, as the
/// bridge does; the client asks for none when `client_acks` is false, as the web page does (it
/// sees its own events come back).
struct WsTrip {
    client: Ws,
    client_acks: bool,
    _worker: tokio::task::JoinHandle<()>,
}

impl WsTrip {
    async fn start(api: &Api, client_acks: bool) -> anyhow::Result<WsTrip> {
        let (session, grant) = api.session().await?;
        let base = format!("ws://{}/v1/code/sessions/{session}", api.addr);
        let mut worker = ws_open(&format!("{base}/worker/ws"), &grant.worker_jwt).await?;
        let client = ws_open(&format!("{base}/ws"), &api.access).await?;
        let worker = tokio::spawn(async move {
            while let Some(text) = ws_text(&mut worker).await {
                if !text.contains("\"user_message\"") {
                    continue; // acks, presence
                }
                let event: Value = serde_json::from_str(&text).expect("events are JSON");
                let reply = reply_to(event["id"].as_str().unwrap_or_default());
                let body = worker_body(grant.worker_epoch, &[reply]);
                if worker.send(Message::Text(body.into())).await.is_err() {
                    return;
                }
            }
        });
        Ok(WsTrip {
            client,
            client_acks,
            _worker: worker,
        })
    }
}

impl RoundTrip for WsTrip {
    async fn once(&mut self) -> anyhow::Result<Duration> {
        let message = user_message(TEXT);
        let id = message.id.clone();
        let body = match self.client_acks {
            true => client_body(&[message]),
            false => json!({"events": [message], "ack": false}).to_string(),
        };
        let t0 = Instant::now();
        self.client.send(Message::Text(body.into())).await?;
        while let Some(text) = ws_text(&mut self.client).await {
            if text.contains("\"assistant_message\"") && text.contains(&id) {
                return Ok(t0.elapsed());
            }
        }
        bail!("the client socket closed")
    }
}

async fn sample(
    trip: &mut impl RoundTrip,
    n: usize,
    into: &mut Vec<Duration>,
) -> anyhow::Result<()> {
    for _ in 0..n {
        into.push(trip.once().await?);
    }
    Ok(())
}

enum Trip {
    Echo(Echo),
    Sse(SseTrip),
    Ws(WsTrip),
    /// `GET /healthz`: what one HTTP exchange with the relay costs, without auth or storage.
    Health(Api),
}

impl RoundTrip for Trip {
    async fn once(&mut self) -> anyhow::Result<Duration> {
        match self {
            Trip::Echo(t) => t.once().await,
            Trip::Sse(t) => t.once().await,
            Trip::Ws(t) => t.once().await,
            Trip::Health(api) => {
                let t0 = Instant::now();
                expect(
                    api.http.get(api.at("/healthz")).send().await?,
                    200,
                    "healthz",
                )
                .await?;
                Ok(t0.elapsed())
            }
        }
    }
}

async fn rtt(quick: bool) -> anyhow::Result<()> {
    let (warmup, rounds, mut per_round) = if quick { (100, 2, 150) } else { (300, 4, 500) };
    // For profiling: `TETHER_BENCH_RTT_ROUND=20000` keeps the round trips going for longer.
    if let Some(n) = std::env::var("TETHER_BENCH_RTT_ROUND")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        per_round = n;
    }
    let relay = Server::spawn("relay", &[])?;
    let baseline = Server::spawn("baseline", &[])?;
    let api = Api::login(relay.addrs[0]).await?;
    // A diagnostic: the same relay with its database on tmpfs, to show what the disk costs.
    let shm = std::path::Path::new("/dev/shm").is_dir();
    let relay_shm = match shm {
        true => Some(Server::spawn("relay", &[("TMPDIR", "/dev/shm")])?),
        false => None,
    };
    let api_shm = match &relay_shm {
        Some(r) => Some(Api::login(r.addrs[0]).await?),
        None => None,
    };
    let pg_url = postgres_database().await?;
    let relay_pg = match &pg_url {
        Some(url) => Some(Server::spawn("relay", &[(DATABASE_URL, url.as_str())])?),
        None => None,
    };
    let api_pg = match &relay_pg {
        Some(r) => Some(Api::login(r.addrs[0]).await?),
        None => None,
    };

    let probe = reply_to(&uuid());
    let message = delivered(&probe, 3, "worker");
    let echo = Echo {
        ws: ws_open(&format!("ws://{}/", baseline.addrs[0]), "-").await?,
        message: message.clone(),
    };
    let mut cases: Vec<(&str, Trip)> = vec![
        (
            "baseline: bare WebSocket echo (1 hop there and back)",
            Trip::Echo(echo),
        ),
        (
            "relay, SSE streams + HTTP POST (2 hops)",
            Trip::Sse(SseTrip::start(&api).await?),
        ),
        (
            "relay, WebSocket both sides (2 hops)",
            Trip::Ws(WsTrip::start(&api, false).await?),
        ),
        (
            "  the same, the client's writes acked too",
            Trip::Ws(WsTrip::start(&api, true).await?),
        ),
    ];
    if let Some(api) = &api_pg {
        cases.push((
            "relay on PostgreSQL, SSE + POST",
            Trip::Sse(SseTrip::start(api).await?),
        ));
        cases.push((
            "relay on PostgreSQL, WebSocket",
            Trip::Ws(WsTrip::start(api, false).await?),
        ));
    }
    cases.push((
        "  diagnostic: one GET /healthz (reqwest → relay → back)",
        Trip::Health(api.clone()),
    ));
    if let Some(api) = &api_shm {
        cases.push((
            "  diagnostic: SSE + POST, database on tmpfs",
            Trip::Sse(SseTrip::start(api).await?),
        ));
        cases.push((
            "  diagnostic: WebSocket, database on tmpfs",
            Trip::Ws(WsTrip::start(api, false).await?),
        ));
    }
    // The CPU the servers spend (every child: only the one a case talks to is busy meanwhile).
    // PostgreSQL's own processes are not children of ours and are not counted.
    let servers: Vec<&Server> = [
        Some(&relay),
        Some(&baseline),
        relay_shm.as_ref(),
        relay_pg.as_ref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let cpu = || servers.iter().map(|s| s.cpu_ns()).sum::<u64>();
    let mut sink = Vec::new();
    for (_, trip) in &mut cases {
        sample(trip, warmup, &mut sink).await?;
    }
    let mut samples: Vec<Vec<Duration>> = cases.iter().map(|_| Vec::new()).collect();
    let mut cpu_ns = vec![0u64; cases.len()];
    // Interleaved rounds, so that drift on a shared machine hits every case alike.
    for _ in 0..rounds {
        for (i, (_, trip)) in cases.iter_mut().enumerate() {
            let before = cpu();
            sample(trip, per_round, &mut samples[i]).await?;
            cpu_ns[i] += cpu().saturating_sub(before);
        }
    }
    let results: Vec<(&str, Latency, f64)> = cases
        .into_iter()
        .zip(samples)
        .zip(cpu_ns)
        .map(|(((name, _), samples), cpu)| {
            let n = samples.len().max(1) as f64;
            (name, latency(samples), cpu as f64 / 1000.0 / n)
        })
        .collect();
    let e = &results[0].1;
    println!();
    println!(
        "## rtt — client → relay → worker → relay → client, loopback; {} samples each after {warmup} warm-up; messages ≈ {} B as delivered",
        e.n,
        message.len()
    );
    println!(
        "{:<54} {:>8} {:>8} {:>8} {:>11} {:>11} {:>12}",
        "case", "p50 µs", "p90 µs", "p99 µs", "p50 ÷ echo", "p99 ÷ echo", "CPU µs/trip"
    );
    for (name, l, cpu) in &results {
        println!(
            "{name:<54} {:>8.0} {:>8.0} {:>8.0} {:>11.2} {:>11.2} {:>12.1}",
            us(l.p50),
            us(l.p90),
            us(l.p99),
            us(l.p50) / us(e.p50),
            us(l.p99) / us(e.p99),
            cpu
        );
    }
    println!(
        "targets: p50 ÷ echo ≤ 2.0 (WebSocket) and ≤ 3.0 (SSE) on SQLite; relay CPU ≤ 70 µs per trip"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. Idle sessions

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Sse,
    Ws,
}

const MARK_WORKER: &str = "bench-mark-from-worker";
const MARK_CLIENT: &str = "bench-mark-from-client";

#[derive(Default)]
struct Progress {
    opened: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
    wake: Notify,
}

impl Progress {
    fn bump(&self, counter: &AtomicUsize) {
        counter.fetch_add(1, Relaxed);
        self.wake.notify_one();
    }

    async fn wait(&self, counter: &AtomicUsize, want: usize, what: &str) -> anyhow::Result<()> {
        // Everything here takes seconds; a minute is a stream that will never get there.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let failed = self.failed.load(Relaxed);
            ensure!(
                failed == 0,
                "{failed} streams failed while waiting for {what}"
            );
            if counter.load(Relaxed) >= want {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "{what}: {} of {want} after 60 s",
                counter.load(Relaxed)
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), self.wake.notified()).await;
        }
    }
}

/// A stream released before it had all it needed: say what it got, for the failure.
fn missed(path: &str, needs: &[&str], got: &[u8]) {
    let text = String::from_utf8_lossy(got);
    let start = text.len().saturating_sub(2000);
    let tail = text.get(start..).unwrap_or(&text);
    eprintln!(
        "idle stream {path} released without {needs:?}: {} bytes, ending {tail:?}",
        got.len()
    );
}

/// One idle stream: open, then wait for the marker events, then stay open until `hold` flips.
#[allow(clippy::too_many_arguments)]
async fn idle_stream(
    transport: Transport,
    addr: SocketAddr,
    source: Ipv4Addr,
    path: String,
    bearer: String,
    needs: &'static [&'static str],
    progress: Arc<Progress>,
    permit: tokio::sync::OwnedSemaphorePermit,
    mut hold: watch::Receiver<bool>,
) {
    let fail = |e: anyhow::Error| {
        eprintln!("idle stream {path}: {e:#}");
        progress.bump(&progress.failed);
    };
    let done = |got: &[u8]| {
        needs
            .iter()
            .all(|m| memmem::find(got, m.as_bytes()).is_some())
    };
    match transport {
        Transport::Sse => {
            let (mut tcp, mut got) = match raw_sse(addr, Some(source), &path, &bearer).await {
                Ok(x) => x,
                Err(e) => return fail(e),
            };
            drop(permit);
            progress.bump(&progress.opened);
            loop {
                if done(&got) {
                    progress.bump(&progress.done);
                    drop(got);
                    let _ = hold.wait_for(|h| *h).await;
                    drop(tcp);
                    return;
                }
                tokio::select! {
                    r = tcp.read_buf(&mut got) => match r {
                        Ok(0) => return fail(anyhow!("the stream ended")),
                        Err(e) => return fail(e.into()),
                        Ok(_) => {}
                    },
                    _ = hold.wait_for(|h| *h) => return missed(&path, needs, &got),
                }
            }
        }
        Transport::Ws => {
            let config = WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(0);
            let connect = async {
                use tokio_tungstenite::tungstenite::client::IntoClientRequest;
                let tcp = connect_from(addr, Some(source)).await?;
                let mut request = format!("ws://{addr}{path}").into_client_request()?;
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {bearer}").parse()?);
                let (ws, _) =
                    tokio_tungstenite::client_async_with_config(request, tcp, Some(config)).await?;
                anyhow::Ok(ws)
            };
            let mut ws = match connect.await {
                Ok(ws) => ws,
                Err(e) => return fail(e),
            };
            drop(permit);
            progress.bump(&progress.opened);
            let mut got = Vec::new();
            loop {
                if done(&got) {
                    progress.bump(&progress.done);
                    let _ = hold.wait_for(|h| *h).await;
                    return;
                }
                tokio::select! {
                    m = ws_text(&mut ws) => match m {
                        Some(t) => got.extend_from_slice(t.as_bytes()),
                        None => return fail(anyhow!("the socket closed")),
                    },
                    _ = hold.wait_for(|h| *h) => return missed(&path, needs, &got),
                }
            }
        }
    }
}

async fn idle(quick: bool, transport: Transport) -> anyhow::Result<()> {
    let wanted: usize = if quick { 1_000 } else { 10_000 };
    // The relay holds two sockets per session, plus its database files, the listener and the
    // publishers' connections. Without CAP_SYS_RESOURCE the hard limit cannot be raised (the
    // sandbox this was written in stops at 20,000), so take as many sessions as fit.
    let limit = nofile() as usize;
    let n = wanted.min(limit.saturating_sub(200) / 2);
    if n < wanted {
        println!(
            "\nnote: RLIMIT_NOFILE is {limit} and cannot be raised here; {n} sessions instead of {wanted}"
        );
    }
    let name = match transport {
        Transport::Sse => "idle-sse — SSE worker stream + SSE client stream per session",
        Transport::Ws => "idle-ws — WebSocket worker + WebSocket client per session",
    };
    let relay = Server::spawn("relay", &[])?;
    let addr = relay.addrs[0];
    let api = Api::login(addr).await?;
    let settle = Duration::from_secs(if quick { 2 } else { 12 });
    let rss_start = relay.rss_kib();

    let t = Instant::now();
    let sessions: Vec<(String, BridgeGrant)> = futures::stream::iter(0..n)
        .map(|_| api.session())
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let create_time = t.elapsed();
    // Idle blocking-pool threads exit after 10 s; let them, so that thread stacks do not count.
    tokio::time::sleep(settle).await;
    let rss_sessions = relay.rss_kib();
    let threads_sessions = relay.threads();

    let progress = Arc::new(Progress::default());
    let (release, hold) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(16));
    let t = Instant::now();
    let ws = transport == Transport::Ws;
    let mut streams = Vec::with_capacity(2 * n);
    for (i, (session, grant)) in sessions.iter().enumerate() {
        let base = format!("/v1/code/sessions/{session}");
        let pairs: [(String, &String, &'static [&'static str]); 2] = [
            (
                format!(
                    "{base}/{}",
                    if ws {
                        "worker/ws"
                    } else {
                        "worker/events/stream"
                    }
                ),
                &grant.worker_jwt,
                &[MARK_CLIENT],
            ),
            (
                format!("{base}/{}", if ws { "ws" } else { "events/stream" }),
                &api.access,
                &[MARK_WORKER, MARK_CLIENT],
            ),
        ];
        for (k, (path, bearer, needs)) in pairs.into_iter().enumerate() {
            let permit = gate.clone().acquire_owned().await?;
            streams.push(tokio::spawn(idle_stream(
                transport,
                addr,
                SOURCES[(2 * i + k) % SOURCES.len()],
                path,
                bearer.clone(),
                needs,
                progress.clone(),
                permit,
                hold.clone(),
            )));
        }
    }
    progress
        .wait(&progress.opened, 2 * n, "streams to open")
        .await?;
    let open_time = t.elapsed();
    tokio::time::sleep(settle).await;
    let rss_idle = relay.rss_kib();
    let threads_idle = relay.threads();

    // One event from each side of every session, through the relay's HTTP API.
    let bodies: Vec<(String, String, String, String)> = sessions
        .iter()
        .map(|(s, g)| {
            let w = assistant_delta(MARK_WORKER);
            let c = user_message(MARK_CLIENT);
            (
                s.clone(),
                g.worker_jwt.clone(),
                worker_body(g.worker_epoch, &[w]),
                client_body(&[c]),
            )
        })
        .collect();
    let t = Instant::now();
    let posted: Vec<anyhow::Result<()>> = futures::stream::iter(bodies)
        .map(|(s, jwt, wb, cb)| {
            let api = api.clone();
            async move {
                api.post_worker(&s, &jwt, wb).await?;
                api.post_client(&s, cb).await
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    posted.into_iter().collect::<anyhow::Result<()>>()?;
    let post_time = t.elapsed();
    if let Err(e) = progress
        .wait(&progress.done, 2 * n, "every stream to get its events")
        .await
    {
        // The streams that did not get there say what they got.
        let _ = release.send(true);
        tokio::time::sleep(Duration::from_millis(500)).await;
        return Err(e);
    }
    let deliver_time = t.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = relay.rss_kib();
    let _ = release.send(true);
    for s in streams {
        let _ = s.await;
    }

    let per_session = (rss_idle.saturating_sub(rss_sessions)) as f64 / n as f64;
    println!();
    println!("## {name}; {n} sessions, {} streams", 2 * n);
    println!("{:<58} {:>12}", "relay process", "");
    println!("{:<58} {:>12}", "  RSS after login", kib(rss_start));
    println!(
        "{:<58} {:>12}",
        format!(
            "  RSS after creating + bridging {n} sessions ({:.1} s)",
            create_time.as_secs_f64()
        ),
        kib(rss_sessions)
    );
    println!(
        "{:<58} {:>12}",
        format!(
            "  RSS with all {} streams open, idle (opened in {:.1} s)",
            2 * n,
            open_time.as_secs_f64()
        ),
        kib(rss_idle)
    );
    println!(
        "{:<58} {:>12}",
        "  RSS after one event each way in every session",
        kib(rss_after)
    );
    println!(
        "{:<58} {:>12}",
        "  threads (sessions created / streams idle)",
        format!("{threads_sessions} / {threads_idle}")
    );
    println!(
        "{:<58} {:>9.1} KiB  (target ≤ 12)",
        "per session = (idle − sessions created) ÷ sessions", per_session
    );
    println!("{:<58} {:>9.1} KiB", "per stream", per_session / 2.0);
    println!(
        "{:<58} {:>9.2} s   ({:.0} POST/s, 64 in flight)",
        format!("{} POSTs (a worker and a client event per session)", 2 * n),
        post_time.as_secs_f64(),
        (2 * n) as f64 / post_time.as_secs_f64()
    );
    println!(
        "{:<58} {:>9.2} s   ({} deliveries, all verified)",
        "until every stream had its events",
        deliver_time.as_secs_f64(),
        3 * n
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. Fan-out

const DELTA: &[u8] = b"\"type\":\"assistant_delta\"";
const CLIENTS: usize = 10;

struct Rate {
    events: usize,
    secs: f64,
    publish_secs: f64,
}

impl Rate {
    fn deliveries_per_s(&self) -> f64 {
        (self.events * CLIENTS) as f64 / self.secs
    }
}

#[derive(Clone, Copy)]
enum Publisher {
    /// `POST …/worker/events`, `n` events per request, one request at a time.
    Post(usize),
    /// The worker's WebSocket, one event per frame, acks read on the side.
    Ws,
}

async fn await_clients(
    clients: Vec<tokio::task::JoinHandle<anyhow::Result<Instant>>>,
) -> anyhow::Result<Instant> {
    let mut last = None;
    for c in clients {
        let t = tokio::time::timeout(Duration::from_secs(300), c).await???;
        last = Some(last.map_or(t, |l: Instant| l.max(t)));
    }
    last.ok_or_else(|| anyhow!("no clients"))
}

async fn fanout_relay(api: &Api, n: usize, publisher: Publisher) -> anyhow::Result<Rate> {
    let (session, grant) = api.session().await?;
    let path = format!("/v1/code/sessions/{session}/events/stream");
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (tcp, first) = raw_sse(api.addr, None, &path, &api.access).await?;
        clients.push(tokio::spawn(count_until(tcp, first, DELTA, n)));
    }
    let events: Vec<NewEvent> = (0..n).map(|_| assistant_delta(TEXT)).collect();
    let t0;
    let published;
    match publisher {
        Publisher::Post(batch) => {
            let bodies: Vec<String> = events
                .chunks(batch)
                .map(|c| worker_body(grant.worker_epoch, c))
                .collect();
            t0 = Instant::now();
            for body in bodies {
                api.post_worker(&session, &grant.worker_jwt, body).await?;
            }
            published = t0.elapsed();
        }
        Publisher::Ws => {
            let url = format!("ws://{}/v1/code/sessions/{session}/worker/ws", api.addr);
            let ws = ws_open(&url, &grant.worker_jwt).await?;
            let (mut tx, mut rx) = ws.split();
            let frames: Vec<String> = events
                .chunks(1)
                .map(|c| worker_body(grant.worker_epoch, c))
                .collect();
            let acks = tokio::spawn(async move {
                let mut acks = 0;
                while acks < n {
                    match rx.next().await {
                        Some(Ok(Message::Text(t))) if t.as_str().starts_with("{\"ack\"") => {
                            acks += 1
                        }
                        Some(Ok(Message::Text(t))) => bail!("worker socket: {}", t.as_str()),
                        Some(Ok(_)) => {}
                        _ => bail!("the worker socket closed after {acks} acks"),
                    }
                }
                Ok(Instant::now())
            });
            t0 = Instant::now();
            for f in frames {
                tx.feed(Message::Text(f.into())).await?;
            }
            tx.flush().await?;
            let acked = acks.await??;
            published = acked - t0;
        }
    }
    let last = await_clients(clients).await?;
    Ok(Rate {
        events: n,
        secs: (last - t0).as_secs_f64(),
        publish_secs: published.as_secs_f64(),
    })
}

async fn fanout_floor(addr: SocketAddr, n: usize) -> anyhow::Result<Rate> {
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (tcp, first) = raw_sse(addr, None, "/", "-").await?;
        clients.push(tokio::spawn(count_until(tcp, first, DELTA, n)));
    }
    let mut payload = b"POST / HTTP/1.1\r\n\r\n".to_vec();
    for seq in 1..=n {
        payload
            .extend_from_slice(delivered(&assistant_delta(TEXT), seq as u64, "worker").as_bytes());
        payload.push(b'\n');
    }
    let mut publisher = TcpStream::connect(addr).await?;
    let t0 = Instant::now();
    publisher.write_all(&payload).await?;
    publisher.shutdown().await?;
    let mut ok = Vec::new();
    publisher.read_to_end(&mut ok).await?;
    let published = t0.elapsed();
    let last = await_clients(clients).await?;
    Ok(Rate {
        events: n,
        secs: (last - t0).as_secs_f64(),
        publish_secs: published.as_secs_f64(),
    })
}

async fn fanout(quick: bool) -> anyhow::Result<()> {
    let (batched, single) = if quick { (2_000, 400) } else { (10_000, 2_000) };
    let relay = Server::spawn("relay", &[])?;
    let baseline = Server::spawn("baseline", &[])?;
    let api = Api::login(relay.addrs[0]).await?;
    // Warm up both paths (connections, allocator, page cache).
    fanout_floor(baseline.addrs[1], 500).await?;
    fanout_relay(&api, 500, Publisher::Post(50)).await?;
    // For profiling: `TETHER_BENCH_FANOUT_PROFILE=<rounds>` names the relay child, waits 2 s
    // for a profiler to attach to it, then repeats the batched row that many times.
    if let Some(rounds) = std::env::var("TETHER_BENCH_FANOUT_PROFILE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        eprintln!("relay child pid {}", relay.child.id());
        tokio::time::sleep(Duration::from_secs(2)).await;
        for _ in 0..rounds {
            fanout_relay(&api, batched, Publisher::Post(50)).await?;
        }
    }

    let floor = fanout_floor(baseline.addrs[1], batched).await?;
    let post50 = fanout_relay(&api, batched, Publisher::Post(50)).await?;
    let post1 = fanout_relay(&api, single, Publisher::Post(1)).await?;
    let ws1 = fanout_relay(&api, single, Publisher::Ws).await?;
    println!();
    println!(
        "## fanout — one session, {CLIENTS} SSE clients; deliveries = events × {CLIENTS}, timed until the last client has the last event"
    );
    println!(
        "{:<66} {:>7} {:>10} {:>13} {:>9}",
        "case", "events", "publish s", "deliveries/s", "÷ floor"
    );
    let f = floor.deliveries_per_s();
    for (name, r) in [
        (
            "baseline: bare TCP fan-out floor (broadcast channel → SSE frames)",
            &floor,
        ),
        ("relay, worker POSTs batches of 50", &post50),
        ("relay, worker POSTs one event at a time", &post1),
        (
            "relay, worker WebSocket, one event per frame (pipelined)",
            &ws1,
        ),
    ] {
        println!(
            "{name:<66} {:>7} {:>10.2} {:>13.0} {:>9.3}",
            r.events,
            r.publish_secs,
            r.deliveries_per_s(),
            r.deliveries_per_s() / f
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Half-open connections

/// Connections that sent part of a request head and went quiet (a slowloris client).
async fn flood(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    // A relay out of descriptors stops accepting; once its backlog is full, connecting waits.
    let give_up = Instant::now() + Duration::from_secs(10);
    for i in 0..n {
        if Instant::now() > give_up {
            break;
        }
        let source = SOURCES[i % SOURCES.len()];
        let Ok(Ok(mut tcp)) =
            tokio::time::timeout(Duration::from_secs(1), connect_from(addr, Some(source))).await
        else {
            continue;
        };
        if tcp
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            .await
            .is_ok()
        {
            held.push(tcp);
        }
    }
    held
}

/// How long a new client's `GET /healthz` takes; `None` if unanswered within `wait`.
async fn healthz_time(addr: SocketAddr, wait: Duration) -> Option<Duration> {
    let started = Instant::now();
    let answered = tokio::time::timeout(wait, async {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await?;
        let (head, _) = read_head(&mut tcp).await?;
        Ok::<_, std::io::Error>(head.starts_with("HTTP/1.1 200"))
    })
    .await;
    matches!(answered, Ok(Ok(true))).then(|| started.elapsed())
}

/// Of `held`, how many the relay has closed.
async fn closed_by_relay(held: &mut [TcpStream]) -> usize {
    let mut closed = 0;
    for tcp in held {
        let mut buf = [0u8; 512];
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut buf)).await
            && !matches!(r, Ok(n) if n > 0)
        {
            closed += 1;
        }
    }
    closed
}

fn show_time(t: Option<Duration>) -> String {
    t.map_or("no answer in 10 s".into(), |t| {
        format!("{:.1} ms", t.as_secs_f64() * 1e3)
    })
}

/// RSS of an idle relay and of one holding 1,000 half-open connections, and whether a new
/// client is still answered: with the bench's descriptor limit, then with RLIMIT_NOFILE 256.
async fn halfopen() -> anyhow::Result<()> {
    const N: usize = 1000;
    const WAIT: Duration = Duration::from_secs(10);
    println!("\n## halfopen — {N} connections that never finish their request head");
    for nofile in [None, Some(256u64)] {
        let nofile_text = nofile.map(|n| n.to_string());
        let env: Vec<(&str, &str)> = nofile_text
            .as_deref()
            .map(|n| vec![(CHILD_NOFILE, n)])
            .unwrap_or_default();
        let relay = Server::spawn("relay", &env)?;
        let addr = relay.addrs[0];
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = relay.rss_kib();
        let started = Instant::now();
        let mut held = flood(addr, N).await;
        let flood_secs = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let flooded = relay.rss_kib();
        let answer = healthz_time(addr, WAIT).await;
        let closed = closed_by_relay(&mut held).await;
        println!(
            "RLIMIT_NOFILE {:<8} idle {:>6.1} MiB, with {} half-open {:>6.1} MiB (+{:.1} KiB each), \
             flood took {flood_secs:.2} s, {closed} closed by the relay; new client's /healthz: {}",
            nofile.map_or("20,000".into(), |n| n.to_string()),
            idle as f64 / 1024.0,
            held.len(),
            flooded as f64 / 1024.0,
            (flooded.saturating_sub(idle)) as f64 / held.len().max(1) as f64,
            show_time(answer)
        );
        drop(held);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 6. Appends on one PostgreSQL database from 1, 2 and 3 nodes

/// CPU time of every PostgreSQL process on the machine (the bench's own server while it runs;
/// each backend is one single-threaded process), nanoseconds.
fn postgres_cpu_ns() -> u64 {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    procs
        .flatten()
        .filter(|p| {
            std::fs::read_to_string(p.path().join("comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(|p| common::schedstat_ns(&p.path().join("schedstat")))
        .sum()
}

/// Publishers, one per session, each posting one event at a time for `run`, spread over the
/// nodes round robin; the events stored per second.
async fn appends(
    api: &Api,
    nodes: &[&Server],
    sessions: &[(String, BridgeGrant)],
    run: Duration,
) -> anyhow::Result<(u64, Duration)> {
    let done = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (i, (session, grant)) in sessions.iter().enumerate() {
        let mut api = api.clone();
        api.addr = nodes[i % nodes.len()].addrs[0];
        api.base = format!("http://{}", api.addr);
        let (session, grant, done) = (session.clone(), grant.clone(), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            while t0.elapsed() < run {
                let body = worker_body(grant.worker_epoch, &[assistant_delta(TEXT)]);
                api.post_worker(&session, &grant.worker_jwt, body).await?;
                done.fetch_add(1, Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((done.load(Relaxed) as u64, t0.elapsed()))
}

/// Appends on one node and its SQLite file: one publisher, then many at once (one session
/// each). What many publishers gain over one is what their writes can share (a commit).
async fn concurrent_appends(quick: bool) -> anyhow::Result<()> {
    let run = Duration::from_secs(if quick { 2 } else { 5 });
    let relay = Server::spawn("relay", &[])?;
    let api = Api::login(relay.addrs[0]).await?;
    let mut sessions = Vec::new();
    for _ in 0..64 {
        sessions.push(api.session().await?);
    }
    println!();
    println!(
        "## appends — one node, SQLite; publishers each post one event at a time to a session of their own, {} s per row",
        run.as_secs()
    );
    println!(
        "{:<12} {:>10} {:>10} {:>14} {:>16} {:>16}",
        "publishers", "events", "events/s", "÷ one", "CPU µs/event", "writes/commit"
    );
    let nodes = [&relay];
    let mut one = None;
    for publishers in [1, 8, 64] {
        let sessions = &sessions[..publishers];
        appends(&api, &nodes, sessions, Duration::from_millis(500)).await?;
        let (cpu_before, counts_before) = (relay.cpu_ns(), api.store_counts().await?);
        let (events, took) = appends(&api, &nodes, sessions, run).await?;
        let cpu = relay.cpu_ns() - cpu_before;
        let counts = api.store_counts().await?;
        let rate = events as f64 / took.as_secs_f64();
        let base = *one.get_or_insert(rate);
        let per_commit = match counts_before.zip(counts) {
            Some(((w0, c0), (w1, c1))) => {
                format!("{:.2}", (w1 - w0) as f64 / (c1 - c0).max(1) as f64)
            }
            None => "n/a".into(),
        };
        println!(
            "{publishers:<12} {events:>10} {rate:>10.0} {:>14.2} {:>16.1} {per_commit:>16}",
            rate / base,
            cpu as f64 / 1e3 / events as f64,
        );
    }
    Ok(())
}

async fn nodes(quick: bool) -> anyhow::Result<()> {
    let Some(url) = postgres_database().await? else {
        println!("\n## nodes — skipped: PostgreSQL is not installed");
        return Ok(());
    };
    let (run, publishers) = if quick {
        (Duration::from_secs(2), 24)
    } else {
        (Duration::from_secs(5), 48)
    };
    let mut servers = vec![Server::spawn("relay", &[(DATABASE_URL, url.as_str())])?];
    let api = Api::login(servers[0].addrs[0]).await?;
    let mut sessions = Vec::new();
    for _ in 0..publishers {
        sessions.push(api.session().await?);
    }
    // Warm every node's pool and caches before its first measured run.
    println!();
    println!(
        "## nodes — {publishers} publishers (one session each, one event per POST, round robin over the nodes), {} s per row, one PostgreSQL database",
        run.as_secs()
    );
    println!(
        "{:<8} {:>10} {:>10} {:>14} {:>16} {:>18}",
        "nodes", "events", "events/s", "÷ one node", "relay CPU cores", "PostgreSQL cores"
    );
    let mut one = None;
    for n in 1..=3 {
        while servers.len() < n {
            servers.push(Server::spawn("relay", &[(DATABASE_URL, url.as_str())])?);
        }
        let nodes: Vec<&Server> = servers.iter().collect();
        appends(&api, &nodes, &sessions, Duration::from_millis(500)).await?;
        let (relay_before, pg_before) = (
            nodes.iter().map(|s| s.cpu_ns()).sum::<u64>(),
            postgres_cpu_ns(),
        );
        let (events, took) = appends(&api, &nodes, &sessions, run).await?;
        let relay_cpu = nodes.iter().map(|s| s.cpu_ns()).sum::<u64>() - relay_before;
        let pg_cpu = postgres_cpu_ns().saturating_sub(pg_before);
        let rate = events as f64 / took.as_secs_f64();
        let base = *one.get_or_insert(rate);
        let cores = |ns: u64| ns as f64 / took.as_nanos() as f64;
        println!(
            "{n:<8} {events:>10} {rate:>10.0} {:>14.2} {:>16.2} {:>18.2}",
            rate / base,
            cores(relay_cpu),
            cores(pg_cpu)
        );
    }
    println!(
        "(cores: CPU time ÷ wall time, on {} cores shared by the publishers, the nodes and PostgreSQL)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}
