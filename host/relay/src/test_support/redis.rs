//! A Redis server of a test's own, on a free loopback port, that the test can stop and start
//! again on the same port (a Redis restart, as operators do them). Removed with its directory
//! when dropped or when the test process ends (see [`super::server::watched`]).
//!
//! Without `redis-server` installed (Debian's `redis-server`, which `.ci/run` installs) the
//! tests that need it say they are skipped, and fail when `CI=true`.

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use super::server::{free_port, in_ci, shell_quote, watched};

/// A running (or stopped) Redis.
pub struct RedisServer {
    /// Its port on 127.0.0.1, kept across restarts.
    pub port: u16,
    program: PathBuf,
    watchdog: Option<Child>,
}

fn program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
}

impl RedisServer {
    /// A new server; `None` (and a note on stderr) when Redis is not installed outside CI. In
    /// CI that panics.
    pub fn start() -> Option<RedisServer> {
        let Some(program) = program() else {
            if in_ci() {
                panic!(
                    "CI=true but redis-server is not installed (apt-get install redis-server; .ci/run does)"
                );
            }
            eprintln!(
                "skipped: redis-server is not installed (apt-get install redis-server), so the relay's Redis tests do not run"
            );
            return None;
        };
        let mut server = RedisServer {
            port: free_port(),
            program,
            watchdog: None,
        };
        server.start_again();
        Some(server)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stop it, as a crash would (nothing is persisted anyway).
    pub fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }

    /// Start it again on its port.
    pub fn start_again(&mut self) {
        assert!(self.watchdog.is_none(), "stop it first");
        let dir = tempfile::Builder::new()
            .prefix("tether-redis-")
            .tempdir()
            .expect("a temporary folder")
            .keep();
        let line = format!(
            "{} --port {} --bind 127.0.0.1 --save '' --appendonly no --dir {}",
            shell_quote(&self.program.to_string_lossy()),
            self.port,
            shell_quote(&dir.to_string_lossy()),
        );
        let log = dir.join("redis.log");
        let watchdog = watched(&line, &log, "kill $pid", &dir).expect("redis-server starts");
        self.watchdog = Some(watchdog);
        // Ready once it accepts a connection and answers.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(self.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer within 10 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether something on `port` answers `PING` with `+PONG`.
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}
