//! The relay's own accept loop, in place of `axum::serve`, which has no header timeout, no
//! connection cap and a shutdown that waits for ever on a half-sent request.
//!
//! - Every connection must send a whole request head within `header_timeout` of opening or of
//!   its previous response (hyper's timer, which `axum::serve` never set).
//! - At most `max_connections` sockets are open at once, WebSockets included (the slot travels
//!   with the socket, see `held.rs`). At the cap, the longest-idle connection is closed to make
//!   room for the new one, so a flood of silent connections cannot lock everyone else out; a
//!   request in progress, a stream or a WebSocket is never closed for it.
//! - Stopping closes idle connections (including half-sent requests) at once, lets requests in
//!   progress and WebSockets finish for `shutdown_grace`, then drops what is left.
//! - With TLS (`tls.rs`), the handshake runs in the connection's task, after it has its slot and
//!   while it is still idle (evictable), and must finish within `header_timeout`; the request
//!   head then gets its own `header_timeout`.

mod capacity;
mod first;
mod held;
mod registry;
mod stream;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

pub use capacity::{CapacityError, connection_cap, descriptor_limit};
use held::Held;
use registry::Registry;
pub use tls::Tls;

use crate::config::Connections;

/// What the accept loop enforces, resolved from [`Connections`] and the descriptor limit.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a request's headers may take.
    pub header_timeout: Duration,
    /// Connections open at once: the cap.
    pub max_connections: usize,
    /// How long stopping waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Settings {
    /// The settings for `config` on this machine.
    pub fn resolve(config: &Connections) -> Result<Settings, CapacityError> {
        Ok(Settings {
            header_timeout: config.header_timeout,
            max_connections: connection_cap(config.max_connections, descriptor_limit())?,
            shutdown_grace: config.shutdown_grace,
        })
    }
}

/// Serve `app` on `listener` (over TLS with `tls`) until `stop` turns true, then shut down as
/// described above. `closed` turns true once the listener is closed: only then are streams
/// asked to reconnect, so that no reconnect can land on this node again.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: Settings,
    tls: Option<Tls>,
    mut stop: watch::Receiver<bool>,
    closed: Option<watch::Sender<bool>>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let registry = Arc::new(Registry::default());
    let mut tasks = JoinSet::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            _ = stopped(&mut stop) => break,
        };
        let Some(slot) = slot(&slots, &registry, &mut stop).await else {
            break;
        };
        // Streams write small frames back to back (a WebSocket ack, then the event it caused);
        // with Nagle's algorithm the second waits for the peer's delayed ACK, ~40 ms on Linux.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let id = registry.open();
        let conn = Conn {
            peer,
            id,
            app: app.clone(),
            registry: Arc::clone(&registry),
            header_timeout: settings.header_timeout,
            stop: stop.clone(),
        };
        let task = tasks.spawn(connection(Held::new(tcp, slot), tls.clone(), conn));
        registry.set_abort(id, task);
    }
    drop(listener);
    if let Some(closed) = closed {
        closed.send_replace(true);
    }
    let idle = registry.evict_all_idle();
    let busy = registry.len().saturating_sub(idle);
    tracing::debug!(idle, busy, "closing connections");
    let all = u32::try_from(settings.max_connections).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(settings.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
        // A WebSocket outlives its connection's task (hyper hands the socket over on
        // upgrade), and is still saying its last word (close 1012, then the peer's close):
        // stopping before its socket is closed would cut that word off. Every socket gives
        // its slot back when it closes.
        let _ = slots.acquire_many(all).await;
    })
    .await
    .is_ok();
    if !drained {
        tracing::info!(
            left = tasks.len(),
            grace = ?settings.shutdown_grace,
            "requests still in progress after the grace period; dropping them"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

/// A free slot under the cap, closing the longest-idle connection if there is none; `None` if
/// the relay stops while waiting (every connection is busy).
async fn slot(
    slots: &Arc<Semaphore>,
    registry: &Registry,
    stop: &mut watch::Receiver<bool>,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(slot) = Arc::clone(slots).try_acquire_owned() {
        return Some(slot);
    }
    if !registry.evict_oldest_idle() {
        tracing::warn!("every connection slot is busy; new connections wait");
    }
    tokio::select! {
        slot = Arc::clone(slots).acquire_owned() => slot.ok(),
        _ = stopped(stop) => None,
    }
}

/// Resolves once the relay is stopping (at once if it already is).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Errors on one incoming connection are that connection's; anything else (out of descriptors
/// or memory) would fail again at once, so wait a moment rather than spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    if matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
        return;
    }
    tracing::warn!("cannot accept a connection: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Removes a connection from the registry however its task ends (finished, evicted, dropped).
struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.close(self.id);
    }
}

/// What every stage of one connection knows of it.
struct Conn {
    peer: SocketAddr,
    id: u64,
    app: Router,
    registry: Arc<Registry>,
    header_timeout: Duration,
    stop: watch::Receiver<bool>,
}

async fn connection(held: Held, tls: Option<Tls>, conn: Conn) {
    let _registered = Registered {
        registry: Arc::clone(&conn.registry),
        id: conn.id,
    };
    // Boxed, here and in `http`: a task's future is as large as its largest stage, and each
    // connection would otherwise keep the TLS handshake's and hyper's state (4.6 KiB) for as
    // long as it lives, a stream that needs neither included. Each next stage is made in a
    // statement of its own, so that what the last one returned is not kept beside it.
    let Some(tls) = tls else {
        return Box::pin(http(held, conn)).await;
    };
    let handshake = Box::pin(tokio::time::timeout(conn.header_timeout, tls.accept(held)));
    // A peer that opens the socket and never finishes the handshake is a stalled request head.
    let peer = conn.peer;
    let next = match handshake.await {
        Ok(Ok(stream)) => Box::pin(http(stream, conn)),
        Ok(Err(e)) => return tracing::trace!(%peer, "TLS handshake failed: {e}"),
        Err(_) => return tracing::trace!(%peer, "TLS handshake not finished in time"),
    };
    next.await
}

/// HTTP/1.1 (and upgrades) on an open connection, plain or TLS: an event stream asked for
/// first is served outside hyper (`stream.rs`), anything else by hyper.
async fn http<S>(mut io: S, conn: Conn)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Until the head is in, the connection is idle: evictable, and closed when stopping. Each
    // stage is boxed, so that a connection holds only the state of the one it is in.
    let next: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> =
        match Box::pin(first::read(&mut io, conn.header_timeout)).await {
            first::First::Stream(mut request) => {
                request.extensions_mut().insert(ConnectInfo(conn.peer));
                let busy = conn.registry.begin(conn.id);
                Box::pin(stream::serve(io, *request, conn.app, busy))
            }
            first::First::Hyper(read) => Box::pin(by_hyper(first::Rewind::new(read, io), conn)),
            first::First::Gone => return,
        };
    next.await
}

/// The rest of a connection, hyper's, from its first request on.
async fn by_hyper<S>(io: S, conn: Conn)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Conn {
        peer,
        id,
        app,
        registry,
        header_timeout,
        mut stop,
    } = conn;
    let io = TokioIo::new(io);
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let busy = registry.begin(id);
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let response = app.oneshot(req).await.unwrap_or_else(|e| match e {});
            // A WebSocket takes the connection over: busy for as long as it lives.
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                busy.pin();
                return Ok::<_, Infallible>(response);
            }
            // The connection is busy until the response body is finished or dropped: a
            // stream stays busy for as long as it streams.
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _busy = &busy;
                    frame
                }))
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::trace!(%peer, "connection ended: {e}");
            }
        }
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
