//! Serving a session's [`Feed`] as Server-Sent Events or over a WebSocket, for workers and
//! clients alike.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::{FutureExt as _, SinkExt as _};
use serde::Deserialize;
use tether_protocol::{SessionId, StreamEnd};

use super::socket_writes::{After, Frame, READ_AHEAD, answer, take};
use crate::error::{ApiError, ApiResult};
use crate::feed::{Audience, Feed, FeedEnd, start_seq};
use crate::hub::Live;
use crate::revocation::{Login, Watch};
use crate::state::Shared;
use crate::store::{self, streams};
use crate::stream_limit::admit;
use crate::wired::Wired;
use crate::{presence, publish};

/// `?from_seq=`: where a stream starts when there is no `Last-Event-ID`.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// Events after this `seq` follow.
    pub from_seq: Option<u64>,
}

/// Where a stream starts, from its request.
pub fn start(headers: &HeaderMap, query: &StreamQuery) -> ApiResult<u64> {
    let last = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("?"));
    start_seq(last, query.from_seq).map_err(ApiError::bad_request)
}

/// Held for as long as a stream is open: keeps the gauges right, holds the stream's place in
/// the database's count (which every node's caps read) and tells the hub when a worker stream
/// goes away.
pub struct Open {
    state: Shared,
    worker: Option<Arc<Live>>,
    place: i64,
}

impl Open {
    /// Count the stream against its session's and account's limits, on every node (`429` over
    /// them, `503` when the database cannot count it).
    pub async fn new(
        state: &Shared,
        account: i64,
        session: &SessionId,
        audience: Audience,
        live: &Arc<Live>,
    ) -> ApiResult<Open> {
        let node = state.node.clone();
        let lease = u64::try_from(state.stream_lease().as_millis()).unwrap_or(u64::MAX);
        let limits = state.config.limits.clone();
        let id = session.clone();
        let place = state
            .store
            .write(move |c| {
                let now = store::now_ms();
                let (on_session, on_account) = streams::count(c, &id, account, now)?;
                if let Err(refusal) = admit(on_session, on_account, &limits) {
                    return Ok(Err(refusal));
                }
                streams::insert(c, &node, &id, account, now.saturating_add(lease)).map(Ok)
            })
            .await?
            .map_err(|refusal| ApiError::too_many_streams(refusal.to_string()))?;
        let counted = |worker| Open {
            state: state.clone(),
            worker,
            place,
        };
        match audience {
            Audience::Client => {
                state.metrics.client_streams.inc();
                Ok(counted(None))
            }
            Audience::Worker { .. } => {
                state.metrics.worker_streams.inc();
                let open = counted(Some(live.clone()));
                presence::heard(state, session, live, true).await?;
                Ok(open)
            }
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let place = self.place;
        let state = self.state.clone();
        // Without a runtime (the process is ending) the lease frees the place instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = state.store.write(move |c| streams::remove(c, place)).await {
                    tracing::debug!(error = %e, "a closed stream's place waits for its lease");
                }
            });
        }
        match &self.worker {
            Some(live) => {
                self.state.metrics.worker_streams.dec();
                live.stream_closed(Instant::now());
            }
            None => {
                self.state.metrics.client_streams.dec();
            }
        }
    }
}

/// A stream about to be served, either way: where it starts, and the guard that keeps gauges
/// and the worker's presence right while it is open.
pub struct Opened {
    id: SessionId,
    feed: Feed,
    open: Open,
    audience: Audience,
    watch: Watch,
}

/// Open a stream of session `id` (owned by `account`) for `audience`, starting where the
/// request asks. The stream was authorised once, now, with a credential of `login`; it ends
/// when that login is revoked.
#[allow(clippy::too_many_arguments)]
pub async fn open(
    state: &Shared,
    account: i64,
    id: SessionId,
    live: Arc<Live>,
    headers: &HeaderMap,
    query: &StreamQuery,
    audience: Audience,
    login: Login,
) -> ApiResult<Opened> {
    let from = start(headers, query)?;
    let watch = state.hub.revocations.watch(login);
    // Revoked after the credential was checked but before the watch began: not seen by it.
    if state.hub.revocations.is_revoked(&login) {
        return Err(ApiError::unauthorized(
            "This login has been revoked; log in again.",
        ));
    }
    // Subscribe first: a live state nobody subscribes to may be evicted by the sweep while the
    // stream's place is being counted, and a feed on an evicted one would never hear again.
    // It may also have been evicted already, between being loaded and getting here (the
    // answer of the write that loaded it crosses threads): then the session's live state is
    // loaded again. Once subscribed to, it is not idle, so the check cannot come too early.
    let mut live = live;
    let feed = loop {
        let feed = Feed::new(state.clone(), id.clone(), Arc::clone(&live), from, audience);
        if state.hub.holds(&id, &live) {
            break feed;
        }
        tracing::debug!(session = %id, "the live state was evicted before the stream subscribed");
        live = publish::live(state, &id).await?;
    };
    let open = Open::new(state, account, &id, audience, &live).await?;
    Ok(Opened {
        id,
        feed,
        open,
        audience,
        watch,
    })
}

impl Opened {
    /// Serve it as Server-Sent Events.
    pub fn sse(self, state: &Shared) -> Response {
        sse(state, self.feed, self.open, self.watch)
    }

    /// Serve it over a WebSocket, which also takes writes.
    pub fn websocket(self, state: &Shared, upgrade: WebSocketUpgrade) -> Response {
        websocket(
            state,
            upgrade,
            self.id,
            self.feed,
            self.open,
            self.audience,
            self.watch,
        )
    }
}

/// The last word of a stream whose node is stopping: move now (docs/protocol.md 5.6).
const RECONNECT: &[u8] =
    b"event: reconnect\ndata: {\"reason\":\"the relay is restarting; reconnect and resume\"}\n\n";

/// Said after a keepalive interval without a message, so proxies and readers see the stream
/// is alive.
const KEEPALIVE: &[u8] = b":keepalive\n\n";

/// One write carrying every event due: what a reader gets per wake-up, however many events
/// came while it was busy.
fn sse_chunk(due: &[Arc<Wired>]) -> Bytes {
    let mut out = Vec::with_capacity(due.iter().map(|e| e.json.len() + 32).sum());
    for event in due {
        event.write_sse(&mut out);
    }
    Bytes::from(out)
}

/// What an SSE stream carries between two writes.
struct Reading {
    feed: Feed,
    _open: Open,
    watch: Watch,
    state: Shared,
}

fn sse(state: &Shared, feed: Feed, open: Open, watch: Watch) -> Response {
    let keepalive = state.config.liveness.keepalive;
    let reading = Reading {
        feed,
        _open: open,
        watch,
        state: state.clone(),
    };
    // `None` once the stream has said its last word.
    let stream = futures::stream::unfold(Some(reading), move |reading| async move {
        let mut r = reading?;
        // Biased: a revoked stream must not deliver one more event, even one already due.
        let next = tokio::select! {
            biased;
            _ = r.watch.revoked(&r.state.hub.revocations) => return None,
            next = r.feed.next() => next,
            _ = tokio::time::sleep(keepalive) => {
                return Some((Ok(Bytes::from_static(KEEPALIVE)), Some(r)));
            }
        };
        match next {
            Ok(Ok(due)) => Some((Ok::<_, Infallible>(sse_chunk(&due)), Some(r))),
            Ok(Err(FeedEnd::Stopping)) => Some((Ok(Bytes::from_static(RECONNECT)), None)),
            _ => None,
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// How many bytes of frames a WebSocket gathers before writing them without waiting for the
/// flush: enough for a burst of deltas in one write, small enough that the buffer a socket
/// keeps after a burst costs little.
const WRITE_BUFFER: usize = 16 * 1024;

/// The WebSocket: events out, writes in (answered with `{"ack"}` or `{"error"}`), pings as
/// keepalives.
fn websocket(
    state: &Shared,
    upgrade: WebSocketUpgrade,
    session: SessionId,
    feed: Feed,
    open: Open,
    audience: Audience,
    watch: Watch,
) -> Response {
    let state = state.clone();
    let max = state.config.limits.max_body;
    upgrade
        // What an idle socket keeps allocated to read into: most of an idle WebSocket's
        // memory. Writes are small events; a larger one is read 1 KiB at a time.
        .read_buffer_size(1024)
        // Events due at once go out in one write (each is fed, then one flush), up to this.
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| run(socket, state, session, feed, open, audience, watch))
}

async fn run(
    mut socket: WebSocket,
    state: Shared,
    session: SessionId,
    mut feed: Feed,
    open: Open,
    audience: Audience,
    mut watch: Watch,
) {
    let _open = open;
    let max = state.config.limits.max_body;
    let mut ping = tokio::time::interval(state.config.liveness.keepalive);
    ping.tick().await;
    loop {
        tokio::select! {
            // Biased: once the login is revoked, no frame already read may still be written.
            biased;
            _ = watch.revoked(&state.hub.revocations) => {
                tracing::info!(session = %session, "stream closed: its login was revoked");
                close_socket(&mut socket, StreamEnd::Revoked).await;
                return;
            }
            next = feed.next() => {
                let close = match next {
                    Ok(Ok(due)) => {
                        for event in due {
                            if socket.feed(Message::Text(event.json.clone())).await.is_err() { return; }
                        }
                        if socket.flush().await.is_err() { return; }
                        continue;
                    }
                    Ok(Err(end)) => {
                        close_socket(&mut socket, end.wire()).await;
                        return;
                    }
                    Err(_) => CloseFrame { code: 1011, reason: "internal error".into() },
                };
                close_with(&mut socket, close).await;
                return;
            }
            message = socket.recv() => {
                let mut frames = Vec::new();
                let mut after = take(message, &mut frames);
                let mut bytes = frames.iter().map(Frame::len).sum::<usize>();
                // What has already arrived behind it is answered with it: one transaction and
                // one flush for a pipelining writer, where each frame used to wait for the
                // commit and the reply of the one before. Bounded, so that a writer that never
                // pauses still gets its answers and cannot make the relay hold more than about
                // one body's worth of frames.
                while after == After::More && frames.len() < READ_AHEAD && bytes < max {
                    let Some(message) = socket.recv().now_or_never() else { break };
                    let before = frames.len();
                    after = take(message, &mut frames);
                    bytes += frames[before..].iter().map(Frame::len).sum::<usize>();
                }
                if !answer(&mut socket, &state, &session, feed.live(), audience, frames).await {
                    return;
                }
                match after {
                    After::More => {}
                    After::Closed => return,
                    After::TooBig => {
                        close_too_big(&mut socket, max).await;
                        return;
                    }
                }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() { return; }
            }
        }
    }
}

/// Send a close frame and wait (briefly) for the peer's, as RFC 6455 §7.1 asks. Dropping the
/// connection at once makes the kernel answer anything still in flight from the peer (a pong, a
/// write racing the close) with a reset, and the peer then loses the close frame and its code —
/// the very code (`4409`) that tells a stale worker to stop.
pub(super) async fn close_socket(socket: &mut WebSocket, end: StreamEnd) {
    let frame = CloseFrame {
        code: end.close_code(),
        reason: end.reason().into(),
    };
    close_with(socket, frame).await;
}

async fn close_with(socket: &mut WebSocket, frame: CloseFrame) {
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Close with 1009 (RFC 6455 §7.4.1: a message too big to process) instead of dropping the
/// connection, so that the peer learns why. Nothing more is read: the rest of the oversized
/// frame would be buffered whole. The socket is kept open a moment for the close frame to be
/// read, since closing it with the frame's remainder unread makes the kernel send a reset,
/// which can discard the close frame before the peer sees it.
async fn close_too_big(socket: &mut WebSocket, max: usize) {
    let frame = CloseFrame {
        code: StreamEnd::TooBig.close_code(),
        reason: format!("messages are limited to {max} bytes").into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_ok() {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
