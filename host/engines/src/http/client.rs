//! The HTTP client each engine holds: TLS through ring, connect timeout, user agent, and no proxy
//! for servers on the user's own machine.

use std::sync::Once;
use std::time::Duration;

use super::url::is_loopback;
use crate::EngineError;

/// How long to wait for a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Installs ring as rustls' process-wide crypto provider (aws-lc-rs would need cmake to build),
/// once; a provider some other part of the program installed first is kept.
pub(crate) fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client for one engine. Loopback servers (Ollama, llama.cpp) are reached directly even when
/// a proxy is configured in the environment: a proxy cannot reach the user's own machine.
pub(crate) fn client(url: &reqwest::Url) -> Result<reqwest::Client, EngineError> {
    install_tls_provider();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("tether/", env!("CARGO_PKG_VERSION")));
    if is_loopback(url) {
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|e| EngineError(format!("cannot set up the HTTP client: {e}")))
}
