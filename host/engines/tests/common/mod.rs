//! A scripted HTTP/1.1 server on loopback, for testing the HTTP engines against the real wire
//! formats: it records each request and plays the next scripted reply, chunk by chunk, with
//! delays, abrupt closes and hangs, and it notices when the client closes its connection.
//!
//! Also: fixtures shaped like recorded Anthropic and OpenAI streams, helpers that drain an
//! engine's stream, and the checks both engines' tests make.

#![allow(dead_code)] // each test file uses part of it

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tether_engines::http::RetryPolicy;
use tether_engines::usage::TurnUsage;
use tether_engines::{Engine, EngineError, EngineEvent, EngineStream, TurnRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Value::Null` if it was not JSON).
    pub body: Value,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the body is delimited, as real servers do it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `transfer-encoding: chunked`, one HTTP chunk per part.
    Chunked,
    /// `content-length` (the parts are still written separately).
    Length,
    /// No length: the body ends when the server closes the connection.
    Close,
}

/// What happens after the last part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The body is finished properly.
    Complete,
    /// The socket is closed without finishing the body (no final chunk).
    Abort,
    /// Nothing more is sent and the socket is held open until the client closes it.
    Hang,
}

#[derive(Debug, Clone)]
pub struct Reply {
    /// A wait before the status line (a slow provider).
    pub before: Duration,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Each part is written (as its own chunk when chunked) after its delay.
    pub parts: Vec<(Duration, Vec<u8>)>,
    pub framing: Framing,
    pub end: End,
}

impl Reply {
    /// A streamed 200 reply, one event (or any text) per part.
    pub fn sse<S: AsRef<str>>(parts: impl IntoIterator<Item = S>) -> Reply {
        Reply {
            before: Duration::ZERO,
            status: 200,
            headers: vec![
                (
                    "content-type".into(),
                    "text/event-stream; charset=utf-8".into(),
                ),
                ("cache-control".into(), "no-cache".into()),
            ],
            parts: parts
                .into_iter()
                .map(|p| (Duration::ZERO, p.as_ref().as_bytes().to_vec()))
                .collect(),
            framing: Framing::Chunked,
            end: End::Complete,
        }
    }

    /// A whole JSON body with a content length, as error replies come.
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::text(status, "application/json", &body.to_string())
    }

    pub fn text(status: u16, content_type: &str, body: &str) -> Reply {
        Reply {
            before: Duration::ZERO,
            status,
            headers: vec![("content-type".into(), content_type.into())],
            parts: vec![(Duration::ZERO, body.as_bytes().to_vec())],
            framing: Framing::Length,
            end: End::Complete,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same bytes, re-cut into parts of `size` bytes: events and lines then straddle
    /// chunks, and so may UTF-8 characters.
    pub fn rechunk(mut self, size: usize) -> Reply {
        let all: Vec<u8> = self.parts.iter().flat_map(|(_, b)| b.clone()).collect();
        self.parts = all
            .chunks(size.max(1))
            .map(|c| (Duration::ZERO, c.to_vec()))
            .collect();
        self
    }

    /// Waits `delay` before answering at all.
    pub fn after(mut self, delay: Duration) -> Reply {
        self.before = delay;
        self
    }

    /// Waits `delay` before every part.
    pub fn pace(mut self, delay: Duration) -> Reply {
        for part in &mut self.parts {
            part.0 = delay;
        }
        self
    }

    pub fn framing(mut self, framing: Framing) -> Reply {
        self.framing = framing;
        self
    }

    pub fn end(mut self, end: End) -> Reply {
        self.end = end;
        self
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    closed: Mutex<usize>,
    connections: Mutex<usize>,
    changed: Notify,
}

pub struct Server {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Listens on 127.0.0.1 (a free port) and plays `script`, one reply per request, in order.
    /// A request beyond the script gets a 500 saying so.
    pub async fn start(script: impl IntoIterator<Item = Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into_iter().collect()),
            ..Default::default()
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                *s.connections.lock().unwrap() += 1;
                tokio::spawn(serve(socket, s.clone()));
            }
        });
        Server { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many connections clients opened.
    pub fn connections(&self) -> usize {
        *self.shared.connections.lock().unwrap()
    }

    /// How many times a client closed a connection the server was holding.
    pub fn closed(&self) -> usize {
        *self.shared.closed.lock().unwrap()
    }

    /// Waits until clients have closed `n` connections; false if `within` passes first.
    pub async fn wait_closed(&self, n: usize, within: Duration) -> bool {
        tokio::time::timeout(within, async {
            loop {
                let notified = self.shared.changed.notified();
                if self.closed() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }
}

async fn serve(mut socket: TcpStream, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut socket, &mut buffer).await else {
            client_closed(&shared);
            return;
        };
        shared.requests.lock().unwrap().push(request);
        let reply = shared
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| {
                Reply::text(
                    500,
                    "text/plain",
                    "the test server has no reply scripted for this",
                )
                .framing(Framing::Close)
            });
        if write_reply(&mut socket, &reply).await.is_err() {
            client_closed(&shared);
            return;
        }
        match (reply.end, reply.framing) {
            (End::Abort, _) => return, // dropped: the client sees the body cut off
            (End::Hang, _) => {
                // Send nothing more; report when the client gives up on the connection.
                let mut sink = [0u8; 1024];
                loop {
                    match socket.read(&mut sink).await {
                        Ok(0) | Err(_) => {
                            client_closed(&shared);
                            return;
                        }
                        Ok(_) => {}
                    }
                }
            }
            (End::Complete, Framing::Close) => {
                let _ = socket.shutdown().await;
                return;
            }
            (End::Complete, _) => {} // keep-alive: wait for the next request
        }
    }
}

fn client_closed(shared: &Shared) {
    *shared.closed.lock().unwrap() += 1;
    shared.changed.notify_waiters();
}

/// Reads one request (headers, then a `content-length` body). `None` when the client closed.
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let mut chunk = [0u8; 4096];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    buffer.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < length {
        let mut chunk = [0u8; 4096];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body: Vec<u8> = buffer.drain(..length).collect();
    Some(Recorded {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    })
}

/// Waits `delay`, watching the socket: a client that closes it meanwhile ends the reply.
async fn pause(socket: &mut TcpStream, delay: Duration) -> std::io::Result<()> {
    if delay.is_zero() {
        return Ok(());
    }
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    let mut sink = [0u8; 1024];
    loop {
        tokio::select! {
            _ = &mut sleep => return Ok(()),
            read = socket.read(&mut sink) => match read {
                Ok(0) | Err(_) => return Err(std::io::ErrorKind::ConnectionAborted.into()),
                Ok(_) => {}
            },
        }
    }
}

async fn write_reply(socket: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    pause(socket, reply.before).await?;
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    head.push_str("date: Wed, 01 Oct 2025 12:00:00 GMT\r\n");
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match reply.framing {
        Framing::Chunked => head.push_str("transfer-encoding: chunked\r\n"),
        Framing::Length => {
            let length: usize = reply.parts.iter().map(|(_, b)| b.len()).sum();
            head.push_str(&format!("content-length: {length}\r\n"));
        }
        Framing::Close => head.push_str("connection: close\r\n"),
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await?;
    socket.flush().await?;
    for (delay, bytes) in &reply.parts {
        pause(socket, *delay).await?;
        if reply.framing == Framing::Chunked {
            if bytes.is_empty() {
                continue; // an empty chunk would end the body
            }
            socket
                .write_all(format!("{:x}\r\n", bytes.len()).as_bytes())
                .await?;
            socket.write_all(bytes).await?;
            socket.write_all(b"\r\n").await?;
        } else {
            socket.write_all(bytes).await?;
        }
        socket.flush().await?;
    }
    if reply.end == End::Complete && reply.framing == Framing::Chunked {
        socket.write_all(b"0\r\n\r\n").await?;
        socket.flush().await?;
    }
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        529 => "Site is overloaded",
        _ => "Whatever",
    }
}

/// An address where nothing listens: bound, then released.
pub async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Everything a stream produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The deltas, concatenated.
    pub text: String,
    pub deltas: usize,
    pub usage: Vec<TurnUsage>,
    /// (attempt, of, after, reason)
    pub retries: Vec<(u32, u32, Duration, String)>,
    pub error: Option<EngineError>,
    /// An event came after the error or after the usage.
    pub after_end: bool,
}

pub async fn drain(mut stream: EngineStream) -> Outcome {
    let mut out = Outcome::default();
    let drained = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(item) = stream.next().await {
            if out.error.is_some() || !out.usage.is_empty() {
                out.after_end = true;
            }
            match item {
                Ok(EngineEvent::Delta(d)) => {
                    out.text.push_str(&d);
                    out.deltas += 1;
                }
                Ok(EngineEvent::Usage(u)) => out.usage.push(u),
                Ok(EngineEvent::Retrying {
                    attempt,
                    of,
                    after,
                    reason,
                }) => out.retries.push((attempt, of, after, reason)),
                Ok(other) => panic!("unexpected event {other:?}"),
                Err(e) => out.error = Some(e),
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the stream did not end: {out:?}");
    out
}

impl Outcome {
    pub fn error(&self) -> String {
        self.error
            .as_ref()
            .unwrap_or_else(|| panic!("expected an error: {self:?}"))
            .0
            .clone()
    }
}

/// One turn of a single user message, drained.
pub async fn ask(engine: &dyn Engine, text: &str) -> Outcome {
    drain(engine.reply(TurnRequest::user(text))).await
}

/// The tests' retry policy: three attempts, with waits short enough for a test.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    }
}

/// Checks a turn that succeeded on its second attempt, made a second after the first as the
/// server asked (`retry-after: 1`). Returns the reason given for the retry.
pub fn assert_retried_once_as_asked(out: &Outcome, server: &Server) -> String {
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.retries.len(), 1);
    let (attempt, of, after, reason) = &out.retries[0];
    assert_eq!((*attempt, *of, *after), (2, 3, Duration::from_secs(1)));
    let r = server.requests();
    assert_eq!(r.len(), 2);
    let waited = r[1].at - r[0].at;
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    reason.clone()
}

/// The next event of `stream`, which must be text.
pub async fn next_delta(stream: &mut EngineStream) -> String {
    match stream.next().await {
        Some(Ok(EngineEvent::Delta(d))) => d,
        other => panic!("{other:?}"),
    }
}

/// Drops `stream`, a turn whose connection the server is holding, and checks that the
/// connection is closed within a second.
pub async fn assert_dropping_closes(server: &Server, stream: EngineStream) {
    assert_eq!(server.closed(), 0);
    drop(stream);
    assert!(
        server.wait_closed(1, Duration::from_secs(1)).await,
        "the server still holds the connection a second after the stream was dropped"
    );
}

// ---- Anthropic's stream, as recorded ----

pub fn a_event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

pub const A_PING: &str = "event: ping\ndata: {\"type\": \"ping\"}\n\n";

pub fn a_message_start(input: u64, cache_write: u64, cache_read: u64) -> String {
    a_event(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-5-20250929",
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {
                    "input_tokens": input,
                    "cache_creation_input_tokens": cache_write,
                    "cache_read_input_tokens": cache_read,
                    "cache_creation": {"ephemeral_5m_input_tokens": cache_write, "ephemeral_1h_input_tokens": 0},
                    "output_tokens": 1,
                    "service_tier": "standard"
                }
            }
        }),
    )
}

/// A text block: start, one delta per piece, stop.
pub fn a_text_block(index: u32, pieces: &[&str]) -> Vec<String> {
    let mut out = vec![a_event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
    )];
    for piece in pieces {
        out.push(a_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    out.push(a_event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": index}),
    ));
    out
}

pub fn a_thinking_block(index: u32, thought: &str) -> Vec<String> {
    vec![
        a_event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": ""}}),
        ),
        a_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": thought}}),
        ),
        a_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}),
        ),
        a_event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ),
    ]
}

pub fn a_message_end(output: u64) -> Vec<String> {
    vec![
        a_event(
            "message_delta",
            &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": output}}),
        ),
        a_event("message_stop", &json!({"type": "message_stop"})),
    ]
}

pub fn a_error_event(kind: &str, message: &str) -> String {
    a_event(
        "error",
        &json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

pub fn a_error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"})
}

/// A whole ordinary reply: one text block of `pieces`.
pub fn a_reply(pieces: &[&str]) -> Vec<String> {
    let mut out = vec![a_message_start(12, 0, 0)];
    out.extend(a_text_block(0, pieces));
    out.extend(a_message_end(7));
    out
}

// ---- OpenAI's stream, as recorded ----

/// A chunk with these `choices` and `usage`, as a `data:` line.
fn o_envelope(choices: Value, usage: Value) -> String {
    let chunk = json!({
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
        "choices": choices,
        "usage": usage
    });
    format!("data: {chunk}\n\n")
}

pub fn o_chunk(delta: Value, finish: Option<&str>) -> String {
    o_envelope(
        json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
        Value::Null,
    )
}

pub fn o_text(text: &str) -> String {
    o_chunk(json!({"content": text}), None)
}

pub fn o_usage(prompt: u64, completion: u64, cached: u64) -> String {
    o_envelope(
        json!([]),
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        }),
    )
}

pub const O_DONE: &str = "data: [DONE]\n\n";

/// A whole ordinary reply: the role chunk, one chunk per piece, the finish, usage, [DONE].
pub fn o_reply(pieces: &[&str]) -> Vec<String> {
    let mut out = vec![o_chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
    )];
    out.extend(pieces.iter().map(|p| o_text(p)));
    out.push(o_chunk(json!({}), Some("stop")));
    out.push(o_usage(9, 12, 0));
    out.push(O_DONE.to_string());
    out
}

pub fn o_error_body(message: &str, kind: &str, code: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}
