//! TLS on the relay's own listener (`RelayConfig::tls`) goes through its own accept loop: a
//! handshake takes a slot under the connection cap like any connection, counts as idle (so a
//! flood of stalled handshakes makes room at the cap), and must finish within the header
//! timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tether_relay::config::TlsFiles;
use tether_relay::test_support::test_config;
use tether_relay::{Relay, RelayConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct TlsRelay {
    relay: Relay,
    cert: CertificateDer<'static>,
    _dir: tempfile::TempDir,
}

/// A relay serving TLS for `localhost` (a self-signed certificate), with `tweak` applied.
async fn start(tweak: impl FnOnce(&mut RelayConfig)) -> TlsRelay {
    let dir = tempfile::tempdir().unwrap();
    let leaf = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let files = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.cert, leaf.cert.pem()).unwrap();
    std::fs::write(&files.key, leaf.signing_key.serialize_pem()).unwrap();
    let mut config = test_config(dir.path().join("relay.db"));
    config.tls = Some(files);
    tweak(&mut config);
    let relay = Relay::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    TlsRelay {
        relay,
        cert: leaf.cert.der().clone(),
        _dir: dir,
    }
}

/// `GET /healthz` over TLS, trusting the relay's certificate: the status line.
async fn healthz(relay: &TlsRelay) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(relay.cert.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(relay.relay.addr()).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_closed_after_the_header_timeout() {
    let relay = start(|c| c.connections.header_timeout = Duration::from_millis(300)).await;
    let mut stalled = TcpStream::connect(relay.relay.addr()).await.unwrap();
    // The first bytes of a ClientHello's record, then nothing.
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut buf))
        .await
        .expect("the stalled handshake is closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "closed too soon: {took:?}"
    );
    assert_eq!(healthz(&relay).await, "HTTP/1.1 200 OK");
    relay.relay.stop().await.unwrap();
}

#[tokio::test]
async fn at_the_cap_a_stalled_tls_handshake_makes_room() {
    let relay = start(|c| {
        c.connections.max_connections = Some(8);
        // Long enough that only eviction can free a slot within the test.
        c.connections.header_timeout = Duration::from_secs(60);
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(TcpStream::connect(relay.relay.addr()).await.unwrap());
    }
    // Let the relay accept them all before the next one arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answered = tokio::time::timeout(Duration::from_secs(10), healthz(&relay))
        .await
        .expect("a new client gets a slot at the cap");
    assert_eq!(answered, "HTTP/1.1 200 OK");
    // The longest-idle one (the first) was closed to make room.
    let mut buf = [0u8; 16];
    let first = tokio::time::timeout(Duration::from_secs(5), silent[0].read(&mut buf))
        .await
        .expect("the first silent connection was closed");
    assert!(matches!(first, Ok(0) | Err(_)), "{first:?}");
    relay.relay.stop().await.unwrap();
}
