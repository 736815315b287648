//! TLS without a proxy: `tether relay serve --tls-cert --tls-key` and the embedded relay
//! (`tether --remote --tls-cert --tls-key`) serve HTTPS and WSS on their own listener.
//!
//! Every test makes a throwaway CA and a certificate it issues for `localhost` and 127.0.0.1
//! (rcgen), and talks to the real binary with a rustls client that trusts that CA, or not. Event
//! payloads are end-to-end encrypted, so the tests look at event types and sources only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use sha2::Digest as _;
use tether_e2e::Tether;
use tether_e2e::browser::{Browser, Options};
use tether_e2e::http::{add_relay_user, header};
use tether_e2e::process::{PASSWORD, Proc, Remote, WAIT};
use tether_e2e::sse::{SseJson, read_head};

// ---------------------------------------------------------------------------------------------
// Certificates

/// A CA, and a certificate it issued for `localhost` and 127.0.0.1, written as PEM files.
struct Pki {
    _dir: tempfile::TempDir,
    /// The CA's certificate (DER), for clients that trust it.
    ca: CertificateDer<'static>,
    /// The same, as a PEM file.
    ca_pem: PathBuf,
    /// The server's certificate alone.
    leaf_pem: PathBuf,
    /// The server's certificate, then the CA's: what a server usually sends.
    chain_pem: PathBuf,
    /// The server's private key (PKCS#8).
    key_pem: PathBuf,
    /// SHA-256 of the server's SubjectPublicKeyInfo, base64: what Chromium's
    /// `--ignore-certificate-errors-spki-list` takes.
    spki_sha256: String,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose, PublicKeyData as _,
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "tether test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = params.signed_by(&key, &ca).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let leaf_pem = write("leaf.pem", &leaf.pem());
        let chain_pem = write("chain.pem", &format!("{}{}", leaf.pem(), ca.pem()));
        let key_pem = write("key.pem", &key.serialize_pem());
        let ca_pem = write("ca.pem", &ca.pem());
        let spki_sha256 = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(key.subject_public_key_info()));
        Pki {
            ca: ca.der().clone(),
            ca_pem,
            leaf_pem,
            chain_pem,
            key_pem,
            spki_sha256,
            _dir: dir,
        }
    }

    fn path(p: &Path) -> &str {
        p.to_str().expect("a UTF-8 path")
    }
}

// ---------------------------------------------------------------------------------------------
// An HTTPS client

/// A rustls client configuration trusting exactly `roots`.
fn client(roots: &[CertificateDer<'static>]) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth(),
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to `addr`, checking the certificate against `name`; the handshake is
/// finished (or failed) when this returns.
fn connect(
    addr: &str,
    name: &str,
    config: &Arc<rustls::ClientConfig>,
) -> Result<Tls, std::io::Error> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// One HTTPS request on a fresh connection: (status, head, body), or why the connection failed.
fn https(
    addr: &str,
    name: &str,
    config: &Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String, String), std::io::Error> {
    let mut tls = connect(addr, name, config)?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    tls.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // A peer that closes without close_notify, after the whole answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e),
    }
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head.to_owned(), body.to_owned()))
}

/// A client event stream over HTTPS, read by a thread: the events so far.
struct Events {
    events: Arc<Mutex<Vec<Value>>>,
}

impl Events {
    fn open(
        addr: &str,
        name: &str,
        config: &Arc<rustls::ClientConfig>,
        path: &str,
        cookie: &str,
    ) -> Events {
        let mut tls = connect(addr, name, config).expect("the stream connects");
        tls.sock.set_read_timeout(None).unwrap();
        write!(
            tls,
            "GET {path} HTTP/1.1\r\nHost: {name}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        tls.flush().unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&events);
        std::thread::spawn(move || {
            let mut r = BufReader::new(tls);
            let chunked = read_head(&mut r).expect("the stream opens");
            assert!(chunked, "an event stream is chunked");
            let mut parser = SseJson::default();
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let Ok(size) = usize::from_str_radix(line.trim(), 16) else {
                    return;
                };
                let mut chunk = vec![0u8; size + 2];
                if size == 0 || r.read_exact(&mut chunk).is_err() {
                    return;
                }
                let new = parser.feed(&chunk[..size]);
                shared.lock().unwrap().extend(new);
            }
        });
        Events { events }
    }

    /// Waits for an event of `kind` from `source` that `check` accepts.
    #[track_caller]
    fn wait_for(&self, kind: &str, source: &str, check: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let found = self
                .events
                .lock()
                .unwrap()
                .iter()
                .any(|e| e["type"] == kind && e["source"] == source && check(e));
            if found {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let seen: Vec<String> = self
            .events
            .lock()
            .unwrap()
            .iter()
            .map(|e| format!("{} from {}", e["type"], e["source"]))
            .collect();
        panic!("no {kind} from {source}; events: {seen:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// tether relay serve

/// `tether relay serve --tls-cert CERT --tls-key KEY ARGS` on a free port: the process and the
/// `host:port` it printed after `https://`.
/// `relay serve --listen 127.0.0.1:0 --db DB --tls-cert CERT --tls-key KEY`.
fn serve_args<'a>(db: &'a Path, cert: &'a Path, key: &'a Path) -> Vec<&'a str> {
    vec![
        "relay",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--db",
        Pki::path(db),
        "--tls-cert",
        Pki::path(cert),
        "--tls-key",
        Pki::path(key),
    ]
}

fn relay_over_tls(t: &Tether, cert: &Path, key: &Path, args: &[&str]) -> (Proc, String) {
    let db = t.home().join("relay.db");
    let mut all = serve_args(&db, cert, key);
    all.extend_from_slice(args);
    let proc = Proc::spawn("tether relay serve", t.command(&all));
    let line = proc.wait_until("the relay's address", WAIT, |out, _| {
        let rest = &out[out.find(" listening on ")?..];
        Some(rest[..rest.find('\n')?].to_owned())
    });
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("https://"))
        .unwrap_or_else(|| panic!("not listening on https: {line}"))
        .to_owned();
    assert!(
        line.contains(&format!("public URL https://{addr}")),
        "with TLS the default public URL is https: {line}"
    );
    (proc, addr)
}

#[test]
fn a_tls_relay_answers_clients_that_trust_its_ca_and_no_others() {
    let pki = Pki::new();
    let t = Tether::new();
    add_relay_user(&t, &t.home().join("relay.db"), "alice", PASSWORD);
    let (relay, addr) = relay_over_tls(&t, &pki.leaf_pem, &pki.key_pem, &[]);
    let trusting = client(std::slice::from_ref(&pki.ca));
    for name in ["localhost", "127.0.0.1"] {
        let (status, head, _) =
            https(&addr, name, &trusting, "GET", "/healthz", &[], "").expect("TLS works");
        assert_eq!(status, 200, "{head}\n{}", relay.dump());
    }
    // A client that does not trust the CA refuses the certificate.
    let stranger = client(&[]);
    let e = https(&addr, "localhost", &stranger, "GET", "/healthz", &[], "").unwrap_err();
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    // Nor does the certificate do for another name.
    let e = https(
        &addr,
        "tether.invalid",
        &trusting,
        "GET",
        "/healthz",
        &[],
        "",
    )
    .unwrap_err();
    assert!(e.to_string().contains("not valid for name"), "{e}");

    // Plain HTTP on the TLS port gets no HTTP answer: the handshake just fails.
    let mut plain = TcpStream::connect(&addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");

    // Over HTTPS the login cookie is `__Host-` prefixed and `Secure`.
    let origin = format!("https://{addr}");
    let (status, head, body) = https(
        &addr,
        "127.0.0.1",
        &trusting,
        "POST",
        "/login",
        &[
            ("Origin", &origin),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("username=alice&password={}", PASSWORD.replace(' ', "+")),
    )
    .unwrap();
    assert_eq!(status, 303, "{head}\n{body}");
    let cookie = header(&head, "set-cookie").unwrap();
    let port = addr.rsplit_once(':').unwrap().1;
    assert!(
        cookie.starts_with(&format!("__Host-tether_login_{port}=")) && cookie.contains("; Secure"),
        "{cookie}"
    );
}

#[test]
fn the_terminal_trusts_a_private_ca_named_by_ssl_cert_file() {
    let pki = Pki::new();
    let t = Tether::new();
    let (_relay, addr) = relay_over_tls(&t, &pki.leaf_pem, &pki.key_pem, &[]);
    let server = format!("https://{addr}");
    // Without it the CA is unknown and the login stops at once.
    let out = t.run(["login", "--server", &server]);
    assert!(!out.success(), "{}", out.stdout);
    assert!(out.stderr.contains("UnknownIssuer"), "{}", out.stderr);
    // With it the device login starts (over TLS, the certificate verified).
    let mut login = t.command(["login", "--server", &server]);
    login.env("SSL_CERT_FILE", &pki.ca_pem);
    let login = Proc::spawn("tether login", login);
    login.expect_stdout(&format!("To log in, open {server}/device"));
}

#[test]
fn a_tls_handshake_that_never_finishes_is_closed_after_the_header_timeout() {
    let pki = Pki::new();
    let t = Tether::new();
    let (relay, addr) = relay_over_tls(&t, &pki.leaf_pem, &pki.key_pem, &["--header-timeout", "1"]);
    // One peer says nothing; another starts a TLS record (a ClientHello's first bytes) and
    // stalls. Both must lose their connection once the header timeout has passed.
    let silent = TcpStream::connect(&addr).unwrap();
    let mut stalled = TcpStream::connect(&addr).unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
    let opened = Instant::now();
    for mut socket in [silent, stalled] {
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 64];
        let closed = match socket.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => socket.read(&mut buf).is_ok_and(|n| n == 0),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "the connection was not closed\n{}", relay.dump());
    }
    let took = opened.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(5),
        "closed after {took:?}, not after the 1 s header timeout"
    );
    // The relay still answers.
    let trusting = client(std::slice::from_ref(&pki.ca));
    let (status, _, _) = https(&addr, "localhost", &trusting, "GET", "/healthz", &[], "").unwrap();
    assert_eq!(status, 200);
}

#[test]
fn certificates_and_keys_that_cannot_be_used_are_refused_at_start() {
    let (one, other) = (Pki::new(), Pki::new());
    let t = Tether::new();
    let db = t.home().join("relay.db");
    let serve = |cert: &Path, key: &Path| t.run(serve_args(&db, cert, key));
    let absent = one.key_pem.with_file_name("absent.pem");
    let cases = [
        (serve(&absent, &one.key_pem), "absent.pem"),
        (
            serve(&one.key_pem, &one.key_pem),
            "key.pem holds no certificate",
        ),
        (
            serve(&one.leaf_pem, &one.leaf_pem),
            "leaf.pem holds no private key",
        ),
        (
            serve(&one.leaf_pem, &other.key_pem),
            "does not match the certificate in",
        ),
    ];
    for (out, says) in cases {
        assert!(!out.success(), "it started anyway:\n{}", out.stdout);
        assert!(
            out.stderr.contains(says),
            "{says:?} not in:\n{}",
            out.stderr
        );
        assert!(!out.stdout.contains("listening"), "{}", out.stdout);
    }
    // One flag without the other names the one missing.
    let out = t.run([
        "relay",
        "serve",
        "--db",
        Pki::path(&db),
        "--tls-cert",
        Pki::path(&one.leaf_pem),
    ]);
    assert!(
        !out.success() && out.stderr.contains("--tls-key"),
        "{}",
        out.stderr
    );
    let out = t.run(["--remote", "--tls-key", Pki::path(&one.key_pem)]);
    assert!(
        !out.success() && out.stderr.contains("--tls-cert"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// The embedded relay

/// `tether --remote --listen 127.0.0.1:0 --tls-cert CHAIN --tls-key KEY ARGS`.
fn embedded_over_tls(t: &Tether, pki: &Pki, args: &[&str]) -> Remote {
    let mut all = vec![
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        Pki::path(&pki.chain_pem),
        "--tls-key",
        Pki::path(&pki.key_pem),
    ];
    all.extend_from_slice(args);
    Remote::start(t, &all)
}

/// Opens the link's pairing secret over HTTPS as a phone would, checks the cookie it sets, and
/// follows the session's events until the worker is online and its `system_init` has arrived.
#[track_caller]
fn pair_and_see_the_worker(remote: &Remote, name: &str, pki: &Pki) {
    let (base, session, secret) = remote.parts();
    assert!(secret.is_some(), "{}", remote.url);
    let addr = format!("127.0.0.1:{}", base.rsplit_once(':').unwrap().1);
    let trusting = client(std::slice::from_ref(&pki.ca));
    let path = remote.url.trim_start_matches(&base);
    let path = path.split_once('#').map_or(path, |(p, _)| p);
    let (status, head, body) =
        https(&addr, name, &trusting, "GET", path, &[], "").expect("the link opens over TLS");
    assert_eq!(status, 303, "{head}\n{body}\n{}", remote.proc.dump());
    let set = header(&head, "set-cookie").unwrap();
    assert!(
        set.starts_with("__Host-tether_login_") && set.contains("; Secure"),
        "over TLS the pairing cookie is __Host- and Secure: {set}"
    );
    let cookie = set.split(';').next().unwrap();
    let events = Events::open(
        &addr,
        name,
        &trusting,
        &format!("/v1/code/sessions/{session}/events/stream?from_seq=0"),
        cookie,
    );
    events.wait_for("worker_status", "relay", |e| e["payload"]["online"] == true);
    events.wait_for("system_init", "worker", |_| true);
}

#[test]
fn the_embedded_relay_over_tls_links_with_https_and_its_worker_comes_online() {
    let pki = Pki::new();
    let t = Tether::new();
    // The link names the host in the certificate; the worker reaches the relay over loopback
    // and checks the certificate against that name.
    let remote = embedded_over_tls(&t, &pki, &["--public-host", "localhost"]);
    let (base, session, _) = remote.parts();
    assert!(
        base.starts_with("https://localhost:") && session.starts_with("session_local_"),
        "{}",
        remote.url
    );
    pair_and_see_the_worker(&remote, "localhost", &pki);
}

#[test]
fn the_embedded_relay_over_tls_carries_the_worker_websocket_too() {
    let pki = Pki::new();
    let t = Tether::new();
    // No --public-host: the link names the address it listens on, which the certificate has.
    let remote = embedded_over_tls(&t, &pki, &["--transport", "ws"]);
    let (base, _, _) = remote.parts();
    assert!(base.starts_with("https://127.0.0.1:"), "{}", remote.url);
    pair_and_see_the_worker(&remote, "127.0.0.1", &pki);
}

#[test]
fn the_embedded_relays_worker_refuses_a_certificate_not_for_the_links_host() {
    let pki = Pki::new();
    let t = Tether::new();
    let mut proc = Proc::spawn(
        "tether --remote",
        t.command([
            "--remote",
            "--listen",
            "127.0.0.1:0",
            "--public-host",
            "tether.invalid",
            "--tls-cert",
            Pki::path(&pki.chain_pem),
            "--tls-key",
            Pki::path(&pki.key_pem),
        ]),
    );
    proc.close_stdin();
    let status = proc.wait_exit(WAIT);
    assert!(!status.success(), "{}", proc.dump());
    assert!(
        proc.stderr().contains("not valid for name"),
        "{}",
        proc.dump()
    );
}

/// Chromium opens the pairing link over HTTPS: the page and everything it loads come over
/// https, and the composer appears. (The page's content is not checked here: what it shows is
/// decrypted in the page, tested in browser.rs.)
#[tokio::test(flavor = "multi_thread")]
async fn chromium_opens_the_pairing_link_over_https() {
    let pki = Pki::new();
    let options = Options {
        args: vec![format!(
            "--ignore-certificate-errors-spki-list={}",
            pki.spki_sha256
        )],
        ..Options::default()
    };
    let Some(b) = Browser::launch("tls-pairing", options).await else {
        return;
    };
    let t = Tether::new();
    let remote = embedded_over_tls(&t, &pki, &["--public-host", "localhost"]);
    let (base, session, _) = remote.parts();
    b.goto(&remote.url).await;
    let page = format!("{base}/code/{session}");
    b.wait_js(
        &format!("the address {page}"),
        "return location.href.split('#')[0] === arguments[0]",
        vec![serde_json::json!(page)],
    )
    .await;
    b.wait_for("#composer").await;
    let loaded = b
        .js(
            "return { protocol: location.protocol, title: document.title, \
             resources: performance.getEntriesByType('resource').map(r => r.name) }",
            vec![],
        )
        .await;
    assert_eq!(loaded["protocol"], "https:", "{loaded}");
    assert!(
        !loaded["title"].as_str().unwrap_or_default().is_empty(),
        "{loaded}"
    );
    let resources = loaded["resources"].as_array().unwrap();
    assert!(!resources.is_empty(), "the page loaded no assets: {loaded}");
    assert!(
        resources.iter().all(|r| r
            .as_str()
            .unwrap_or_default()
            .starts_with("https://localhost:")),
        "{loaded}"
    );
    // The conversation itself, end to end encrypted over TLS: a secure context, so WebCrypto.
    b.wait_attr("#connection", "data-state", "live").await;
    b.wait_text("#worker", "online").await;
    b.wait_text("#state", "idle").await;
    assert_eq!(
        b.js("return window.isSecureContext && !!crypto.subtle", vec![])
            .await,
        serde_json::json!(true)
    );
    b.say("over https").await;
    b.wait_js(
        "the reply over https",
        "return [...document.querySelectorAll('#messages .msg.assistant:not(.streaming)')] \
           .some(m => m.textContent.includes('You said: over https'))",
        vec![],
    )
    .await;
    remote.proc.expect_stdout("› (remote) over https\n");
    b.close().await;
}
