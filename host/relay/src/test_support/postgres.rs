//! A PostgreSQL server of the tests' own: started once per test process on a free loopback
//! port with a data directory of its own, one fresh database per test, and everything removed
//! when the process ends (see [`super::server::watched`]).
//!
//! Without PostgreSQL installed (Debian's `postgresql`, which `.ci/run` installs) the tests that
//! need it say they are skipped, and fail when `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use super::server::blocking;
use super::server::{free_port, in_ci, shell_quote, watched};

/// The running server. (`runuser` does not pass signals on, so the watchdog signals the
/// server by the pid it wrote.)
pub struct PgServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    next: AtomicU32,
    /// The watchdog; its stdin is the pipe whose closing stops everything.
    _watchdog: Mutex<Child>,
}

impl PgServer {
    /// The process's server, started on first use; `None` (and a note on stderr) when
    /// PostgreSQL is not installed outside CI. In CI that panics.
    pub fn get() -> Option<&'static PgServer> {
        static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();
        SERVER
            .get_or_init(|| match binaries() {
                Some(bin) => Some(start(&bin).unwrap_or_else(|e| {
                    panic!("cannot start a PostgreSQL server for the tests: {e}")
                })),
                None if in_ci() => panic!(
                    "CI=true but PostgreSQL is not installed (apt-get install postgresql; .ci/run does)"
                ),
                None => {
                    eprintln!(
                        "skipped: PostgreSQL is not installed (apt-get install postgresql), so the relay's PostgreSQL tests do not run"
                    );
                    None
                }
            })
            .as_ref()
    }

    /// The URL of a database nobody else uses, created now.
    pub fn fresh_database(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let mut admin = self.connect("postgres");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url(&name)
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://tether@127.0.0.1:{}/{database}", self.port)
    }

    /// A client on `database`, for what a test checks or does behind the relay's back.
    /// Blocking: call it off the async runtime (see [`blocking`]).
    pub fn connect(&self, database: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(database), postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL: {e}"))
    }
}

/// Where `initdb` and `postgres` are: the newest Debian install, else `PATH`.
fn binaries() -> Option<PathBuf> {
    let mut installed: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("postgres").is_file() && bin.join("initdb").is_file())
        .collect();
    installed.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(bin) = installed.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .find(|dir| dir.join("postgres").is_file() && dir.join("initdb").is_file())
}

/// PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user that
/// Debian's package creates.
fn as_server_user(dir: &Path, program: &Path) -> Result<Command, String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        return Ok(Command::new(program));
    }
    let chown = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .status()
        .map_err(|e| format!("chown: {e}"))?;
    if !chown.success() {
        return Err("cannot give the data directory to the postgres user".into());
    }
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    Ok(command)
}

fn start(bin: &Path) -> Result<PgServer, String> {
    let dir = tempfile::Builder::new()
        .prefix("tether-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        // The watchdog removes it, after the server has stopped.
        .keep();
    let data = dir.join("data");
    std::fs::create_dir(&data).map_err(|e| e.to_string())?;
    let init = as_server_user(&dir, &bin.join("initdb"))?
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "tether", "--no-sync", "-E", "UTF8"])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !init.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        ));
    }
    let port = free_port();
    // Durability is the server's business, not what these tests check: fsync off makes a
    // database a few milliseconds to create.
    let server = as_server_user(&dir, &bin.join("postgres"))?;
    let mut server_line: Vec<String> = std::iter::once(server.get_program())
        .chain(server.get_args())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect();
    server_line.extend(
        [
            "-D".to_owned(),
            shell_quote(&data.to_string_lossy()),
            "-p".to_owned(),
            port.to_string(),
            "-k".to_owned(),
            shell_quote(&dir.to_string_lossy()),
        ]
        .into_iter()
        .chain(
            [
                "listen_addresses=127.0.0.1",
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
                "max_connections=300",
            ]
            .iter()
            .flat_map(|c| ["-c".to_owned(), (*c).to_owned()]),
        ),
    );
    let log = dir.join("server.log");
    let stop = format!(
        "kill -INT \"$(head -n1 {} 2>/dev/null)\" $pid 2>/dev/null",
        shell_quote(&data.join("postmaster.pid").to_string_lossy())
    );
    let mut watchdog = watched(&server_line.join(" "), &log, &stop, &dir)?;
    let url = format!("postgres://tether@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match postgres::Client::connect(&url, postgres::NoTls) {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => {
                // Closing the pipe stops the server and removes its directory.
                drop(watchdog.stdin.take());
                return Err(format!(
                    "the server did not answer within 30 s ({e}); its log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    Ok(PgServer {
        port,
        next: AtomicU32::new(0),
        _watchdog: Mutex::new(watchdog),
    })
}
