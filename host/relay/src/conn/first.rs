//! A connection's first request head, read before hyper sees the connection, to tell an event
//! stream (served by `stream.rs`, outside hyper) from everything else (hyper's, with the bytes
//! read so far put back in front: [`Rewind`]).
//!
//! Only the plainest request takes the stream path: `GET` of one of the two stream routes, HTTP
//! /1.1, no body (no `Content-Length` but `0`, no `Transfer-Encoding`), no `Upgrade`, no
//! `Expect`, nothing sent after the head, a head that parses and fits [`MAX_HEAD`]. Whatever
//! is unusual goes to hyper, which knows how to answer it: the stream path needs to know only
//! the easy case, and cannot be confused by the hard ones.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, Method, Request, Version};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};

/// A head longer than this is hyper's (it has the limits and the `431`).
pub const MAX_HEAD: usize = 8 * 1024;
/// A head with more header fields than this is hyper's.
const MAX_HEADERS: usize = 48;

/// What a connection's first bytes are.
pub enum First {
    /// A request for an event stream, answered outside hyper.
    Stream(Box<Request<Body>>),
    /// Anything else, for hyper: the bytes read so far, to be read again.
    Hyper(Bytes),
    /// The peer closed, failed or took longer than the header timeout before a whole head.
    Gone,
}

/// Read the first request head from `io` within `timeout`, only as far as needed to decide.
pub async fn read<S: AsyncRead + Unpin>(io: &mut S, timeout: Duration) -> First {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = BytesMut::new();
    // Most heads arrive in one read, and are under 1 KiB.
    let mut chunk = [0u8; 1024];
    loop {
        let room = chunk.len().min(MAX_HEAD - buf.len());
        match tokio::time::timeout_at(deadline, io.read(&mut chunk[..room])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return First::Gone,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
        match classify(&buf) {
            Verdict::Stream(request) => return First::Stream(request),
            Verdict::Hyper => return First::Hyper(buf.freeze()),
            Verdict::More if buf.len() >= MAX_HEAD => return First::Hyper(buf.freeze()),
            Verdict::More => {}
        }
    }
}

/// What the bytes read so far decide.
#[derive(Debug)]
pub enum Verdict {
    Stream(Box<Request<Body>>),
    Hyper,
    More,
}

/// Decide from `buf`, the first bytes of a connection.
pub fn classify(buf: &[u8]) -> Verdict {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut headers);
    let len = match head.parse(buf) {
        Err(_) => return Verdict::Hyper,
        Ok(httparse::Status::Partial) => {
            // The request line alone usually decides: most requests are not streams.
            return match (head.method, head.path) {
                (Some(method), Some(path)) if !(method == "GET" && is_stream(path)) => {
                    Verdict::Hyper
                }
                _ => Verdict::More,
            };
        }
        Ok(httparse::Status::Complete(len)) => len,
    };
    // Bytes after the head are a body or a pipelined request: hyper's to read.
    if len != buf.len() || head.method != Some("GET") || head.version != Some(1) {
        return Verdict::Hyper;
    }
    let Some(path) = head.path.filter(|p| is_stream(p)) else {
        return Verdict::Hyper;
    };
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .version(Version::HTTP_11);
    for header in head.headers.iter() {
        let name = header.name;
        let plain = match name.to_ascii_lowercase().as_str() {
            "content-length" => header.value == b"0",
            "transfer-encoding" | "upgrade" | "expect" => false,
            _ => true,
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(header.value),
        ) else {
            return Verdict::Hyper;
        };
        if !plain {
            return Verdict::Hyper;
        }
        request = request.header(name, value);
    }
    match request.body(Body::empty()) {
        Ok(request) => Verdict::Stream(Box::new(request)),
        Err(_) => Verdict::Hyper,
    }
}

/// Whether `target` (path and query) names a worker's or a client's event stream:
/// `/v1/code/sessions/{id}/events/stream` or `/v1/code/sessions/{id}/worker/events/stream`.
/// Whether the session exists, or the caller may read it, is the router's to say.
pub fn is_stream(target: &str) -> bool {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let Some(rest) = path.strip_prefix("/v1/code/sessions/") else {
        return false;
    };
    let Some((id, tail)) = rest.split_once('/') else {
        return false;
    };
    !id.is_empty() && (tail == "events/stream" || tail == "worker/events/stream")
}

/// A connection whose first bytes were already read: they are read again first.
pub struct Rewind<S> {
    read: Bytes,
    io: S,
}

impl<S> Rewind<S> {
    pub fn new(read: Bytes, io: S) -> Self {
        Rewind { read, io }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            let first = self.read.split_to(n);
            buf.put_slice(&first);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(head: &str) -> &'static str {
        match classify(head.as_bytes()) {
            Verdict::Stream(_) => "stream",
            Verdict::Hyper => "hyper",
            Verdict::More => "more",
        }
    }

    const STREAM: &str = "GET /v1/code/sessions/s1/events/stream?from_seq=3 HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer t\r\n\r\n";

    #[test]
    fn a_plain_stream_get_is_a_stream_with_its_headers() {
        let Verdict::Stream(request) = classify(STREAM.as_bytes()) else {
            panic!("not a stream");
        };
        assert_eq!(
            request.uri(),
            "/v1/code/sessions/s1/events/stream?from_seq=3"
        );
        assert_eq!(request.headers()["authorization"], "Bearer t");
        assert_eq!(request.headers()["host"], "r");
        let worker = "GET /v1/code/sessions/s1/worker/events/stream HTTP/1.1\r\nHost: r\r\n\r\n";
        assert_eq!(verdict(worker), "stream");
        let zero = "GET /v1/code/sessions/s/events/stream HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(verdict(zero), "stream");
    }

    #[test]
    fn a_partial_head_waits_unless_its_request_line_decides() {
        assert_eq!(verdict(&STREAM[..STREAM.len() - 2]), "more");
        assert_eq!(verdict("GET /v1/code/sess"), "more");
        assert_eq!(verdict(""), "more");
        assert_eq!(
            verdict("POST /v1/code/sessions/s/events HTTP/1.1\r\nHo"),
            "hyper"
        );
        assert_eq!(verdict("GET /healthz HTTP/1.1\r\n"), "hyper");
    }

    #[test]
    fn anything_unusual_is_hypers() {
        let cases = [
            // Other methods, paths and versions.
            "POST /v1/code/sessions/s/events/stream HTTP/1.1\r\n\r\n",
            "HEAD /v1/code/sessions/s/events/stream HTTP/1.1\r\n\r\n",
            "GET /v1/code/sessions/s/events/stream HTTP/1.0\r\n\r\n",
            "GET /v1/code/sessions//events/stream HTTP/1.1\r\n\r\n",
            "GET /v1/code/sessions/s/x/events/stream HTTP/1.1\r\n\r\n",
            "GET /v1/code/sessions/s/ws HTTP/1.1\r\n\r\n",
            "GET /v1/code/sessions/s/events/stream/ HTTP/1.1\r\n\r\n",
            "GET http://r/v1/code/sessions/s/events/stream HTTP/1.1\r\n\r\n",
            // A body, or something that asks for more than a plain answer.
            "GET /v1/code/sessions/s/events/stream HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET /v1/code/sessions/s/events/stream HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            "GET /v1/code/sessions/s/events/stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /v1/code/sessions/s/events/stream HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "GET /v1/code/sessions/s/events/stream HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            // A pipelined request behind it.
            "GET /v1/code/sessions/s/events/stream HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            // Heads that do not parse.
            "GET /v1/code/sessions/s/events/stream HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "GET /v1/code/sessions/s/events/stream\r\n\r\n",
            "\x16\x03\x01\x02\x00",
        ];
        for case in cases {
            assert_eq!(verdict(case), "hyper", "{case:?}");
        }
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect();
        let long = format!("GET /v1/code/sessions/s/events/stream HTTP/1.1\r\n{many}\r\n");
        assert_eq!(verdict(&long), "hyper");
    }

    #[test]
    fn stream_paths_are_exactly_the_two_routes() {
        assert!(is_stream("/v1/code/sessions/abc/events/stream"));
        assert!(is_stream(
            "/v1/code/sessions/abc/worker/events/stream?from_seq=1"
        ));
        for path in [
            "/v1/code/sessions/abc/events",
            "/v1/code/sessions/abc",
            "/v1/code/sessions/",
            "/v1/code/sessions/abc/events/stream/x",
            "/v2/code/sessions/abc/events/stream",
            "//v1/code/sessions/abc/events/stream",
        ] {
            assert!(!is_stream(path), "{path}");
        }
    }

    #[tokio::test]
    async fn hyper_reads_the_bytes_already_read_first() {
        use tokio::io::AsyncReadExt as _;
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b" world")
            .await
            .unwrap();
        drop(a);
        let mut rewind = Rewind::new(Bytes::from_static(b"hello"), b);
        let mut all = String::new();
        rewind.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello world");
    }

    #[tokio::test]
    async fn a_head_that_stalls_or_never_ends_is_not_waited_for() {
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"GET /v1/code/sess")
            .await
            .unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(
            read(&mut b, Duration::from_millis(100)).await,
            First::Gone
        ));
        assert!(started.elapsed() < Duration::from_secs(2));

        // A stream's head that goes on past MAX_HEAD is handed over, not buffered further.
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        let mut head = b"GET /v1/code/sessions/s/events/stream HTTP/1.1\r\n".to_vec();
        head.extend(std::iter::repeat_n(b'a', 2 * MAX_HEAD));
        tokio::io::AsyncWriteExt::write_all(&mut a, &head)
            .await
            .unwrap();
        match read(&mut b, Duration::from_secs(5)).await {
            First::Hyper(read) => assert!(read.len() <= MAX_HEAD, "{}", read.len()),
            _ => panic!("not handed over"),
        }
    }
}
