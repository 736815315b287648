//! A reply as bytes on the wire: status, headers, body parts with their delays, how the body
//! is delimited and how it ends. Scripts are made of these so that a test can reproduce what a
//! real provider (or a broken proxy in front of one) does to a stream.

use std::time::Duration;

use serde_json::Value;

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

/// One scripted reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// A wait before the status line (a slow provider).
    pub before: Duration,
    /// The HTTP status.
    pub status: u16,
    /// Headers besides `date` and the framing's own.
    pub headers: Vec<(String, String)>,
    /// Each part is written (as its own chunk when chunked) after its delay.
    pub parts: Vec<(Duration, Vec<u8>)>,
    /// How the body is delimited.
    pub framing: Framing,
    /// How the body ends.
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

    /// A whole body of `content_type` with a content length.
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

    /// Adds a header.
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

    /// Delimits the body this way instead.
    pub fn framing(mut self, framing: Framing) -> Reply {
        self.framing = framing;
        self
    }

    /// Ends the body this way instead.
    pub fn end(mut self, end: End) -> Reply {
        self.end = end;
        self
    }
}

/// The reason phrase sent with `status` (clients ignore it; it keeps the status line real).
pub(crate) fn reason(status: u16) -> &'static str {
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

/// The status line and headers of `reply`, with the header its framing needs.
pub(crate) fn head(reply: &Reply) -> String {
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
    head
}
