//! `tether relay …` as an operator runs it: real processes, a real database file, plain HTTP on
//! loopback. The relay's own behaviour is tested in depth in host/relay/tests; this checks the
//! command line, the printed address, signals, and that a restarted process keeps its data.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use tether_e2e::Tether;
use tether_e2e::http::{add_relay_user, browser_login, request as http};

const PASSWORD: &str = "a long enough password";

/// A `tether relay serve` process and the URL it printed.
struct Served {
    child: Child,
    url: String,
}

impl Served {
    fn start(t: &Tether, db: &std::path::Path, extra: &[&str]) -> Served {
        Served::spawn(t.command(serve_args(db, extra)))
    }

    /// The same with RLIMIT_NOFILE lowered to `nofile` (soft and hard), through the shell's
    /// `ulimit`, as an operator's service manager would set it.
    fn start_with_nofile(t: &Tether, db: &std::path::Path, nofile: u64) -> Served {
        let tether = t.command(serve_args(db, &[]));
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(tether.get_program())
            .args(tether.get_args())
            .env_clear();
        for (k, v) in tether.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        if let Some(dir) = tether.get_current_dir() {
            cmd.current_dir(dir);
        }
        Served::spawn(cmd)
    }

    fn spawn(cmd: std::process::Command) -> Served {
        Served::spawn_with_stderr(cmd, Stdio::inherit())
    }

    fn spawn_with_stderr(mut cmd: std::process::Command, stderr: Stdio) -> Served {
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("listening on http://127.0.0.1:"), "{line}");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_owned();
        Served { child, url }
    }

    fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// SIGTERM, as a service manager would stop it; it must exit cleanly.
    fn terminate(self) {
        self.terminate_within(Duration::from_secs(10));
    }

    fn terminate_within(mut self, wait: Duration) {
        let pid = self.child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "relay exited with {status}");
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "relay did not stop on SIGTERM within {wait:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn serve_args<'a>(db: &'a std::path::Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["relay", "serve", "--db"];
    args.push(db.to_str().unwrap());
    // A test may choose the address, to come back on the same port after a restart.
    if !extra.contains(&"--listen") {
        args.extend(["--listen", "127.0.0.1:0"]);
    }
    args.extend_from_slice(extra);
    args
}

/// A connection that sent part of a request head and went quiet; `None` if connecting takes
/// more than a second.
fn half_open(host: &str) -> Option<TcpStream> {
    let addr: std::net::SocketAddr = host.parse().unwrap();
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .ok()?;
    Some(tcp)
}

/// `GET /healthz` on a new connection, within `wait`: whether it was answered `200 ok`.
fn healthz_within(host: &str, wait: Duration) -> bool {
    let addr: std::net::SocketAddr = host.parse().unwrap();
    let Ok(mut tcp) = TcpStream::connect_timeout(&addr, wait) else {
        return false;
    };
    tcp.set_read_timeout(Some(wait)).unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if tcp.write_all(request).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok")
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn relay_help_lists_serve_and_user() {
    let t = Tether::new();
    let out = t.run(["relay", "--help"]);
    out.assert_success();
    assert!(
        out.stdout.contains("serve")
            && out.stdout.contains("user")
            && out.stdout.contains("migrate"),
        "{out}"
    );
    let out = t.run(["relay", "serve", "--help"]);
    for flag in [
        "--listen",
        "--db",
        "--public-url",
        "--staging",
        "--max-connections",
        "--header-timeout",
        "--shutdown-grace",
    ] {
        assert!(out.stdout.contains(flag), "{flag} missing: {out}");
    }
}

#[test]
fn users_are_added_listed_and_removed() {
    let t = Tether::new();
    let db = t.cwd().join("relay.db");
    let db_arg = db.to_str().unwrap();
    add_relay_user(&t, &db, "alice", PASSWORD);
    let again = t.run_with_input(
        [
            "relay",
            "user",
            "add",
            "alice",
            "--password-stdin",
            "--db",
            db_arg,
        ],
        &format!("{PASSWORD}\n"),
    );
    again.assert_failure();
    assert!(again.stderr.contains("already exists"), "{again}");
    let short = t.run_with_input(
        [
            "relay",
            "user",
            "add",
            "bob",
            "--password-stdin",
            "--db",
            db_arg,
        ],
        "short\n",
    );
    short.assert_failure();
    assert!(short.stderr.contains("at least 8"), "{short}");
    let bad_name = t.run_with_input(
        [
            "relay",
            "user",
            "add",
            "bob smith",
            "--password-stdin",
            "--db",
            db_arg,
        ],
        &format!("{PASSWORD}\n"),
    );
    bad_name.assert_failure();
    assert!(
        bad_name.stderr.contains("not a valid user name"),
        "{bad_name}"
    );
    let no_tty = t.run_with_input(["relay", "user", "add", "bob", "--db", db_arg], "");
    no_tty.assert_failure();
    assert!(no_tty.stderr.contains("--password-stdin"), "{no_tty}");

    let list = t.run(["relay", "user", "list", "--json", "--db", db_arg]);
    list.assert_success();
    let users: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["name"], "alice");

    t.run(["relay", "user", "remove", "alice", "--db", db_arg])
        .assert_success();
    let missing = t.run(["relay", "user", "remove", "alice", "--db", db_arg]);
    missing.assert_failure();
    assert!(missing.stderr.contains("no user named"), "{missing}");
    let list = t.run(["relay", "user", "list", "--db", db_arg]);
    assert!(list.stdout.contains("No users yet"), "{list}");
}

#[test]
fn migrate_upgrades_an_old_file_checks_and_refuses_a_newer_one() {
    let t = Tether::new();
    let db = t.cwd().join("relay.db");
    let db_arg = db.to_str().unwrap();
    // A file as the release before versioned migrations left it (schema 2: no revocations
    // table, no worker presence column, no shared limits, no push subscriptions or looking),
    // holding an account.
    add_relay_user(&t, &db, "alice", PASSWORD);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "DROP TABLE revoked_families; DROP INDEX sessions_online;
             DROP TABLE throttles; DROP TABLE streams; DROP TABLE push_subscriptions;
             DROP TABLE push_looking; ALTER TABLE sessions DROP COLUMN worker_left_epoch;
             ALTER TABLE sessions DROP COLUMN worker_seen_at; PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let check = t.run(["relay", "migrate", "--check", "--db", db_arg]);
    assert_eq!(check.status.code(), Some(1), "pending: {check}");
    assert!(check.stdout.contains("schema 2"), "{check}");
    let migrated = t.run(["relay", "migrate", "--db", db_arg]);
    migrated.assert_success();
    assert!(migrated.stdout.contains("schema 2 → 7"), "{migrated}");
    let check = t.run(["relay", "migrate", "--check", "--db", db_arg]);
    check.assert_success();
    assert!(check.stdout.contains("up to date"), "{check}");
    let list = t.run(["relay", "user", "list", "--db", db_arg]);
    assert!(list.stdout.contains("alice"), "kept: {list}");

    // A newer relay's file: refused by migrate, by serve and by the user commands, untouched.
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    for args in [
        vec!["relay", "migrate", "--db", db_arg],
        vec!["relay", "migrate", "--check", "--db", db_arg],
        vec!["relay", "serve", "--listen", "127.0.0.1:0", "--db", db_arg],
        vec!["relay", "user", "list", "--db", db_arg],
    ] {
        let out = t.run(args.clone());
        out.assert_failure();
        assert!(
            out.stderr.contains("schema version 99") && out.stderr.contains("newer"),
            "{args:?}: {out}"
        );
    }
    let version: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99);
}

#[test]
fn the_default_database_lives_in_the_data_directory() {
    let t = Tether::new();
    t.run_with_input(
        ["relay", "user", "add", "carol", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )
    .assert_success();
    assert!(t.data_dir().join("relay.db").exists());
}

#[test]
fn a_restarted_relay_keeps_logins_sessions_and_events() {
    let t = Tether::new();
    let db = t.cwd().join("relay.db");
    add_relay_user(&t, &db, "alice", PASSWORD);
    let served = Served::start(&t, &db, &[]);
    assert_eq!(http(served.host(), "GET", "/healthz", &[], "").2, "ok");
    let cookie = browser_login(served.host(), &served.url, "alice", PASSWORD);
    let origin = served.url.clone();
    let json = [
        ("Cookie", cookie.as_str()),
        ("Origin", origin.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (status, _, body) = http(
        served.host(),
        "POST",
        "/v1/code/sessions",
        &json,
        r#"{"title":"kept"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let session: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    assert!(
        id.starts_with("session_") && !id.starts_with("session_staging_"),
        "{id}"
    );
    assert_eq!(session["url"], format!("{}/code/{id}", served.url));
    let event_id = "6f1f4f0e-7a43-4c53-9d0c-2b1f7b0c9a11";
    let publish = format!(
        r#"{{"events":[{{"id":"{event_id}","type":"user_message","payload":{{"text":"survives"}}}}]}}"#
    );
    let (status, _, body) = http(
        served.host(),
        "POST",
        &format!("/v1/code/sessions/{id}/events"),
        &json,
        &publish,
    );
    assert_eq!(status, 200, "{body}");
    let addr = served.host().to_owned();
    served.terminate();

    // Back on the same address: the login cookie is named for the relay's port, so a relay
    // that moved elsewhere would be another relay to the browser.
    let served = Served::start(&t, &db, &["--listen", &addr]);
    let origin = served.url.clone();
    let json = [
        ("Cookie", cookie.as_str()),
        ("Origin", origin.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (status, _, body) = http(
        served.host(),
        "GET",
        &format!("/v1/code/sessions/{id}"),
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(status, 200, "the login cookie survives a restart: {body}");
    assert!(body.contains(r#""title":"kept""#), "{body}");
    // The retried publish is recognised after the restart too.
    let (status, _, body) = http(
        served.host(),
        "POST",
        &format!("/v1/code/sessions/{id}/events"),
        &json,
        &publish,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""duplicate":true"#) && body.contains(r#""seq":1"#),
        "{body}"
    );
    // The stored event is replayed on a stream.
    let mut stream = TcpStream::connect(served.host()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET /v1/code/sessions/{id}/events/stream?from_seq=0 HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("survives") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        seen.contains("id: 1\n") || seen.contains("id:1\n"),
        "{seen}"
    );
    served.terminate();
}

/// Issue 12: about a thousand connections that never finish their request head used to take
/// every descriptor, and the relay answered nobody. Now the relay holds fewer connections than
/// its descriptor limit allows and closes the longest-idle one to make room.
#[test]
fn a_flood_of_half_open_connections_leaves_the_relay_answering() {
    let t = Tether::new();
    let db = t.cwd().join("relay.db");
    let served = Served::start_with_nofile(&t, &db, 256);
    // Connecting stops once the relay stops accepting and its backlog is full (the attack
    // has won); what matters is whether a new client is answered then.
    let flood: Vec<TcpStream> = (0..1000).map_while(|_| half_open(served.host())).collect();
    let started = std::time::Instant::now();
    assert!(
        healthz_within(served.host(), Duration::from_secs(5)),
        "/healthz unanswered during the flood"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Logins (the database opening its files) still work too.
    add_relay_user(&t, &db, "alice", PASSWORD);
    let _cookie = browser_login(served.host(), &served.url, "alice", PASSWORD);
    drop(flood);
    served.terminate_within(Duration::from_secs(5));
}

/// Issue 12: one half-sent request kept SIGTERM from ever stopping the relay.
#[test]
fn sigterm_with_a_half_sent_request_exits_promptly() {
    let t = Tether::new();
    let db = t.cwd().join("relay.db");
    let served = Served::start(
        &t,
        &db,
        &["--header-timeout", "600", "--shutdown-grace", "600"],
    );
    let _half = half_open(served.host()).expect("connected");
    assert!(healthz_within(served.host(), Duration::from_secs(5)));
    served.terminate_within(Duration::from_secs(3));
}

#[test]
fn a_staging_relay_mints_staging_session_ids() {
    let t = Tether::new();
    let db = t.cwd().join("relay.db");
    add_relay_user(&t, &db, "alice", PASSWORD);
    let served = Served::start(&t, &db, &["--staging"]);
    let cookie = browser_login(served.host(), &served.url, "alice", PASSWORD);
    let (status, _, body) = http(
        served.host(),
        "POST",
        "/v1/code/sessions",
        &[
            ("Cookie", &cookie),
            ("Origin", &served.url),
            ("Content-Type", "application/json"),
        ],
        "{}",
    );
    assert_eq!(status, 201, "{body}");
    assert!(body.contains(r#""id":"session_staging_"#), "{body}");
}

#[test]
fn a_public_url_sets_the_allowed_origin_and_links() {
    let t = Tether::new();
    let db = t.cwd().join("relay.db");
    add_relay_user(&t, &db, "alice", PASSWORD);
    let served = Served::start(&t, &db, &["--public-url", "https://relay.example.com/"]);
    let (status, _, body) = http(
        served.host(),
        "POST",
        "/v1/oauth/device/code",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "client_id=tether-cli",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""verification_uri":"https://relay.example.com/device""#),
        "{body}"
    );
    // Our own address is not the public origin: a cookie login from it is refused.
    let (status, _, _) = http(
        served.host(),
        "POST",
        "/login",
        &[
            ("Origin", &served.url),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "username=alice&password=x",
    );
    assert_eq!(status, 403);
    let (status, head, _) = http(
        served.host(),
        "POST",
        "/login",
        &[
            ("Origin", "https://relay.example.com"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("username=alice&password={}", PASSWORD.replace(' ', "+")),
    );
    assert_eq!(status, 303);
    assert!(
        head.contains("; Secure"),
        "cookies are Secure behind https: {head}"
    );
}

#[test]
fn serve_refuses_a_bad_public_url_and_a_busy_port() {
    let t = Tether::new();
    let db = t.cwd().join("relay.db");
    let out = t.run([
        "relay",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--db",
        db.to_str().unwrap(),
        "--public-url",
        "ftp://x",
    ]);
    out.assert_failure();
    assert!(out.stderr.contains("not an http(s) URL"), "{out}");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = t.run([
        "relay",
        "serve",
        "--listen",
        &addr,
        "--db",
        db.to_str().unwrap(),
    ]);
    out.assert_failure();
    assert!(out.stderr.contains("cannot listen on"), "{out}");
}

/// `--jwt-key-file`: a missing, empty, short or placeholder file stops the relay at start with
/// the file's name and what is wrong; a good one serves, with a warning if others can read it.
#[test]
fn serve_checks_the_jwt_key_file() {
    let t = Tether::new();
    let db = t.cwd().join("relay.db");
    let key = t.cwd().join("jwt.key");
    let key_arg = key.to_str().unwrap();
    let serve = |t: &Tether| t.run(serve_args(&db, &["--jwt-key-file", key_arg]));
    let out = serve(&t);
    out.assert_failure();
    assert!(
        out.stderr.contains("cannot read the JWT key from") && out.stderr.contains(key_arg),
        "{out}"
    );
    for (text, says) in [
        ("\n", "empty"),
        ("3f1c9a0e5b7d2486f0a1c3e5b7d9f1a2\n", "16 bytes"),
        (&"0".repeat(64), "not random"),
        ("my secret", "neither 64 hex digits"),
    ] {
        std::fs::write(&key, text).unwrap();
        let out = serve(&t);
        out.assert_failure();
        assert!(
            out.stderr.contains(key_arg) && out.stderr.contains(says),
            "{text:?}: {out}"
        );
    }
    std::fs::write(
        &key,
        "3f1c9a0e5b7d2486f0a1c3e5b7d9f1a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut served = Served::spawn_with_stderr(
        t.command(serve_args(&db, &["--jwt-key-file", key_arg])),
        Stdio::piped(),
    );
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    let mut stderr = String::new();
    served
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("can be read by other users") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

/// docs/architecture.md: the relay builds fast and deploys alone, so it must never pull in the plugin host.
#[test]
fn the_relay_does_not_depend_on_wasmtime() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "tether-relay",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .current_dir(tether_e2e::repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(tree.contains("tether-protocol"), "{tree}");
    for forbidden in ["wasmtime", "cranelift", "tether-plugins", "tether-session"] {
        assert!(
            !tree.lines().any(|l| l.starts_with(forbidden)),
            "{forbidden} in:\n{tree}"
        );
    }
}
