//! Shared by the relay's integration tests: the relay itself and its HTTP helpers come from
//! `tether_relay::test_support` (shared with the bridge's tests); what is here reads event
//! streams, over SSE and over a WebSocket, as a client or a worker would.
#![allow(dead_code)]

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use tether_protocol::Event;
pub use tether_relay::test_support::*;

/// One frame of a Server-Sent Events stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Event {
        id: Option<String>,
        data: String,
    },
    Comment(String),
    /// `event: reconnect` (the node is stopping), with its data.
    Reconnect(String),
}

impl Frame {
    pub fn event(&self) -> Option<Event> {
        match self {
            Frame::Event { data, .. } => Some(serde_json::from_str(data).expect("events are JSON")),
            Frame::Comment(_) | Frame::Reconnect(_) => None,
        }
    }
}

/// An SSE reader over a reqwest response, framed by `tether-sse`.
pub struct Sse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    parser: tether_sse::Parser,
    /// Frames a chunk completed that have not been asked for yet.
    ready: std::collections::VecDeque<Frame>,
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
            parser: tether_sse::Parser::new(64 << 20),
            ready: Default::default(),
        }
    }

    /// The next frame, or `None` when the stream ends or nothing comes within `wait`.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Some(frame);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            let items = self
                .parser
                .push(&chunk.ok()?)
                .expect("a readable event stream");
            self.ready
                .extend(items.into_iter().filter_map(|item| match item {
                    tether_sse::Item::Event(e) if e.event == tether_protocol::RECONNECT_EVENT => {
                        Some(Frame::Reconnect(e.data))
                    }
                    tether_sse::Item::Event(e) => Some(Frame::Event {
                        id: (!e.id.is_empty()).then_some(e.id),
                        data: e.data,
                    }),
                    tether_sse::Item::Comment(c) => Some(Frame::Comment(c.trim().to_owned())),
                    tether_sse::Item::Retry(_) => None,
                }));
        }
    }

    /// How many body chunks (writes of the relay, as hyper frames them) the next `n` events
    /// come in, waiting at most `wait` for each.
    pub async fn chunks_for(&mut self, n: usize, wait: Duration) -> Option<usize> {
        let mut events = 0;
        let mut chunks = 0;
        while events < n {
            let chunk = tokio::time::timeout(wait, self.body.next())
                .await
                .ok()??
                .ok()?;
            chunks += 1;
            let items = self.parser.push(&chunk).expect("a readable event stream");
            events += items
                .iter()
                .filter(|i| matches!(i, tether_sse::Item::Event(_)))
                .count();
        }
        Some(chunks)
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
