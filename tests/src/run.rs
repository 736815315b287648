//! Running `tether` to completion: with a deadline, its output collected, and failure messages
//! that show everything it printed.

use std::fmt;
use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a plain `tether` process may run. Generous: CI machines are small and shared, and a
/// cold start compiles every stock plugin.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// What a finished process printed, and how it ended.
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything on standard output.
    pub stdout: String,
    /// Everything on standard error.
    pub stderr: String,
}

impl Output {
    /// It exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Its exit code (`None` if a signal ended it).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Fails the test, showing the output, unless it succeeded.
    #[track_caller]
    pub fn assert_success(&self) -> &Output {
        assert!(self.success(), "expected success, got {self}");
        self
    }

    /// Fails the test, showing the output, unless it exited with a non-zero code.
    #[track_caller]
    pub fn assert_failure(&self) -> &Output {
        assert!(
            !self.success() && self.code().is_some(),
            "expected a non-zero exit code, got {self}"
        );
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}\n---",
            self.status, self.stdout, self.stderr
        )
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Runs `cmd` with no input; kills it and fails the test if it outlives `timeout`.
#[track_caller]
pub fn run_with_timeout(cmd: Command, timeout: Duration) -> Output {
    run_with_timeout_and_input(cmd, None, timeout)
}

/// Runs `cmd` with `input` on a pipe (or no input); kills it and fails the test if it outlives
/// `timeout`.
#[track_caller]
pub fn run_with_timeout_and_input(
    mut cmd: Command,
    input: Option<&str>,
    timeout: Duration,
) -> Output {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = r.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        let input = input.to_string();
        // Written from a thread: a large input must not block while tether's output fills up.
        std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
    }
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for tether") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                stdout.join().unwrap_or_default(),
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().expect("reading stdout"),
        stderr: stderr.join().expect("reading stderr"),
    }
}
