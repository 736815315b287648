//! Shared by the relay's benches: the servers under test run as child processes (the bench
//! binary again, with `ROLE` set), so that the figures read from `/proc` are theirs alone.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;

/// Which server a child of the bench binary runs; unset in the bench itself.
pub const ROLE: &str = "TETHER_BENCH_ROLE";

/// The CPU time a `/proc/…/schedstat` file says its task has run (its first field), ns.
pub fn schedstat_ns(path: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A child process serving something; stopped (stdin closed, then waited for) when dropped.
pub struct Server {
    pub child: Child,
    pub addrs: Vec<SocketAddr>,
}

impl Server {
    /// Starts the child as `role` and waits for the `ADDR <addr>…` line that says it is ready.
    pub fn spawn(role: &str, env: &[(&str, &str)]) -> anyhow::Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .env(ROLE, role)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        // The first line that starts with `ADDR ` (a wrapper such as a profiler may talk first).
        let mut out = std::io::BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        while !line.starts_with("ADDR ") {
            line.clear();
            if std::io::BufRead::read_line(&mut out, &mut line)? == 0 {
                bail!("the {role} child exited before it was ready");
            }
        }
        let addrs = line
            .trim()
            .strip_prefix("ADDR ")
            .expect("checked")
            .split(' ')
            .map(|a| a.parse())
            .collect::<Result<_, _>>()?;
        Ok(Server { child, addrs })
    }

    /// A `/proc/<pid>/status` field of the child, in its unit (KiB for the `Vm…` ones); 0 if
    /// it cannot be read.
    pub fn status(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(field))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Resident set size of the child, KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status("VmRSS:")
    }

    pub fn threads(&self) -> u64 {
        self.status("Threads:")
    }

    /// CPU time the child has run, summed over its threads (the first field of each
    /// `/proc/<pid>/task/<tid>/schedstat`, nanoseconds). Threads that have exited are not
    /// counted, so read it around work that leaves the thread pool as it found it.
    pub fn cpu_ns(&self) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else {
            return 0;
        };
        tasks
            .flatten()
            .filter_map(|t| schedstat_ns(&t.path().join("schedstat")))
            .sum()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
