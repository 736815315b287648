//! The relay's HTTP API as typed calls (docs/protocol.md), one file per audience: OAuth, trusted
//! devices, sessions, and the worker's endpoints. Every call returns the shared JSON bodies of
//! `tether_protocol::api`, so the relay and the bridge agree by construction.
//!
//! Calls take their credential as an argument rather than holding one: the access token rotates
//! (see [`crate::tokens`]) and the worker JWT changes with every registration, so the caller
//! always says which one it means.

mod devices;
mod error;
mod oauth;
mod sessions;
mod worker;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;

pub use error::{ApiError, PollError, parse_error};
pub(crate) use error::{chain, status_for_kind};

/// Unary calls give up after this long. Streams have no overall timeout (they are meant to stay
/// open); the worker watches them for keepalives instead.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A relay, by base URL, and the HTTP client that talks to it.
#[derive(Debug, Clone)]
pub struct Api {
    /// `http(s)://host[:port]`, without a trailing slash.
    pub base_url: String,
    /// The HTTP client, shared by every call so connections are reused; timeouts set by [`Api::new`].
    pub http: reqwest::Client,
    /// The same, but each request on a connection of its own: for the event stream, which a
    /// relay serves leanest when it is a connection's first request (docs/protocol.md 5.3),
    /// and which would otherwise hold a connection the other calls could have reused.
    pub(crate) streams: reqwest::Client,
    /// The TLS configuration the WebSocket transport uses too.
    pub(crate) tls: crate::tls::ClientTls,
    /// [`Reach::connect_to`], for the WebSocket transport.
    pub(crate) connect_to: Option<IpAddr>,
}

/// How to reach a relay beyond its URL. The default is what a browser would do, plus the
/// certificates of `SSL_CERT_FILE` (see `tls.rs`).
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// PEM files whose certificates are trusted besides the usual roots (the embedded relay's
    /// `--tls-cert`).
    pub extra_roots: Vec<PathBuf>,
    /// Connect here when the URL's host is a name, instead of looking the name up; TLS still
    /// verifies the certificate against the name. The URL's port is kept. (The embedded relay's
    /// link names a host its certificate is for; the terminal reaches the relay over loopback.)
    pub connect_to: Option<IpAddr>,
}

impl Api {
    /// A client for the relay at `base_url`. The worker uses this URL for everything, not the
    /// grant's `api_base_url`: the relay's public URL is what browsers use (it may sit behind a
    /// proxy the terminal does not go through), and the URL the user configured is the one
    /// known to reach the relay from here.
    pub fn new(base_url: &str) -> Result<Api, ApiError> {
        Api::reaching(base_url, &Reach::default())
    }

    /// [`Api::new`], reaching the relay as `reach` says.
    pub fn reaching(base_url: &str, reach: &Reach) -> Result<Api, ApiError> {
        let base = base_url.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ApiError::Network(format!(
                "`{base}` is not an http:// or https:// URL"
            )));
        }
        let tls = crate::tls::ClientTls::new(&reach.extra_roots).map_err(ApiError::Network)?;
        let client = |idle_per_host: usize| {
            let mut builder = reqwest::Client::builder()
                .use_preconfigured_tls(tls.config())
                .connect_timeout(CONNECT_TIMEOUT)
                // A bearer token must never follow a redirect somewhere else.
                .redirect(reqwest::redirect::Policy::none())
                .tcp_nodelay(true)
                .pool_idle_timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(idle_per_host);
            if let (Some(ip), Some(name)) = (reach.connect_to, host_name(base)) {
                // Port 0: the URL's port is used.
                builder = builder.resolve(name, SocketAddr::new(ip, 0));
            }
            builder.build().map_err(|e| {
                ApiError::Network(format!("cannot build the HTTP client: {}", chain(&e)))
            })
        };
        Ok(Api {
            base_url: base.to_owned(),
            http: client(usize::MAX)?,
            streams: client(0)?,
            tls,
            connect_to: reach.connect_to,
        })
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The `ws://` / `wss://` URL of `path`.
    pub fn ws_url(&self, path: &str) -> String {
        let rest = self
            .base_url
            .strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .or_else(|| {
                self.base_url
                    .strip_prefix("http://")
                    .map(|r| format!("ws://{r}"))
            })
            .unwrap_or_else(|| self.base_url.clone());
        format!("{rest}{path}")
    }

    /// Send `request` and read a JSON answer, or the relay's error.
    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        let body = self.send(request).await?;
        serde_json::from_slice(&body).map_err(|e| ApiError::Decode(e.to_string()))
    }

    /// Send `request`; success bodies are ignored (`204`s).
    async fn call_empty(&self, request: reqwest::RequestBuilder) -> Result<(), ApiError> {
        self.send(request).await.map(drop)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, ApiError> {
        let response = request
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(ApiError::network)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(ApiError::network)?;
        if (200..300).contains(&status) {
            Ok(body.to_vec())
        } else {
            Err(parse_error(status, &body))
        }
    }
}

/// The host of `url` when it is a name rather than an IP address: only a name is looked up, so
/// only a name can be pointed elsewhere.
fn host_name(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if authority.starts_with('[') {
        return None;
    }
    let host = authority.split(':').next().unwrap_or_default();
    (!host.is_empty() && host.parse::<IpAddr>().is_err()).then_some(host)
}

/// `/v1/code/sessions/{id}{rest}`.
fn session_path(session: &tether_protocol::SessionId, rest: &str) -> String {
    format!("/v1/code/sessions/{session}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_from_the_base() {
        let api = Api::new("https://relay.example/").unwrap();
        assert_eq!(api.base_url, "https://relay.example");
        assert_eq!(api.url("/healthz"), "https://relay.example/healthz");
        assert_eq!(api.ws_url("/x"), "wss://relay.example/x");
        let api = Api::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(api.ws_url("/x"), "ws://127.0.0.1:8080/x");
        assert!(Api::new("relay.example").is_err());
    }

    /// `https://` goes through rustls with ring (see `tls`): a server that does not speak TLS
    /// fails the handshake as a network error.
    #[tokio::test]
    async fn https_speaks_tls() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.write_all(b"HTTP/1.1 400 Not TLS\r\n\r\n").await;
            }
        });
        let api = Api::new(&format!("https://{addr}")).unwrap();
        let Err(ApiError::Network(error)) = api.device_code().await else {
            panic!("a TLS handshake with a plain server cannot succeed")
        };
        assert!(error.contains("corrupt message"), "{error}");
    }

    /// A relay's certificate is verified: trusted only through the roots given, and only for
    /// the name it was issued for, even when the connection goes to another address.
    #[tokio::test]
    async fn https_verifies_the_certificate_against_the_name_and_the_roots_given() {
        let relay = crate::tls::TlsRelay::start().await;
        let loopback = Some(IpAddr::from([127, 0, 0, 1]));
        let trusting = Reach {
            extra_roots: vec![relay.cert.clone()],
            connect_to: loopback,
        };
        let api = Api::reaching(&relay.url("localhost"), &trusting).unwrap();
        api.device_code().await.expect("the trusted relay answers");
        let stranger = Reach {
            connect_to: loopback,
            ..Reach::default()
        };
        let api = Api::reaching(&relay.url("localhost"), &stranger).unwrap();
        let Err(ApiError::Network(error)) = api.device_code().await else {
            panic!("a certificate nobody vouches for is refused")
        };
        assert!(error.contains("UnknownIssuer"), "{error}");
        // The same certificate under a name it is not for.
        let api = Api::reaching(&relay.url("relay.invalid"), &trusting).unwrap();
        let Err(ApiError::Network(error)) = api.device_code().await else {
            panic!("a certificate for another name is refused")
        };
        assert!(error.contains("not valid for name"), "{error}");
        relay.relay.stop().await.unwrap();
    }

    #[test]
    fn only_host_names_can_be_pointed_elsewhere() {
        assert_eq!(
            host_name("https://relay.example:8443"),
            Some("relay.example")
        );
        assert_eq!(host_name("https://localhost"), Some("localhost"));
        assert_eq!(
            host_name("https://u@relay.example/x"),
            Some("relay.example")
        );
        assert_eq!(host_name("https://127.0.0.1:80"), None);
        assert_eq!(host_name("https://[::1]:80"), None);
    }
}
