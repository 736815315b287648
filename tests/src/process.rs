//! Long-running `tether` processes for the remote-mode and browser tests: a process whose output
//! is collected as it comes ([`Proc`]), `tether --remote` ([`Remote`]), `tether relay serve`
//! ([`Relay`]), and a hosted relay with an account and a logged-in CLI ([`Hosted`]). Every wait
//! has a deadline and every process is killed when its value is dropped.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::http::{add_relay_user, browser_login, request};
use crate::{Tether, strip_ansi};

/// How long any one expected thing may take to show up.
pub const WAIT: Duration = Duration::from_secs(20);

/// The password of the accounts these helpers make.
pub const PASSWORD: &str = "a long enough password";

/// The offline echo engine's reply, before what was said.
pub const ECHO: &str = "No model is configured, so this is the offline echo engine. You said: ";

/// The echo engine's whole reply to `said`.
pub fn reply_to(said: &str) -> String {
    format!("{ECHO}{said}")
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("binding a free port")
        .local_addr()
        .expect("a bound address")
        .port()
}

#[derive(Default)]
struct Captured {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Pipes that reached their end (2: the process is gone).
    closed: usize,
}

/// A running process whose output is collected as it comes; killed on drop.
pub struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    captured: Arc<(Mutex<Captured>, Condvar)>,
}

impl Proc {
    /// Starts `cmd` with piped standard input (held open until [`close_stdin`](Proc::close_stdin)),
    /// output and error.
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let captured = Arc::new((Mutex::new(Captured::default()), Condvar::new()));
        let pipes: [(bool, Box<dyn Read + Send>); 2] = [
            (false, Box::new(child.stdout.take().expect("piped"))),
            (true, Box::new(child.stderr.take().expect("piped"))),
        ];
        for (is_err, mut pipe) in pipes {
            let captured = Arc::clone(&captured);
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    let n = pipe.read(&mut buf).unwrap_or(0);
                    let (lock, changed) = &*captured;
                    let mut c = lock.lock().unwrap_or_else(|e| e.into_inner());
                    if n == 0 {
                        c.closed += 1;
                        changed.notify_all();
                        return;
                    }
                    if is_err {
                        c.stderr.extend_from_slice(&buf[..n]);
                    } else {
                        c.stdout.extend_from_slice(&buf[..n]);
                    }
                    changed.notify_all();
                }
            });
        }
        let stdin = child.stdin.take();
        Proc {
            name: name.to_owned(),
            child,
            stdin,
            captured,
        }
    }

    /// The process id, for signals a test sends itself.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stdout so far, escape sequences removed.
    pub fn stdout(&self) -> String {
        let c = self.captured.0.lock().unwrap_or_else(|e| e.into_inner());
        strip_ansi(&String::from_utf8_lossy(&c.stdout))
    }

    /// Stderr so far, escape sequences removed.
    pub fn stderr(&self) -> String {
        let c = self.captured.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&c.stderr).into_owned()
    }

    /// What it printed, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}\n---",
            self.name,
            self.stdout(),
            self.name,
            self.stderr()
        )
    }

    /// Waits (at most `timeout`) until `check` finds something in (stdout, stderr).
    #[track_caller]
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&str, &str) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let (lock, changed) = &*self.captured;
        let mut c = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let out = strip_ansi(&String::from_utf8_lossy(&c.stdout));
            let err = String::from_utf8_lossy(&c.stderr).into_owned();
            if let Some(found) = check(&out, &err) {
                return found;
            }
            let now = Instant::now();
            if c.closed == 2 || now >= deadline {
                let why = if c.closed == 2 {
                    "it exited"
                } else {
                    "timed out"
                };
                drop(c);
                panic!(
                    "{why} waiting for {what} from {}\n{}",
                    self.name,
                    self.dump()
                );
            }
            c = changed
                .wait_timeout(c, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits for `needle` on stdout (escape sequences removed).
    #[track_caller]
    pub fn expect_stdout(&self, needle: &str) {
        self.wait_until(&format!("{needle:?} on stdout"), WAIT, |out, _| {
            out.contains(needle).then_some(())
        });
    }

    /// Writes `text` and a newline to its standard input.
    pub fn line(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        let written = stdin
            .write_all(format!("{text}\n").as_bytes())
            .and_then(|()| stdin.flush());
        if let Err(e) = written {
            panic!("writing to {}: {e}\n{}", self.name, self.dump());
        }
    }

    /// Closes standard input: tether reads the end of its input, as at Ctrl-D.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Sends `signal` (`"TERM"`, `"INT"`, …) with kill(1).
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{signal} {} failed", self.name);
    }

    /// Waits (at most `timeout`) for the process to exit; kills it and fails the test if it
    /// does not.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for a process") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {timeout:?}\n{}",
                    self.name,
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU time used so far (user + system), from /proc.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("reading /proc/PID/stat");
        // The fields after the command name (which is in parentheses and may contain spaces).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("a stat line")
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // USER_HZ is 100 on every Linux this runs on.
        Duration::from_millis(ticks * 10)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `tether --remote` process with piped standard input, and the URL it printed.
pub struct Remote {
    /// The process.
    pub proc: Proc,
    /// The pairing URL it printed.
    pub url: String,
}

impl Remote {
    /// `tether --remote ARGS`, once it printed `Open in browser: URL`.
    #[track_caller]
    pub fn start(t: &Tether, args: &[&str]) -> Remote {
        let mut all = vec!["--remote"];
        all.extend_from_slice(args);
        let proc = Proc::spawn("tether --remote", t.command(&all));
        let url = proc.wait_until("the session URL", WAIT, |out, _| {
            let rest = &out[out.find("Open in browser: ")? + "Open in browser: ".len()..];
            let line = &rest[..rest.find('\n')?];
            Some(line.trim().to_owned())
        });
        Remote { proc, url }
    }

    /// See [`url_parts`].
    pub fn parts(&self) -> (String, String, Option<String>) {
        url_parts(&self.url)
    }
}

/// `http://host:port`, the session id and the pairing secret (if any) of a session URL.
pub fn url_parts(url: &str) -> (String, String, Option<String>) {
    // The fragment carries the session key (see `seal::key_of`); it is not part of the page.
    let url = url.split_once('#').map_or(url, |(page, _)| page);
    let (page, secret) = match url.split_once("?pair=") {
        Some((page, secret)) => (page, Some(secret.to_owned())),
        None => (url, None),
    };
    let (base, id) = page
        .split_once("/code/")
        .unwrap_or_else(|| panic!("not a session URL: {url}"));
    (base.to_owned(), id.to_owned(), secret)
}

/// A `tether relay serve` process.
pub struct Relay {
    /// The process.
    pub proc: Proc,
    /// `http://host:port`, as it printed.
    pub url: String,
}

impl Relay {
    /// `tether relay serve --listen LISTEN --db DB EXTRA`, once it printed its address.
    #[track_caller]
    pub fn start(t: &Tether, db: &Path, listen: &str, extra: &[&str]) -> Relay {
        Relay::start_on(
            t,
            &["--db", db.to_str().expect("a UTF-8 path")],
            listen,
            extra,
        )
    }

    /// The same on the database `store` names (`--db PATH` or `--database-url URL`).
    #[track_caller]
    pub fn start_on(t: &Tether, store: &[&str], listen: &str, extra: &[&str]) -> Relay {
        let mut args = vec!["relay", "serve", "--listen", listen];
        args.extend_from_slice(store);
        args.extend_from_slice(extra);
        let proc = Proc::spawn("tether relay serve", t.command(&args));
        let url = proc.wait_until("the relay's address", WAIT, |out, _| {
            let rest = &out[out.find(" listening on ")?..];
            // The whole line, not the first bytes of it.
            let line = &rest[..rest.find('\n')?];
            line.split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(str::to_owned)
        });
        Relay { proc, url }
    }

    /// `host:port`.
    pub fn host(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    /// SIGTERM, as a service manager stops it; it must exit cleanly.
    #[track_caller]
    pub fn terminate(mut self) {
        self.proc.signal("TERM");
        let status = self.proc.wait_exit(Duration::from_secs(10));
        assert!(
            status.success(),
            "relay exited with {status}\n{}",
            self.proc.dump()
        );
    }
}

/// `tether login --server URL`, approved from a browser logged in with `cookie`; returns what
/// it printed.
#[track_caller]
pub fn cli_login(t: &Tether, relay: &Relay, cookie: &str, device_name: &str) -> String {
    cli_login_at(t, &relay.url, cookie, device_name)
}

/// [`cli_login`] to the relay at `url` (a balancer in front of its nodes, say).
#[track_caller]
pub fn cli_login_at(t: &Tether, url: &str, cookie: &str, device_name: &str) -> String {
    let host = url.trim_start_matches("http://");
    let mut login = Proc::spawn(
        "tether login",
        t.command(["login", "--server", url, "--device-name", device_name]),
    );
    let (uri, code) = login.wait_until("the user code", WAIT, |out, _| {
        let rest = &out[out.find("To log in, open ")? + "To log in, open ".len()..];
        let (uri, rest) = rest.split_once(" and enter the code\n\n")?;
        let code = rest.lines().next()?.trim().to_owned();
        rest.contains('\n').then(|| (uri.to_owned(), code))
    });
    assert_eq!(uri, format!("{}/device", url));
    assert!(
        code.len() == 9
            && code.as_bytes()[4] == b'-'
            && code
                .chars()
                .filter(|c| *c != '-')
                .all(|c| c.is_ascii_uppercase()),
        "not a user code: {code:?}"
    );
    login.expect_stdout("Waiting for approval");
    let (status, head, body) = request(
        host,
        "POST",
        "/device",
        &[
            ("Cookie", cookie),
            ("Origin", url),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("user_code={code}&decision=approve"),
    );
    assert!(
        status == 200 || status == 303,
        "approving failed: {head}\n{body}"
    );
    let status = login.wait_exit(WAIT);
    assert!(
        status.success(),
        "login failed with {status}\n{}",
        login.dump()
    );
    let out = login.stdout();
    assert!(
        out.contains(&format!(
            "Logged in to {}; this machine is trusted as \"{device_name}\".",
            url
        )),
        "{}",
        login.dump()
    );
    out
}

/// A hosted relay with an account `alice` (password [`PASSWORD`]), a browser login cookie of
/// hers, and a CLI logged in to it.
pub struct Hosted {
    /// The installation of the logged-in CLI.
    pub t: Tether,
    /// The relay's account database.
    pub db: PathBuf,
    /// The relay.
    pub relay: Relay,
    /// Alice's browser login, as a `Cookie` header value.
    pub cookie: String,
}

impl Hosted {
    /// Starts a relay on `listen` with `relay_args`, and logs a fresh installation in to it.
    #[track_caller]
    pub fn new(listen: &str, relay_args: &[&str]) -> Hosted {
        Hosted::with(Tether::new(), listen, relay_args)
    }

    /// The same, with a [`Tether`] set up by the caller (echo delay, environment).
    #[track_caller]
    pub fn with(t: Tether, listen: &str, relay_args: &[&str]) -> Hosted {
        let db = t.home().join("relay.db");
        add_relay_user(&t, &db, "alice", PASSWORD);
        let relay = Relay::start(&t, &db, listen, relay_args);
        let cookie = browser_login(&relay.host(), &relay.url, "alice", PASSWORD);
        cli_login(&t, &relay, &cookie, "e2e machine");
        Hosted {
            t,
            db,
            relay,
            cookie,
        }
    }

    /// `tether --remote ARGS` publishing on this relay (a `session_<uuid>`): the process and the
    /// session id.
    #[track_caller]
    pub fn remote(&self, args: &[&str]) -> (Remote, String) {
        let remote = Remote::start(&self.t, args);
        let (base, session, secret) = remote.parts();
        assert_eq!(base, self.relay.url, "{}", remote.url);
        assert_eq!(
            secret, None,
            "a hosted session URL carries no pairing secret"
        );
        assert!(session.starts_with("session_"), "{}", remote.url);
        (remote, session)
    }
}
