//! The overhead an engine's stream pays on its way out of tether, per streamed token: from the
//! provider's socket to the terminal (`tether --engine anthropic`, stdout a pipe) and to a remote
//! client (`tether --remote`, through the embedded relay to a paired client's event stream),
//! against a plain TCP client reading the same stream raw, in the same run.
//!
//! The provider is a fake Anthropic Messages API in this process (std `TcpListener` on loopback,
//! `TCP_NODELAY`): `POST /v1/messages` answers `text/event-stream`, chunked, with the real event
//! sequence (`message_start` with usage, `content_block_start`, `ping`, N ×
//! `content_block_delta`, `content_block_stop`, `message_delta`, `message_stop`), each frame its
//! own write. Token `i` of turn `k` is the text `tKKK.IIIII ` (a marker the readers look for),
//! and the server notes the `Instant` just before it writes each token; every reader notes the
//! `Instant` each read returned, so a token's latency is receipt − write on one clock.
//!
//! - **latency**: tokens paced 2 ms apart; p50/p90/p99 per path, as a ratio to the raw reader's
//!   and as the absolute difference (raw is a few tens of µs, so the difference is the figure);
//! - **throughput**: the same tokens written back to back; tokens/s at each reader, and the CPU
//!   time tether spent per token.
//!
//! A diagnostic path separates the cost of one more hop from tether's own: the raw reader
//! writes each read to a pipe that another thread reads (the terminal path's two wake-ups,
//! without tether). The three processes (bench, terminal tether, remote tether) live for the
//! whole run, and the turns of the paths are interleaved: the fake provider holds each request
//! until the bench releases it (the terminal tether reads all its stdin lines at start).
//!
//! Run: `cargo bench -p tether-e2e --bench engines` (`--quick` for a short run). Without
//! `--bench` (as `cargo test --benches` runs it) the binary exits at once.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether_e2e::Tether;
use tether_e2e::http::{cookie_from, publish, request as http};
use tether_e2e::process::Remote;
use tether_e2e::sse::{SseJson, read_head};
use tether_engines::test_support::{Recorded, anthropic, read_request};

/// The longest any one wait may take (a turn, a start, an exit).
const WAIT: Duration = Duration::from_secs(30);
/// `t` + 3 digits (turn) + `.` + 5 digits (token) + a space.
const MARKER_LEN: usize = 11;

struct Settings {
    /// Tokens per latency turn, and the pause between them.
    tokens: usize,
    pace: Duration,
    /// Measured latency turns per path (interleaved), after one warm-up turn each.
    rounds: usize,
    warmup_tokens: usize,
    /// Tokens per throughput turn (unpaced), and turns per path.
    tp_tokens: usize,
    tp_rounds: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "engines bench: skipped (run it with `cargo bench -p tether-e2e --bench engines`)"
        );
        return;
    }
    let settings = if args.iter().any(|a| a == "--quick") {
        Settings {
            tokens: 100,
            pace: Duration::from_millis(2),
            rounds: 1,
            warmup_tokens: 20,
            tp_tokens: 1000,
            tp_rounds: 1,
        }
    } else {
        Settings {
            tokens: 400,
            pace: Duration::from_millis(2),
            rounds: 5,
            warmup_tokens: 50,
            tp_tokens: 4000,
            tp_rounds: 2,
        }
    };
    run(&settings);
}

// ---------------------------------------------------------------------------------------------
// The fake provider

/// What the next `POST /v1/messages` streams.
#[derive(Debug, Clone, Copy)]
struct Plan {
    tag: u32,
    tokens: usize,
    /// `None`: every token written at once, back to back.
    pace: Option<Duration>,
}

#[derive(Default)]
struct ServerState {
    /// Released plans, by the text of the request's last user message: a request waits until
    /// the bench releases its plan, so that turns of the three paths can be interleaved even
    /// though the terminal asks for its next turn as soon as the last one ended.
    plans: HashMap<String, Plan>,
    /// Per turn: the instant before each token's write, by index.
    writes: HashMap<u32, Vec<Instant>>,
    /// Requests answered per turn (more than one would be a retry).
    requests: HashMap<u32, usize>,
    failures: Vec<String>,
}

struct FakeAnthropic {
    addr: SocketAddr,
    shared: Arc<(Mutex<ServerState>, Condvar)>,
}

impl FakeAnthropic {
    fn start() -> FakeAnthropic {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fake provider");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new((Mutex::new(ServerState::default()), Condvar::new()));
        let s = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = Arc::clone(&s);
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        FakeAnthropic { addr, shared }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lets the request whose last user message is `said` have its answer.
    fn release(&self, said: &str, plan: Plan) {
        let (lock, changed) = &*self.shared;
        lock.lock().unwrap().plans.insert(said.to_owned(), plan);
        changed.notify_all();
    }

    /// Waits until the response of turn `tag` was written whole; its write instants.
    fn wait_done(&self, tag: u32, deadline: Instant) -> Vec<Instant> {
        let (lock, changed) = &*self.shared;
        let mut s = lock.lock().unwrap();
        loop {
            if let Some(w) = s.writes.get(&tag) {
                let requests = s.requests[&tag];
                assert_eq!(requests, 1, "turn {tag} was requested {requests} times");
                return w.clone();
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "the fake provider did not finish turn {tag}; failures: {:?}",
                s.failures
            );
            s = changed.wait_timeout(s, deadline - now).unwrap().0;
        }
    }
}

fn frame(event: &str, data: Value) -> Vec<u8> {
    let body = anthropic::event(event, &data);
    // One chunk per frame, as the real API's chunked responses carry them.
    format!("{:x}\r\n{body}\r\n", body.len()).into_bytes()
}

fn marker(tag: u32, i: usize) -> String {
    format!("t{tag:03}.{i:05} ")
}

fn serve(stream: TcpStream, shared: &(Mutex<ServerState>, Condvar)) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(300)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(Recorded { path, body, .. }) = read_request(&mut reader) {
        let said = last_user_text(&body);
        let plan = wait_plan(shared, &said);
        let (Some(plan), "/v1/messages") = (plan, path.as_str()) else {
            let body = r#"{"type":"error","error":{"type":"not_found_error","message":"no plan"}}"#;
            let _ = write!(
                writer,
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            continue;
        };
        match respond(&mut writer, plan) {
            Ok(writes) => {
                let (lock, changed) = shared;
                let mut s = lock.lock().unwrap();
                *s.requests.entry(plan.tag).or_default() += 1;
                s.writes.insert(plan.tag, writes);
                changed.notify_all();
            }
            Err(e) => {
                shared.0.lock().unwrap().failures.push(e.to_string());
                return;
            }
        }
    }
}

/// The text of the last message of a Messages API request (a string or text blocks).
fn last_user_text(body: &Value) -> String {
    let content = &body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .unwrap_or(&Value::Null)["content"];
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// Waits (at most a minute) until the bench releases the plan for `said`, and takes it.
fn wait_plan(shared: &(Mutex<ServerState>, Condvar), said: &str) -> Option<Plan> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (lock, changed) = shared;
    let mut s = lock.lock().unwrap();
    loop {
        if let Some(plan) = s.plans.remove(said) {
            return Some(plan);
        }
        let now = Instant::now();
        if now >= deadline {
            s.failures.push(format!("no plan for {said:?}"));
            return None;
        }
        s = changed.wait_timeout(s, deadline - now).unwrap().0;
    }
}

/// Streams one reply; the instant before each token's write.
fn respond(w: &mut TcpStream, plan: Plan) -> std::io::Result<Vec<Instant>> {
    let tokens: Vec<Vec<u8>> = (0..plan.tokens)
        .map(|i| {
            frame(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": marker(plan.tag, i)}}),
            )
        })
        .collect();
    w.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n\
          cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\
          request-id: req_011CBenchBenchBenchBench\r\n\r\n",
    )?;
    w.write_all(&frame(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5-20250929",
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 1}}}),
    ))?;
    w.write_all(&frame(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ))?;
    w.write_all(&frame("ping", json!({"type": "ping"})))?;
    let mut writes = Vec::with_capacity(plan.tokens);
    let start = Instant::now();
    for (i, token) in tokens.iter().enumerate() {
        if let Some(pace) = plan.pace {
            let due = start + pace * (i as u32 + 1);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        writes.push(Instant::now());
        w.write_all(token)?;
    }
    w.write_all(&frame(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ))?;
    w.write_all(&frame(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": plan.tokens}}),
    ))?;
    w.write_all(&frame("message_stop", json!({"type": "message_stop"})))?;
    w.write_all(b"0\r\n\r\n")?;
    Ok(writes)
}

// ---------------------------------------------------------------------------------------------
// Readers

/// Finds markers in a byte stream fed piece by piece (a marker may straddle two pieces).
#[derive(Default)]
struct Markers {
    buf: Vec<u8>,
    from: usize,
}

impl Markers {
    fn feed(&mut self, bytes: &[u8], mut found: impl FnMut(u32, usize)) {
        self.buf.extend_from_slice(bytes);
        let mut i = self.from;
        while i + MARKER_LEN <= self.buf.len() {
            match parse_marker(&self.buf[i..i + MARKER_LEN]) {
                Some((tag, index)) => {
                    found(tag, index);
                    i += MARKER_LEN;
                }
                None => i += 1,
            }
        }
        self.buf.drain(..i);
        self.from = 0;
    }
}

fn parse_marker(b: &[u8]) -> Option<(u32, usize)> {
    let digits = |s: &[u8]| {
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(s).ok()?.parse().ok())
            .flatten()
    };
    if b[0] != b't' || b[4] != b'.' || b[10] != b' ' {
        return None;
    }
    Some((digits(&b[1..4])? as u32, digits(&b[5..10])?))
}

/// What a reader thread saw: per turn, the first arrival of each token, and how many reads
/// carried tokens of that turn.
#[derive(Default)]
struct Seen {
    arrivals: HashMap<u32, BTreeMap<usize, Instant>>,
    reads: HashMap<u32, usize>,
    ended: Option<String>,
}

#[derive(Default, Clone)]
struct Arrivals(Arc<(Mutex<Seen>, Condvar)>);

impl Arrivals {
    /// Records what one read (returned at `at`) carried.
    fn record(&self, at: Instant, found: &[(u32, usize)]) {
        if found.is_empty() {
            return;
        }
        let (lock, changed) = &*self.0;
        let mut s = lock.lock().unwrap();
        let mut tags: Vec<u32> = found.iter().map(|(t, _)| *t).collect();
        tags.dedup();
        for tag in tags {
            *s.reads.entry(tag).or_default() += 1;
        }
        for &(tag, i) in found {
            s.arrivals.entry(tag).or_default().entry(i).or_insert(at);
        }
        changed.notify_all();
    }

    fn end(&self, why: String) {
        let (lock, changed) = &*self.0;
        lock.lock().unwrap().ended.get_or_insert(why);
        changed.notify_all();
    }

    /// Waits until tokens 0..n of turn `tag` all arrived: their arrival instants, and the
    /// number of reads that carried them.
    fn wait(&self, tag: u32, n: usize, deadline: Instant) -> Result<(Vec<Instant>, usize), String> {
        let (lock, changed) = &*self.0;
        let mut s = lock.lock().unwrap();
        loop {
            if let Some(a) = s.arrivals.get(&tag)
                && a.len() >= n
            {
                let times: Option<Vec<Instant>> = (0..n).map(|i| a.get(&i).copied()).collect();
                return match times {
                    Some(times) => Ok((times, s.reads[&tag])),
                    None => Err(format!("tokens of turn {tag} are missing: {:?}", a.keys())),
                };
            }
            let got = s.arrivals.get(&tag).map_or(0, BTreeMap::len);
            let now = Instant::now();
            if let Some(why) = &s.ended {
                return Err(format!("{why} after {got} of {n} tokens of turn {tag}"));
            }
            if now >= deadline {
                return Err(format!("timed out after {got} of {n} tokens of turn {tag}"));
            }
            s = changed.wait_timeout(s, deadline - now).unwrap().0;
        }
    }
}

/// Reads `r` until it ends, timestamping each read and recording the markers in it.
fn read_markers(mut r: impl Read, arrivals: &Arrivals) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut markers = Markers::default();
    let mut found = Vec::new();
    loop {
        let n = r.read(&mut buf)?;
        let at = Instant::now();
        if n == 0 {
            return Ok(());
        }
        found.clear();
        markers.feed(&buf[..n], |t, i| found.push((t, i)));
        arrivals.record(at, &found);
    }
}

/// Path 1, the raw reader: one request on a fresh connection, the response read as bytes; the
/// arrival of each token by index, and the number of reads that carried tokens. With `forward`,
/// each read is also written to a pipe as soon as it returns (see [`PipeHop`]).
fn raw_turn(
    server: &FakeAnthropic,
    plan: Plan,
    mut forward: Option<&mut std::io::PipeWriter>,
) -> (Vec<Instant>, usize) {
    let said = format!("raw {}", plan.tag);
    server.release(&said, plan);
    let mut s = TcpStream::connect(server.addr).expect("connecting the fake provider");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 8192, "stream": true,
        "messages": [{"role": "user", "content": said}]})
    .to_string();
    write!(
        s,
        "POST /v1/messages HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         x-api-key: bench\r\nanthropic-version: 2023-06-01\r\naccept: text/event-stream\r\n\
         content-length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    )
    .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut markers = Markers::default();
    let mut arrivals: Vec<Option<Instant>> = vec![None; plan.tokens];
    let mut reads = 0;
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = s.read(&mut buf).expect("reading the raw stream");
        let at = Instant::now();
        assert!(n > 0, "the fake provider closed the raw stream early");
        if let Some(pipe) = forward.as_mut() {
            pipe.write_all(&buf[..n]).expect("writing to the pipe");
        }
        let mut any = false;
        markers.feed(&buf[..n], |tag, i| {
            if tag == plan.tag && arrivals[i].is_none() {
                arrivals[i] = Some(at);
                any = true;
            }
        });
        reads += usize::from(any);
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(16);
        tail.drain(..keep);
        if tail.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    let times = arrivals
        .into_iter()
        .enumerate()
        .map(|(i, a)| a.unwrap_or_else(|| panic!("raw: token {i} missing")))
        .collect();
    (times, reads)
}

/// A diagnostic path, the terminal's hops without tether: the raw reader writes each read to a
/// pipe, and another thread reads the pipe (a second wake-up, as tether's write to its stdout
/// adds one).
struct PipeHop {
    writer: std::io::PipeWriter,
    arrivals: Arrivals,
}

impl PipeHop {
    fn start() -> PipeHop {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        let arrivals = Arrivals::default();
        let a = arrivals.clone();
        std::thread::spawn(move || {
            let why = match read_markers(reader, &a) {
                Ok(()) => "the pipe closed".to_owned(),
                Err(e) => e.to_string(),
            };
            a.end(why);
        });
        PipeHop { writer, arrivals }
    }

    fn turn(&mut self, server: &FakeAnthropic, plan: Plan) -> (Vec<Instant>, usize) {
        raw_turn(server, plan, Some(&mut self.writer));
        self.arrivals
            .wait(plan.tag, plan.tokens, Instant::now() + WAIT)
            .unwrap_or_else(|e| panic!("the pipe: {e}"))
    }
}

/// Path 2, `tether --engine anthropic` with pipes: each stdin line is a turn, the reply streams to
/// stdout. Tether reads its standard input to the end before the first turn
/// (`print_mode::run_stdin`), so every line is written at the start and stdin closed; the fake
/// provider holds each request until the bench releases it. One line more than the measured
/// turns keeps the process alive until [`Terminal::finish`].
struct Terminal {
    child: Child,
    arrivals: Arrivals,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Turns released so far.
    turns: usize,
}

impl Terminal {
    fn start(t: &Tether, base_url: &str, turns: usize) -> Terminal {
        let mut child = t
            .command(["--engine", "anthropic", "--base-url", base_url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tether");
        let arrivals = Arrivals::default();
        let stdout = child.stdout.take().unwrap();
        let a = arrivals.clone();
        std::thread::spawn(move || {
            let why = match read_markers(stdout, &a) {
                Ok(()) => "stdout closed".to_owned(),
                Err(e) => e.to_string(),
            };
            a.end(why);
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().unwrap();
        let e = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                e.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let mut stdin = child.stdin.take().unwrap();
        let input: String = (1..=turns + 1).map(|n| format!("terminal {n}\n")).collect();
        stdin
            .write_all(input.as_bytes())
            .expect("writing to tether");
        drop(stdin);
        Terminal {
            child,
            arrivals,
            stderr,
            turns: 0,
        }
    }

    fn turn(&mut self, server: &FakeAnthropic, plan: Plan) -> (Vec<Instant>, usize) {
        self.turns += 1;
        server.release(&format!("terminal {}", self.turns), plan);
        let deadline = Instant::now() + WAIT;
        self.arrivals
            .wait(plan.tag, plan.tokens, deadline)
            .unwrap_or_else(|e| {
                panic!(
                    "tether's stdout: {e}\n--- tether stderr ---\n{}",
                    String::from_utf8_lossy(&self.stderr.lock().unwrap())
                )
            })
    }

    fn cpu_time(&self) -> Duration {
        cpu_time(self.child.id())
    }

    /// Releases the last line's turn, and waits for tether to exit at the end of its input.
    fn finish(mut self, server: &FakeAnthropic, tag: u32) {
        let plan = Plan {
            tag,
            tokens: 1,
            pace: None,
        };
        server.release(&format!("terminal {}", self.turns + 1), plan);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("engines bench: tether did not exit at the end of its input; killed");
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) of a process so far, from /proc (10 ms ticks).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|x| x.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Path 3, `tether --remote` on its embedded relay, and a client paired through the URL's secret,
/// reading the session's event stream.
struct RemoteClient {
    remote: Remote,
    host: String,
    origin: String,
    session: String,
    cookie: String,
    arrivals: Arrivals,
    socket: TcpStream,
}

impl RemoteClient {
    fn start(t: &Tether, base_url: &str) -> RemoteClient {
        let remote = Remote::start(
            t,
            &[
                "--listen",
                "127.0.0.1:0",
                "--engine",
                "anthropic",
                "--base-url",
                base_url,
            ],
        );
        let (base, session, secret) = remote.parts();
        assert!(secret.is_some(), "no pairing secret in {}", remote.url);
        let host = base.trim_start_matches("http://").to_owned();
        let (status, head, body) = http(&host, "GET", &remote.url[base.len()..], &[], "");
        assert_eq!(status, 303, "pairing failed:\n{head}\n{body}");
        let cookie = cookie_from(&head);

        let mut socket = TcpStream::connect(&host).expect("connecting the relay");
        socket.set_nodelay(true).unwrap();
        write!(
            socket,
            "GET /v1/code/sessions/{session}/events/stream?from_seq=0 HTTP/1.1\r\nHost: {host}\r\n\
             Cookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let arrivals = Arrivals::default();
        let reader = socket.try_clone().unwrap();
        let a = arrivals.clone();
        std::thread::spawn(move || {
            let why = match read_deltas(reader, &a) {
                Ok(()) => "the event stream ended".to_owned(),
                Err(e) => e.to_string(),
            };
            a.end(why);
        });
        RemoteClient {
            remote,
            host,
            origin: base,
            session,
            cookie,
            arrivals,
            socket,
        }
    }

    fn turn(&mut self, server: &FakeAnthropic, plan: Plan) -> (Vec<Instant>, usize) {
        let said = format!("remote {}", plan.tag);
        server.release(&said, plan);
        publish(
            &self.host,
            &self.origin,
            &self.cookie,
            &self.session,
            &[json!({"id": uuid(), "type": "user_message", "payload": {"text": said}})],
        );
        let deadline = Instant::now() + WAIT;
        self.arrivals
            .wait(plan.tag, plan.tokens, deadline)
            .unwrap_or_else(|e| panic!("the remote client: {e}\n{}", self.remote.proc.dump()))
    }
}

impl Drop for RemoteClient {
    fn drop(&mut self) {
        let _ = self.socket.shutdown(Shutdown::Both);
        self.remote.proc.close_stdin();
    }
}

/// A version 4 UUID for an event id.
fn uuid() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let a = nanos ^ (u64::from(std::process::id()) << 32);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        a & 0xfff,
        n & 0xfff,
        n ^ (nanos & 0xffff_ffff_ffff)
    )
}

/// Reads the relay's event stream (HTTP/1.1, chunked or not), timestamping each read and
/// recording the markers in the text of each `assistant_delta` it completed.
fn read_deltas(socket: TcpStream, arrivals: &Arrivals) -> std::io::Result<()> {
    let mut r = BufReader::new(socket);
    let chunked = read_head(&mut r)?;
    let mut dechunk = Dechunk::default();
    let mut sse = SseJson::default();
    let mut body = Vec::new();
    let mut found = Vec::new();
    // What the BufReader already holds, then straight reads.
    let mut pending = r.buffer().to_vec();
    let mut socket = r.into_inner();
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = Instant::now();
    loop {
        body.clear();
        if chunked {
            if dechunk.feed(&pending, &mut body) {
                return Ok(());
            }
        } else {
            body.extend_from_slice(&pending);
        }
        found.clear();
        for event in sse.feed(&body) {
            if event["type"] == "assistant_delta"
                && let Some(text) = event["payload"]["text"].as_str()
            {
                Markers::default().feed(text.as_bytes(), |t, i| found.push((t, i)));
            }
        }
        arrivals.record(at, &found);
        let n = socket.read(&mut buf)?;
        at = Instant::now();
        if n == 0 {
            return Ok(());
        }
        pending.clear();
        pending.extend_from_slice(&buf[..n]);
    }
}

/// An incremental decoder of HTTP/1.1 chunked transfer coding.
#[derive(Default)]
struct Dechunk {
    buf: Vec<u8>,
    /// Bytes of chunk data still to come, then its CRLF.
    data: usize,
    crlf: bool,
}

impl Dechunk {
    /// Appends the data in `bytes` to `out`; true at the last chunk.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> bool {
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        loop {
            if self.data > 0 {
                let take = self.data.min(self.buf.len() - at);
                out.extend_from_slice(&self.buf[at..at + take]);
                at += take;
                self.data -= take;
                if self.data > 0 {
                    break;
                }
                self.crlf = true;
            }
            if self.crlf {
                if self.buf.len() - at < 2 {
                    break;
                }
                at += 2;
                self.crlf = false;
            }
            let Some(end) = self.buf[at..].windows(2).position(|w| w == b"\r\n") else {
                break;
            };
            let size = std::str::from_utf8(&self.buf[at..at + end])
                .ok()
                .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
                .expect("a chunk size");
            at += end + 2;
            if size == 0 {
                return true;
            }
            self.data = size;
        }
        self.buf.drain(..at);
        false
    }
}

// ---------------------------------------------------------------------------------------------
// The run

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Path {
    Raw,
    RawPipe,
    Terminal,
    Remote,
}

const PATHS: [Path; 4] = [Path::Raw, Path::RawPipe, Path::Terminal, Path::Remote];

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Raw => "raw TCP reader (baseline)",
            Path::RawPipe => "diagnostic: raw reader → pipe → a second thread",
            Path::Terminal => "**terminal**: `tether --engine anthropic`, stdout a pipe",
            Path::Remote => "**remote client**: `tether --remote`, embedded relay, SSE",
        }
    }
}

struct Readers<'a> {
    server: &'a FakeAnthropic,
    pipe: PipeHop,
    terminal: Terminal,
    remote: RemoteClient,
    next_tag: u32,
}

impl Readers<'_> {
    /// One turn on one path: (write instants, arrival instants, reads that carried tokens).
    fn turn(
        &mut self,
        path: Path,
        tokens: usize,
        pace: Option<Duration>,
    ) -> (Vec<Instant>, Vec<Instant>, usize) {
        self.next_tag += 1;
        let plan = Plan {
            tag: self.next_tag,
            tokens,
            pace,
        };
        let (arrived, reads) = match path {
            Path::Raw => raw_turn(self.server, plan, None),
            Path::RawPipe => self.pipe.turn(self.server, plan),
            Path::Terminal => self.terminal.turn(self.server, plan),
            Path::Remote => self.remote.turn(self.server, plan),
        };
        let writes = self.server.wait_done(plan.tag, Instant::now() + WAIT);
        // Let the turn settle (its end, the final message and state published) before the next.
        std::thread::sleep(Duration::from_millis(100));
        (writes, arrived, reads)
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `x` to three significant figures, with thousands separators: 1,230,000.
fn thousands(x: f64) -> String {
    let digits = x.max(1.0).log10().floor() as i32;
    let scale = 10f64.powi((digits - 2).max(0));
    let n = ((x / scale).round() * scale) as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Throughput {
    tokens: usize,
    /// First token written → last token read, per turn.
    spans: Vec<Duration>,
    /// First → last token written, per turn.
    writing: Vec<Duration>,
    cpu: Option<Duration>,
}

fn run(s: &Settings) {
    eprintln!("engines bench: building tether and warming its plugin cache…");
    let server = FakeAnthropic::start();
    let t = Tether::new().env("ANTHROPIC_API_KEY", "bench");
    let url = server.base_url();
    let mut readers = Readers {
        server: &server,
        pipe: PipeHop::start(),
        terminal: Terminal::start(&t, &url, 1 + s.rounds + s.tp_rounds),
        remote: RemoteClient::start(&t, &url),
        next_tag: 0,
    };
    let pace = Some(s.pace);

    eprintln!("engines bench: warm-up turns…");
    for path in PATHS {
        readers.turn(path, s.warmup_tokens, pace);
    }

    eprintln!(
        "engines bench: latency, {} rounds × {} tokens {} ms apart…",
        s.rounds,
        s.tokens,
        s.pace.as_millis()
    );
    let mut latency: BTreeMap<Path, Vec<f64>> = BTreeMap::new();
    let mut reads: BTreeMap<Path, usize> = BTreeMap::new();
    for _ in 0..s.rounds {
        for path in PATHS {
            let (writes, arrived, r) = readers.turn(path, s.tokens, pace);
            let l = latency.entry(path).or_default();
            for (w, a) in writes.iter().zip(&arrived) {
                l.push(us(a.saturating_duration_since(*w)));
            }
            *reads.entry(path).or_default() += r;
        }
    }

    eprintln!(
        "engines bench: throughput, {} rounds × {} tokens unpaced…",
        s.tp_rounds, s.tp_tokens
    );
    let mut throughput: BTreeMap<Path, Throughput> = BTreeMap::new();
    for _ in 0..s.tp_rounds {
        for path in PATHS {
            let cpu_before = match path {
                Path::Raw | Path::RawPipe => None,
                Path::Terminal => Some(readers.terminal.cpu_time()),
                Path::Remote => Some(readers.remote.remote.proc.cpu_time()),
            };
            let (writes, arrived, _) = readers.turn(path, s.tp_tokens, None);
            let cpu_after = match path {
                Path::Raw | Path::RawPipe => None,
                Path::Terminal => Some(readers.terminal.cpu_time()),
                Path::Remote => Some(readers.remote.remote.proc.cpu_time()),
            };
            let last = *arrived.iter().max().unwrap();
            let e = throughput.entry(path).or_insert(Throughput {
                tokens: s.tp_tokens,
                spans: Vec::new(),
                writing: Vec::new(),
                cpu: None,
            });
            e.spans.push(last - writes[0]);
            e.writing.push(writes[writes.len() - 1] - writes[0]);
            if let (Some(b), Some(a)) = (cpu_before, cpu_after) {
                // Includes the 100 ms settle after the turn: the final message and state.
                e.cpu = Some(e.cpu.unwrap_or_default() + a.saturating_sub(b));
            }
        }
    }

    let Readers {
        terminal,
        remote,
        next_tag,
        ..
    } = readers;
    terminal.finish(&server, next_tag + 1);
    drop(remote);

    // The tables.
    println!();
    println!(
        "load average at the end (1, 5, 15 min): {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!(
        "## Per-token latency, provider's write → reader ({} turns × {} tokens, {} ms apart, interleaved, after a warm-up turn each)",
        s.rounds,
        s.tokens,
        s.pace.as_millis()
    );
    println!();
    println!(
        "| path | tokens | reads | p50 µs | p90 µs | p99 µs | max µs | p50 ÷ raw | p99 ÷ raw | p50 − raw µs | p99 − raw µs |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut sorted: BTreeMap<Path, Vec<f64>> = latency
        .into_iter()
        .map(|(p, mut v)| {
            v.sort_by(f64::total_cmp);
            (p, v)
        })
        .collect();
    let raw = sorted.remove(&Path::Raw).unwrap();
    let (r50, r99) = (percentile(&raw, 0.5), percentile(&raw, 0.99));
    let row = |path: Path, v: &[f64]| {
        let (p50, p90, p99) = (percentile(v, 0.5), percentile(v, 0.9), percentile(v, 0.99));
        println!(
            "| {} | {} | {} | {p50:.0} | {p90:.0} | {p99:.0} | {:.0} | {:.1} | {:.1} | {:.0} | {:.0} |",
            path.name(),
            v.len(),
            reads[&path],
            v[v.len() - 1],
            p50 / r50,
            p99 / r99,
            p50 - r50,
            p99 - r99,
        );
    };
    row(Path::Raw, &raw);
    for (path, v) in &sorted {
        row(*path, v);
    }
    println!();
    println!(
        "`reads`: reads that carried at least one token (as many as tokens: each token arrived on its own, \
         the output streams; far fewer: it was buffered)."
    );

    println!();
    println!(
        "## Throughput ({} turns × {} tokens written back to back)",
        s.tp_rounds, s.tp_tokens
    );
    println!();
    println!(
        "| path | provider writing ms | first write → last token read ms | tokens/s | ÷ raw | tether CPU µs/token |"
    );
    println!("|---|---|---|---|---|---|");
    let median = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v[v.len() / 2]
    };
    let raw_rate = {
        let t = &throughput[&Path::Raw];
        t.tokens as f64 / median(&t.spans).as_secs_f64()
    };
    for path in PATHS {
        let t = &throughput[&path];
        let span = median(&t.spans);
        let rate = t.tokens as f64 / span.as_secs_f64();
        let cpu = t.cpu.map_or("–".to_owned(), |c| {
            format!("{:.0}", us(c) / (t.tokens * t.spans.len()) as f64)
        });
        println!(
            "| {} | {:.1} | {:.1} | {} | {:.2} | {cpu} |",
            path.name(),
            median(&t.writing).as_secs_f64() * 1e3,
            span.as_secs_f64() * 1e3,
            thousands(rate),
            rate / raw_rate,
        );
    }
    println!();
    println!("Medians over the turns; CPU from /proc (10 ms ticks), the whole turn.");
}
