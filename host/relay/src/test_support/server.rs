//! What the tests' own database servers share: a free port, and a watchdog that stops the
//! server and removes its directory when the test process ends, however it ends. The watchdog
//! is a shell holding the server; it waits on a pipe only the test process writes to, so the
//! pipe closing (the process exiting, or being killed) is the signal.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Whether this runs in CI (`CI` set to anything but empty, `0` or `false`), where a missing
/// server is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Run `f` on a thread of its own: the synchronous PostgreSQL client cannot run on a thread
/// that drives an async runtime.
pub fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("the database thread"))
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `s` as one shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Start `server` (a shell command line, its output to `log`) under a watchdog that, when the
/// returned child's stdin closes, runs `stop` and removes `dir`.
pub fn watched(server: &str, log: &Path, stop: &str, dir: &Path) -> Result<Child, String> {
    let script = format!(
        "{server} >{log} 2>&1 </dev/null & pid=$!\n\
         cat >/dev/null\n\
         {stop}; wait $pid\n\
         rm -rf {dir}\n",
        log = shell_quote(&log.to_string_lossy()),
        dir = shell_quote(&dir.to_string_lossy()),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("sh: {e}"))
}
