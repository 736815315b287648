//! The WebSocket transport: `…/worker/ws` with the worker JWT. `ws://` always; `wss://` through
//! the bridge's one TLS configuration (`tls.rs`), shared with its HTTP client.

use std::net::IpAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use tether_protocol::StreamEnd;

use super::link::{Item, socket_frame};
use crate::api::{Api, ApiError, chain, parse_error};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct WsLink {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsLink {
    /// Open `url` (from `api`, whose TLS configuration and [`crate::api::Reach::connect_to`]
    /// it shares) with the worker token `jwt`.
    pub(crate) async fn open(api: &Api, url: &str, jwt: &str) -> Result<WsLink, ApiError> {
        let mut request = url
            .into_client_request()
            .map_err(|e| ApiError::Network(format!("bad WebSocket URL {url}: {e}")))?;
        let bearer = HeaderValue::from_str(&format!("Bearer {jwt}"))
            .map_err(|_| ApiError::Network("the worker token is not a valid header".into()))?;
        request.headers_mut().insert("authorization", bearer);
        let uri = request.uri().clone();
        let connect = async {
            // The TCP connection is ours, so that it can go to `connect_to` while the TLS
            // handshake still checks the certificate against the URL's host.
            let tcp = connect_tcp(&uri, api.connect_to)
                .await
                .map_err(WsFailure::Tcp)?;
            tokio_tungstenite::client_async_tls_with_config(
                request,
                tcp,
                None,
                Some(api.tls.connector()),
            )
            .await
            .map_err(WsFailure::Ws)
        };
        let (socket, _) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| ApiError::Network("the WebSocket did not open in time".into()))?
            .map_err(|e| match e {
                WsFailure::Tcp(e) => ApiError::Network(chain(&e)),
                WsFailure::Ws(e) => ws_error(e),
            })?;
        Ok(WsLink { socket })
    }

    pub(crate) async fn next(&mut self) -> Result<Item, ApiError> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => match socket_frame(text.as_str()) {
                    Ok(item) => return Ok(item),
                    Err(e) => {
                        tracing::warn!("skipping a WebSocket frame that is not valid: {e}");
                        continue;
                    }
                },
                // tungstenite answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Ok(Item::Keepalive),
                Some(Ok(Message::Close(frame))) => {
                    // Send the close reply tungstenite queued: the relay waits for it before it
                    // lets go of the connection (RFC 6455 §7.1).
                    let _ =
                        tokio::time::timeout(Duration::from_millis(500), self.socket.flush()).await;
                    let code = frame.as_ref().map(|f| u16::from(f.code));
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return closed(code, reason);
                }
                Some(Ok(Message::Binary(_) | Message::Frame(_))) => continue,
                Some(Err(e)) => return Err(ApiError::Network(chain(&e))),
                None => return Err(ApiError::Network("the relay closed the WebSocket".into())),
            }
        }
    }

    pub(crate) async fn send(&mut self, text: String) -> Result<(), ApiError> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.socket.send(Message::text(text))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ApiError::Network(chain(&e))),
            Err(_) => Err(ApiError::Network("a WebSocket write timed out".into())),
        }
    }

    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            self.socket
                .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code: CloseCode::Normal,
                    reason: "worker stopped".into(),
                })),
        )
        .await;
    }
}

/// Why a WebSocket did not open.
enum WsFailure {
    Tcp(std::io::Error),
    Ws(WsError),
}

fn ws_error(e: WsError) -> ApiError {
    match e {
        // The relay refused the upgrade: its answer is an ordinary error body.
        WsError::Http(response) => parse_error(
            response.status().as_u16(),
            response.body().as_deref().unwrap_or_default(),
        ),
        other => ApiError::Network(chain(&other)),
    }
}

/// A TCP connection to the host and port of `uri`; a host name goes to `connect_to` when given
/// (as the HTTP client's `resolve` does), an IP address is used as it is.
async fn connect_tcp(uri: &Uri, connect_to: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let tcp = match connect_to {
        Some(ip) if host.parse::<IpAddr>().is_err() => TcpStream::connect((ip, port)).await?,
        _ => TcpStream::connect((host, port)).await?,
    };
    // Small frames back to back (an ack, then an event): no waiting for a delayed ACK.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
    Ok(tcp)
}

/// Why a WebSocket closed (docs/protocol.md 5.6): `1012` is a node that is stopping, asking
/// us to move at once; `4409` is the relay's `409 stale_epoch`; `4401` its `401` for a revoked
/// login (registering again then finds the login gone, and the worker stops with "run `tether
/// login`" instead of reconnecting forever); anything else (`4410` for a deleted session, `1001`
/// going away…) is reconnected, and the reconnect's answer tells what happened.
fn closed(code: Option<u16>, reason: String) -> Result<Item, ApiError> {
    let status = |status, kind: &str| ApiError::Status {
        status,
        kind: kind.into(),
        message: reason.clone(),
    };
    Err(match code.map(|c| (c, StreamEnd::from_close_code(c))) {
        Some((_, Some(StreamEnd::Moving))) => return Ok(Item::Moving),
        Some((_, Some(StreamEnd::StaleEpoch))) => status(409, "stale_epoch"),
        Some((_, Some(StreamEnd::Revoked))) => status(401, "login_revoked"),
        Some((code, _)) => {
            ApiError::Network(format!("the relay closed the WebSocket ({code} {reason})"))
        }
        None => ApiError::Network("the relay closed the WebSocket".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `wss://` goes through rustls with ring: against a server that does not speak TLS the
    /// handshake fails as a network error (and no provider is missing).
    #[tokio::test]
    async fn wss_speaks_tls() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.write_all(b"HTTP/1.1 400 Not TLS\r\n\r\n").await;
            }
        });
        let api = Api::new(&format!("https://{addr}")).unwrap();
        let Err(ApiError::Network(error)) =
            WsLink::open(&api, &format!("wss://{addr}/x"), "jwt").await
        else {
            panic!("a TLS handshake with a plain server cannot succeed")
        };
        // rustls could not read a TLS record from the plain answer.
        assert!(error.contains("corrupt message"), "{error}");
    }

    /// `wss://` uses the same TLS configuration and address as the HTTP client: through the
    /// trusted certificate the relay's own answer (401, no valid token) comes back; without it
    /// the handshake fails.
    #[tokio::test]
    async fn wss_verifies_the_certificate_like_https() {
        use crate::api::Reach;
        let relay = crate::tls::TlsRelay::start().await;
        let loopback = Some(std::net::IpAddr::from([127, 0, 0, 1]));
        let trusting = Reach {
            extra_roots: vec![relay.cert.clone()],
            connect_to: loopback,
        };
        let api = Api::reaching(&relay.url("localhost"), &trusting).unwrap();
        let url = api.ws_url("/v1/code/sessions/session_x/worker/ws");
        let Err(error) = WsLink::open(&api, &url, "not-a-jwt").await else {
            panic!("a bad token opens no WebSocket")
        };
        assert_eq!(error.status(), Some(401), "{error}");
        let stranger = Reach {
            connect_to: loopback,
            ..Reach::default()
        };
        let api = Api::reaching(&relay.url("localhost"), &stranger).unwrap();
        let Err(ApiError::Network(error)) = WsLink::open(&api, &url, "not-a-jwt").await else {
            panic!("a certificate nobody vouches for is refused")
        };
        assert!(error.contains("UnknownIssuer"), "{error}");
        relay.relay.stop().await.unwrap();
    }

    #[test]
    fn close_4409_is_a_stale_epoch_1012_a_move_and_others_are_reconnected() {
        let e = closed(Some(4409), "stale worker epoch".into()).unwrap_err();
        assert_eq!((e.status(), e.kind()), (Some(409), Some("stale_epoch")));
        for other in [Some(4410), Some(1000), Some(1001), Some(1011), None] {
            assert!(
                matches!(closed(other, "gone".into()), Err(ApiError::Network(_))),
                "{other:?}"
            );
        }
        let e = closed(Some(4401), "credentials revoked".into()).unwrap_err();
        assert_eq!(e.status(), Some(401));
        assert!(matches!(
            closed(Some(1012), "relay restarting".into()),
            Ok(Item::Moving)
        ));
    }
}
