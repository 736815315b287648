//! `tether --remote`: how soon the QR code is on screen, and how soon a phone's message gets its
//! first streamed word back, as a ratio to the relay's own round trip measured in the same run.
//! Then what end-to-end encryption costs on that path: the bridge worker answering a phone,
//! sealed and in plaintext (a mode only benchmarks use), interleaved in one run.
//!
//! Run: `cargo bench -p tether --bench remote`

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tether_protocol::RelayKind;
use tether_relay::{Relay, RelayConfig};
use tether_seal::{Direction, Reader, Received, Sealer, SessionKey, sender_id};

const QR_RUNS: usize = 20;
const SAMPLES: usize = 400;
const WARMUP: usize = 50;

fn tether(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tether"));
    c.env("XDG_CONFIG_HOME", home.join("c"))
        .env("XDG_DATA_HOME", home.join("d"))
        .env("XDG_CACHE_HOME", home.join("k"))
        .env("TETHER_ECHO_DELAY_MS", "0");
    c
}

/// Start `tether --remote` and wait for its URL: (child, time to URL, URL). The caller kills
/// and reaps the child.
#[allow(clippy::zombie_processes)]
fn remote(home: &Path) -> (Child, Duration, String) {
    let start = Instant::now();
    let mut child = tether(home)
        .args(["--remote", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("running tether --remote");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "tether --remote exited"
        );
        if let Some(url) = line.trim().strip_prefix("Open in browser: ") {
            let elapsed = start.elapsed();
            // Keep reading so tether never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while out.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                    sink.clear();
                }
            });
            return (child, elapsed, url.to_owned());
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A client of one session: an SSE stream and a keep-alive connection for publishing.
struct Client {
    http: reqwest::Client,
    base: String,
    session: String,
    auth: (String, String),
    origin: String,
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    parser: tether_sse::Parser,
    /// Events a chunk completed that have not been looked at yet.
    ready: std::collections::VecDeque<Value>,
    /// A phone's keys, when the session is sealed: what it sends is sealed, what it reads opened.
    sealed: Option<(Sealer, Reader)>,
}

impl Client {
    async fn open(base: &str, session: &str, auth: (String, String)) -> Client {
        Self::open_at(base, session, "events/stream", auth).await
    }

    async fn open_at(base: &str, session: &str, stream: &str, auth: (String, String)) -> Client {
        let http = reqwest::Client::new();
        let response = http
            .get(format!("{base}/v1/code/sessions/{session}/{stream}"))
            .header(&auth.0, &auth.1)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        Client {
            http,
            base: base.into(),
            session: session.into(),
            origin: base.into(),
            auth,
            stream: Box::pin(response.bytes_stream()),
            parser: tether_sse::Parser::new(64 << 20),
            ready: Default::default(),
            sealed: None,
        }
    }

    /// This client holds `key`, as a phone that scanned the code.
    fn holding(mut self, key: &SessionKey) -> Client {
        self.sealed = Some((
            Sealer::new(key, &self.session, Direction::Client, sender_id("d_")),
            Reader::new(key, &self.session),
        ));
        self
    }

    async fn send(&mut self, text: &str) {
        let id = uuid::Uuid::new_v4().to_string();
        let mut payload = json!({"text": text, "origin": "client"});
        if let Some((sealer, _)) = &mut self.sealed {
            payload = sealer.seal(&id, "user_message", &payload).unwrap();
        }
        let r = self
            .http
            .post(format!(
                "{}/v1/code/sessions/{}/events",
                self.base, self.session
            ))
            .header(&self.auth.0, &self.auth.1)
            .header("origin", &self.origin)
            .json(&json!({"events": [{"id": id, "type": "user_message", "payload": payload}]}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    /// Wait for the next event of `kind`.
    async fn until(&mut self, kind: &str) -> Value {
        loop {
            while let Some(mut event) = self.ready.pop_front() {
                if event["type"] != kind {
                    continue;
                }
                if let Some((_, reader)) = &mut self.sealed {
                    let typed: tether_protocol::Event =
                        serde_json::from_value(event.clone()).unwrap();
                    match reader.receive(&typed) {
                        Received::Verified { payload, .. } => event["payload"] = payload,
                        other => panic!("{other:?}"),
                    }
                }
                return event;
            }
            let chunk = self.stream.next().await.expect("stream ended").unwrap();
            let items = self.parser.push(&chunk).expect("a readable event stream");
            self.ready
                .extend(items.into_iter().filter_map(|item| match item {
                    tether_sse::Item::Event(e) => Some(serde_json::from_str(&e.data).unwrap()),
                    tether_sse::Item::Comment(_) | tether_sse::Item::Retry(_) => None,
                }));
        }
    }
}

/// Send a message, time until the first `assistant_delta` comes back.
async fn sample(client: &mut Client, n: usize) -> Duration {
    let start = Instant::now();
    client.send(&format!("ping {n}")).await;
    client.until("assistant_delta").await;
    let elapsed = start.elapsed();
    // Let the rest of the reply go by before the next sample.
    client.until("assistant_message").await;
    elapsed
}

/// The baseline: the same relay code and the same client, with a worker that does nothing but
/// answer each message with one delta and one message.
/// An embedded relay of its own on loopback, its local login and its base URL.
async fn local_relay() -> (Relay, tether_relay::LocalLogin, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = RelayConfig::new(dir.path().join("relay.db"));
    config.kind = RelayKind::Local;
    config.require_trusted_device = false;
    let relay = Relay::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    std::mem::forget(dir);
    let base = relay.public_url().to_owned();
    let login = relay.local_login("local").await.unwrap();
    (relay, login, base)
}

async fn bare_relay() -> (Relay, Client) {
    let (relay, login, base) = local_relay().await;
    let access = login.tokens.access_token;
    // The bridge's own typed API: the same calls `tether --remote` makes.
    let api = tether_bridge::Api::new(&base).unwrap();
    let created = api.create_session(&access, None).await.unwrap();
    let grant = api.bridge(&access, None, &created.id).await.unwrap();
    let session = created.id.to_string();
    let (jwt, epoch) = (grant.worker_jwt, grant.worker_epoch);
    let mut worker = Client::open_at(
        &base,
        &session,
        "worker/events/stream",
        ("authorization".into(), format!("Bearer {jwt}")),
    )
    .await;
    let (b, s) = (base.clone(), session.clone());
    tokio::spawn(async move {
        loop {
            let message = worker.until("user_message").await;
            let id = message["id"].as_str().unwrap().to_owned();
            let events = json!([
                {"id": uuid::Uuid::new_v4().to_string(), "type": "assistant_delta", "payload": {"message_id": id, "text": "pong"}},
                {"id": uuid::Uuid::new_v4().to_string(), "type": "assistant_message", "payload": {"message_id": id, "text": "pong"}},
            ]);
            let r = worker
                .http
                .post(format!("{b}/v1/code/sessions/{s}/worker/events"))
                .bearer_auth(&jwt)
                .json(&json!({"worker_epoch": epoch, "events": events}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    });
    let client = Client::open(
        &base,
        &session,
        ("authorization".into(), format!("Bearer {access}")),
    )
    .await;
    (relay, client)
}

async fn paired_client(url: &str) -> Client {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = http.get(url).send().await.unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let key = SessionKey::from_fragment(url.split_once('#').unwrap().1).unwrap();
    let base = url.split("/code/").next().unwrap().to_owned();
    let session = url
        .split("/code/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    Client::open(&base, &session, ("cookie".into(), cookie))
        .await
        .holding(&key)
}

/// The bridge worker (the terminal's side, in process) answering each phone message with one
/// delta and one message, sealed or in plaintext, on an embedded relay of its own.
async fn bridge_worker(protection: tether_bridge::Protection) -> (Relay, Client) {
    let (relay, login, base) = local_relay().await;
    let access = login.tokens.access_token.clone();
    let api = tether_bridge::Api::new(&base).unwrap();
    let created = api.create_session(&access, None).await.unwrap();
    let credentials =
        tether_bridge::Credentials::from_tokens(&base, &login.tokens, tether_relay::store::now());
    let tokens = tether_bridge::TokenSource::new(api.clone(), credentials);
    let key = match &protection {
        tether_bridge::Protection::EndToEnd(key) => Some(key.clone()),
        tether_bridge::Protection::Plaintext => None,
    };
    let session = created.id.to_string();
    let config = tether_bridge::WorkerConfig::new(api, tokens, created.id, protection);
    let (worker, mut inbound) = tether_bridge::spawn(config);
    tokio::spawn(async move {
        use tether_protocol::Payload;
        use tether_protocol::payload::{AssistantDelta, AssistantMessage};
        while let Some(item) = inbound.recv().await {
            if let tether_bridge::Inbound::Event {
                payload: Payload::UserMessage(_),
                id,
                ..
            } = item
            {
                worker.publish(&Payload::AssistantDelta(AssistantDelta {
                    message_id: id.clone(),
                    text: "pong".into(),
                }));
                worker.publish(&Payload::AssistantMessage(AssistantMessage {
                    message_id: id,
                    text: "pong".into(),
                    usage: Default::default(),
                    interrupted: false,
                }));
            }
        }
    });
    let client = Client::open(
        &base,
        &session,
        ("authorization".into(), format!("Bearer {access}")),
    )
    .await;
    let client = match key {
        Some(key) => client.holding(&key),
        None => client,
    };
    (relay, client)
}

/// Samples of `a` and `b`, interleaved after a warm-up, each sorted.
async fn interleaved(a: &mut Client, b: &mut Client) -> (Vec<Duration>, Vec<Duration>) {
    for n in 0..WARMUP {
        sample(a, n).await;
        sample(b, n).await;
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for n in 0..SAMPLES {
        x.push(sample(a, n).await);
        y.push(sample(b, n).await);
    }
    x.sort();
    y.sort();
    (x, y)
}

/// A table of `base` (the first row) and `other`, with their p50 and p99 as ratios to the base.
fn table(title: &str, versus: &str, base: (&str, &[Duration]), other: (&str, &[Duration])) {
    println!("## {title} ({SAMPLES} samples each, interleaved, after {WARMUP} warm-up)\n");
    println!("| case | p50 µs | p99 µs | p50 ÷ {versus} | p99 ÷ {versus} |\n|---|---|---|---|---|");
    let (bp50, bp99) = (percentile(base.1, 0.5), percentile(base.1, 0.99));
    for (name, samples) in [base, other] {
        let (p50, p99) = (percentile(samples, 0.5), percentile(samples, 0.99));
        println!(
            "| {name} | {:.0} | {:.0} | {:.2} | {:.2} |",
            us(p50),
            us(p99),
            p50.as_secs_f64() / bp50.as_secs_f64(),
            p99.as_secs_f64() / bp99.as_secs_f64()
        );
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("remote bench skipped (run it with `cargo bench -p tether --bench remote`)");
        return;
    }
    let home = tempfile::tempdir().expect("temp dir");
    // Warm the plugin cache first: the figure is for a warm start.
    let (mut child, _, _) = remote(home.path());
    let _ = child.kill();
    let _ = child.wait();

    let (mut version, mut qr) = (Vec::new(), Vec::new());
    for _ in 0..QR_RUNS {
        let start = Instant::now();
        tether(home.path())
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        version.push(start.elapsed());
        let (mut child, elapsed, _) = remote(home.path());
        qr.push(elapsed);
        let _ = child.kill();
        let _ = child.wait();
    }
    version.sort();
    qr.sort();
    println!("## time to QR code ({QR_RUNS} warm runs, interleaved with `tether --version`)\n");
    println!("| case | p50 ms | p90 ms |\n|---|---|---|");
    println!(
        "| `tether --version` (process start, baseline) | {:.1} | {:.1} |",
        ms(percentile(&version, 0.5)),
        ms(percentile(&version, 0.9))
    );
    println!(
        "| `tether --remote` until `Open in browser:` is printed | {:.1} | {:.1} |",
        ms(percentile(&qr, 0.5)),
        ms(percentile(&qr, 0.9))
    );
    println!("\ntarget: ≤ 300 ms\n");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (_relay, mut bare) = bare_relay().await;
        let (mut child, _, url) = remote(home.path());
        let mut full = paired_client(&url).await;
        let (b, f) = interleaved(&mut bare, &mut full).await;
        let _ = child.kill();
        table(
            "client message → first delta back at the client",
            "relay",
            (
                "relay round trip, trivial worker (baseline: SSE + POST, same client)",
                &b,
            ),
            (
                "`tether --remote` (embedded relay, bridge worker, echo engine)",
                &f,
            ),
        );

        let (_plain_relay, mut plain) = bridge_worker(tether_bridge::Protection::Plaintext).await;
        let key = SessionKey::generate(0).unwrap();
        let (_sealed_relay, mut sealed) =
            bridge_worker(tether_bridge::Protection::EndToEnd(key)).await;
        let (p, e) = interleaved(&mut plain, &mut sealed).await;
        println!();
        table(
            "what encryption costs: phone message → first delta back, through the bridge worker",
            "plaintext",
            ("bridge worker, plaintext (benchmarks only; baseline)", &p),
            (
                "bridge worker, sealed end to end (phone seals and opens)",
                &e,
            ),
        );
        println!("\ntarget: ≤ 1.10");
    });
}
