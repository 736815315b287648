//! TLS on the relay's own listener (`--tls-cert`, `--tls-key`): rustls with the ring provider
//! only, since aws-lc-rs (rustls' usual default) needs cmake to build.
//!
//! Everything is loaded and checked before anything is served: a missing or unreadable file, a
//! file without a certificate or a key, a key rustls cannot use, or a key that is not the
//! certificate's, is an error naming the file. The handshake itself runs in the connection's own
//! task, bounded by the header timeout (see `mod.rs`), so a peer that never finishes it holds a
//! slot no longer than one that never sends a request head.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// Why the certificate or key cannot be used; each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM block in the file is broken.
    #[error("{} is not valid PEM: {reason}", path.display())]
    NotPem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// `--tls-cert` holds no `BEGIN CERTIFICATE` block.
    #[error("{} holds no certificate (expected PEM `-----BEGIN CERTIFICATE-----` blocks, the server's first)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// `--tls-key` holds no private key rustls can read.
    #[error(
        "{} holds no private key (expected PEM PKCS#8 `BEGIN PRIVATE KEY`, PKCS#1 `BEGIN RSA PRIVATE KEY` or SEC1 `BEGIN EC PRIVATE KEY`; an encrypted key must be decrypted first)",
        path.display()
    )]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The key was found but is not a key rustls (ring) can sign with.
    #[error("the private key in {} cannot be used: {reason}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// The server's certificate cannot be parsed.
    #[error("the certificate in {} cannot be used: {reason}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// The key is not the one the certificate was issued for.
    #[error("the private key in {} does not match the certificate in {}", key.display(), cert.display())]
    Mismatch {
        /// `--tls-key`.
        key: PathBuf,
        /// `--tls-cert`.
        cert: PathBuf,
    },
}

/// A loaded certificate and key, ready to accept connections.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Read and check `files`.
    pub fn load(files: &TlsFiles) -> Result<Tls, TlsError> {
        let chain = certificates(&files.cert, &read(&files.cert)?)?;
        let key = private_key(&files.key, &read(&files.key)?)?;
        let config = server_config(files, chain, key)?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Run the server side of the handshake on `io`.
    pub fn accept<S>(&self, io: S) -> tokio_rustls::Accept<S>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        self.acceptor.accept(io)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Every certificate in `pem`, in order (the server's own first, then its intermediates).
fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| not_pem(path, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

/// The first private key in `pem`, of any of the three encodings.
fn private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Ok(key),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => Err(TlsError::NoKey {
            path: path.to_owned(),
        }),
        Err(e) => Err(not_pem(path, e)),
    }
}

fn not_pem(path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    TlsError::NotPem {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

fn server_config(
    files: &TlsFiles,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Loading the key apart first tells a key rustls cannot use from one that is not the
    // certificate's: `with_single_cert` reports both as one error.
    check_key(&provider, &files.key, key.clone_key())?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::BadCertificate {
            path: files.cert.clone(),
            reason: e.to_string(),
        })?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::Mismatch {
                    key: files.key.clone(),
                    cert: files.cert.clone(),
                }
            }
            other => TlsError::BadCertificate {
                path: files.cert.clone(),
                reason: other.to_string(),
            },
        })?;
    // The relay speaks HTTP/1.1 only; saying so keeps a browser from trying HTTP/2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn check_key(
    provider: &CryptoProvider,
    path: &Path,
    key: PrivateKeyDer<'static>,
) -> Result<(), TlsError> {
    provider
        .key_provider
        .load_private_key(key)
        .map(drop)
        .map_err(|e| TlsError::BadKey {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files {
        _dir: tempfile::TempDir,
        files: TlsFiles,
    }

    fn write(cert: &str, key: &str) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
        Files { _dir: dir, files }
    }

    fn leaf() -> rcgen::CertifiedKey<rcgen::KeyPair> {
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap()
    }

    fn error(files: &Files) -> String {
        Tls::load(&files.files).unwrap_err().to_string()
    }

    #[test]
    fn a_certificate_and_its_key_load() {
        let leaf = leaf();
        let f = write(&leaf.cert.pem(), &leaf.signing_key.serialize_pem());
        Tls::load(&f.files).unwrap();
    }

    #[test]
    fn pkcs1_and_sec1_keys_load_too() {
        // SEC1 (`BEGIN EC PRIVATE KEY`): the PKCS#8 key's inner structure, as openssl writes it.
        let leaf = leaf();
        let pkcs8 = leaf.signing_key.serialize_der();
        let sec1 = sec1_of(&pkcs8);
        let pem = pem_block("EC PRIVATE KEY", &sec1);
        let f = write(&leaf.cert.pem(), &pem);
        Tls::load(&f.files).unwrap();
        assert!(matches!(
            private_key(
                Path::new("k"),
                pem_block("RSA PRIVATE KEY", b"\x30\x00").as_bytes()
            ),
            Ok(PrivateKeyDer::Pkcs1(_))
        ));
    }

    #[test]
    fn a_missing_file_is_named() {
        let leaf = leaf();
        let f = write(&leaf.cert.pem(), &leaf.signing_key.serialize_pem());
        let mut files = f.files.clone();
        files.key = f.files.key.with_file_name("absent.pem");
        let e = Tls::load(&files).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot read ") && e.contains("absent.pem"),
            "{e}"
        );
    }

    #[test]
    fn a_file_without_a_certificate_is_named() {
        let leaf = leaf();
        // The key given twice: no certificate in the first file.
        let key = leaf.signing_key.serialize_pem();
        let f = write(&key, &key);
        let e = error(&f);
        assert!(e.contains("cert.pem holds no certificate"), "{e}");
    }

    #[test]
    fn a_file_without_a_key_is_named() {
        let leaf = leaf();
        let cert = leaf.cert.pem();
        let f = write(&cert, &cert);
        assert!(
            error(&f).contains("key.pem holds no private key"),
            "{}",
            error(&f)
        );
    }

    #[test]
    fn broken_pem_is_named() {
        let leaf = leaf();
        let f = write(
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            &leaf.signing_key.serialize_pem(),
        );
        assert!(
            error(&f).contains("cert.pem is not valid PEM"),
            "{}",
            error(&f)
        );
    }

    #[test]
    fn a_key_rustls_cannot_use_is_named() {
        let leaf = leaf();
        let f = write(
            &leaf.cert.pem(),
            &pem_block("PRIVATE KEY", b"\x30\x03\x02\x01\x00"),
        );
        let e = error(&f);
        assert!(
            e.contains("the private key in") && e.contains("key.pem cannot be used"),
            "{e}"
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (one, other) = (leaf(), leaf());
        let f = write(&one.cert.pem(), &other.signing_key.serialize_pem());
        let e = error(&f);
        assert!(e.contains("does not match the certificate in"), "{e}");
        assert!(e.contains("key.pem") && e.contains("cert.pem"), "{e}");
    }

    #[test]
    fn a_chain_keeps_its_order() {
        let (one, other) = (leaf(), leaf());
        let pem = format!("{}{}", one.cert.pem(), other.cert.pem());
        let chain = certificates(Path::new("c"), pem.as_bytes()).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].as_ref(), one.cert.der().as_ref());
    }

    fn pem_block(label: &str, der: &[u8]) -> String {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    }

    /// The SEC1 `ECPrivateKey` inside a PKCS#8 `PrivateKeyInfo`: the contents of its OCTET
    /// STRING, the last element of the outer SEQUENCE.
    fn sec1_of(pkcs8: &[u8]) -> Vec<u8> {
        fn header(der: &[u8]) -> (usize, usize) {
            let first = der[1] as usize;
            if first < 0x80 {
                (2, first)
            } else {
                let n = first & 0x7f;
                let len = der[2..2 + n].iter().fold(0, |a, b| a << 8 | *b as usize);
                (2 + n, len)
            }
        }
        let (outer, _) = header(pkcs8);
        let mut at = outer;
        // version INTEGER, algorithm SEQUENCE, then the OCTET STRING.
        for _ in 0..2 {
            let (h, len) = header(&pkcs8[at..]);
            at += h + len;
        }
        let (h, len) = header(&pkcs8[at..]);
        pkcs8[at + h..at + h + len].to_vec()
    }
}
