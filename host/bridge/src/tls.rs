//! The one TLS decision, for every client the bridge builds (reqwest for calls and SSE,
//! tungstenite for WebSockets): rustls with the ring provider, verifying the relay's certificate
//! against
//!
//! - the Mozilla roots (webpki-roots), as a browser would;
//! - the certificates in the PEM file named by `SSL_CERT_FILE`, when it is set (the convention
//!   OpenSSL and most TLS clients follow), for a hosted relay with a private CA;
//! - any certificates the caller adds: the embedded relay's own `--tls-cert`, which the
//!   terminal trusts because it is the one serving it.
//!
//! Nothing here accepts a certificate that does not verify. ring, not aws-lc-rs (rustls'
//! default), because aws-lc-rs needs cmake to build, which tether's machines do not have; the
//! provider is given to each configuration, so no process-wide default is needed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// The environment variable naming extra trusted certificates (PEM).
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// A client TLS configuration, built once and shared by every connection to one relay.
#[derive(Clone)]
pub(crate) struct ClientTls {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

impl ClientTls {
    /// Trust the webpki roots, `SSL_CERT_FILE` if set, and the certificates in `extra` (PEM
    /// files).
    pub(crate) fn new(extra: &[PathBuf]) -> Result<ClientTls, String> {
        let mut files: Vec<PathBuf> = ssl_cert_file(std::env::var_os(SSL_CERT_FILE))
            .into_iter()
            .collect();
        files.extend(extra.iter().cloned());
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for file in &files {
            for cert in certificates(file)? {
                roots.add(cert).map_err(|e| {
                    format!("{}: a certificate cannot be trusted: {e}", file.display())
                })?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot configure TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }

    /// For reqwest, which takes a configuration by value.
    pub(crate) fn config(&self) -> rustls::ClientConfig {
        (*self.config).clone()
    }

    /// For tungstenite.
    pub(crate) fn connector(&self) -> tokio_tungstenite::Connector {
        tokio_tungstenite::Connector::Rustls(Arc::clone(&self.config))
    }
}

/// The file `SSL_CERT_FILE` names; unset or empty is none.
fn ssl_cert_file(value: Option<OsString>) -> Option<PathBuf> {
    value.filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Every certificate in the PEM file `path`; one without any is an error (a wrong file named
/// is better said than silently trusting nothing more).
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read the certificates in {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate (expected PEM `-----BEGIN CERTIFICATE-----` blocks)",
            path.display()
        ));
    }
    Ok(certs)
}

/// A relay serving TLS for `localhost` with a throwaway self-signed certificate, for the tests
/// of the HTTP and WebSocket clients.
#[cfg(test)]
pub(crate) struct TlsRelay {
    /// The running relay.
    pub relay: tether_relay::Relay,
    /// The certificate's PEM file.
    pub cert: PathBuf,
    _dir: tempfile::TempDir,
}

#[cfg(test)]
impl TlsRelay {
    pub(crate) async fn start() -> TlsRelay {
        let dir = tempfile::tempdir().unwrap();
        let leaf = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, leaf.cert.pem()).unwrap();
        std::fs::write(&key, leaf.signing_key.serialize_pem()).unwrap();
        let mut config = tether_relay::test_support::test_config(dir.path().join("relay.db"));
        config.tls = Some(tether_relay::config::TlsFiles {
            cert: cert.clone(),
            key,
        });
        let relay = tether_relay::Relay::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        TlsRelay {
            relay,
            cert,
            _dir: dir,
        }
    }

    /// `https://<name>:<port>`.
    pub(crate) fn url(&self, name: &str) -> String {
        format!("https://{name}:{}", self.relay.addr().port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_cert_file_is_read_only_when_set_and_not_empty() {
        assert_eq!(ssl_cert_file(None), None);
        assert_eq!(ssl_cert_file(Some(OsString::new())), None);
        assert_eq!(
            ssl_cert_file(Some("/etc/ca.pem".into())),
            Some(PathBuf::from("/etc/ca.pem"))
        );
    }

    #[test]
    fn a_file_of_extra_roots_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = ClientTls::new(&[empty]).unwrap_err();
        assert!(e.contains("empty.pem holds no certificate"), "{e}");
        let e = ClientTls::new(&[dir.path().join("absent.pem")]).unwrap_err();
        assert!(e.contains("cannot read") && e.contains("absent.pem"), "{e}");
    }
}
