//! Helpers for tether's end-to-end tests: they start the real `tether` binary as a process, either
//! with plain pipes ([`Tether::run`]) or on a pseudo-terminal ([`Tether::spawn_pty`]), each test in
//! directories of its own.
//!
//! # The binary
//!
//! Cargo builds a binary for the integration tests of the package that defines it only, and
//! `tether` lives in `host/cli`. So the first test that needs it runs `cargo build -p tether`
//! (once per test process, with the profile of the tests themselves) and uses the executable
//! that build reports: `cargo test -p tether-e2e` always tests the current code, and costs
//! nothing when the binary is already up to date. Set `TETHER_E2E_BIN` to test another binary
//! (an installed one, say) instead.
//!
//! # Isolation
//!
//! Every [`Tether`] has its own `HOME`, `XDG_CONFIG_HOME`, `XDG_DATA_HOME`, `XDG_CACHE_HOME` and
//! working directory in a temporary directory, and starts tether with a cleared environment
//! (only `PATH` is kept): nothing from the developer's own setup (`NO_COLOR`, `TETHER_ENGINE`,
//! `TETHER_LOG`, …) leaks in. `BROWSER`, `EDITOR` and `VISUAL` are set to `true`, so that no test
//! ever opens a real browser or editor.
//!
//! Compiling the stock plugins takes a few seconds on a cold start, so [`Tether::new`] starts
//! from a warm cache (compiled once per test process and copied, with the key that authenticates
//! it); [`Tether::cold`] starts from nothing, for the tests about first starts.
//!
//! # Modules
//!
//! [`process`] runs long-lived tether processes (`tether --remote`, `tether relay serve`, a
//! hosted relay with a logged-in CLI), [`http`] speaks plain HTTP to a relay, and [`browser`]
//! drives a headless Chromium through chromedriver for the web client's tests
//! (`tests/tests/browser.rs`) and bench (`tests/benches/web.rs`).
//! [`provider`] stands in for Anthropic's and OpenAI's streaming APIs on loopback.

pub mod browser;
pub mod hostile;
pub mod http;
pub mod process;
pub mod provider;
pub mod sse;
use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a plain `tether` process may run. Generous: CI machines are small and shared, and a
/// cold start compiles every stock plugin.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a terminal test waits for each thing it expects to see.
pub const PTY_TIMEOUT: Duration = Duration::from_secs(20);

/// The size of the pseudo-terminal.
pub const PTY_ROWS: u16 = 40;
pub const PTY_COLS: u16 = 120;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

/// The `tether` executable, built on first use (see the crate documentation).
pub fn tether_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("TETHER_E2E_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => build_tether(),
    })
}

/// `cargo build -p tether` with the profile these tests were built with; returns the executable
/// cargo reports.
fn build_tether() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo_root()).args([
        "build",
        "-p",
        "tether",
        "--bin",
        "tether",
        "--message-format=json-render-diagnostics",
    ]);
    // The test executable is `<target>/<profile>/deps/<name>`.
    let profile = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let dir = exe.parent()?.parent()?;
            Some(dir.file_name()?.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "debug".into());
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .expect("running cargo to build tether");
    assert!(
        output.status.success(),
        "`cargo build -p tether` failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // One JSON message a line; the artifact of the `tether` binary names the executable.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "tether")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| {
            panic!(
                "cargo built tether but named no executable:\n{}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
}

/// The workspace's target directory: `CARGO_TARGET_DIR` (relative to the repository) or
/// `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| {
            if d.is_relative() {
                repo_root().join(d)
            } else {
                d
            }
        })
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Where the wasm32-wasip2 builds of this repository go: `<target>/wasm`, as the stock plugins'.
pub fn wasm_target_dir() -> PathBuf {
    target_dir().join("wasm")
}

/// Where tests leave files for people to look at (screenshots): `<target>/artifacts`.
pub fn artifacts_dir() -> PathBuf {
    target_dir().join("artifacts")
}

/// The components built from `examples/`.
#[derive(Debug)]
pub struct Examples {
    pub hello: PathBuf,
    pub explain: PathBuf,
}

/// Builds `examples/hello` and `examples/explain` as their README says (once per test process),
/// and returns the components.
pub fn examples() -> &'static Examples {
    static EXAMPLES: OnceLock<Examples> = OnceLock::new();
    EXAMPLES.get_or_init(|| Examples {
        hello: build_example("hello"),
        explain: build_example("explain"),
    })
}

/// `cargo build --release --target wasm32-wasip2` in `examples/<name>`, with none of the outer
/// cargo's settings (they are for the host target), as `host/wasm-build` does for the plugins.
pub fn build_example(name: &str) -> PathBuf {
    let dir = repo_root().join("examples").join(name);
    let target_dir = wasm_target_dir();
    let output = tether_wasm_build::wasm_build_command(&dir, &target_dir)
        .output()
        .expect("running cargo to build an example");
    assert!(
        output.status.success(),
        "building {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm = tether_wasm_build::wasm_artifact(&target_dir, name);
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    wasm
}

/// A compiled-plugin cache and its key, made once per test process by a cold start, for
/// [`Tether::new`] to copy.
struct WarmCache {
    key: PathBuf,
    components: PathBuf,
}

fn warm_cache() -> &'static WarmCache {
    static WARM: OnceLock<WarmCache> = OnceLock::new();
    WARM.get_or_init(|| {
        // Statics are never dropped, so this lives under the target directory, one per test
        // process, and the next run clears those of processes that are gone.
        let parent = tether_bin()
            .parent()
            .and_then(Path::parent)
            .map(|target| target.join("tmp").join("tether-e2e"))
            .unwrap_or_else(|| std::env::temp_dir().join("tether-e2e"));
        clear_stale(&parent);
        let dir = parent.join(format!("warm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the warm cache directory");
        let t = Tether::in_dir(dir);
        t.run(["commands", "--json"]).assert_success();
        let warm = WarmCache {
            key: t.data_dir().join("cache.key"),
            components: t.cache_dir().join("components"),
        };
        assert!(warm.key.is_file(), "a cold start made no cache key");
        warm
    })
}

/// Removes the `warm-<pid>` directories of processes that no longer run.
fn clear_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("warm-") else {
            continue;
        };
        let gone = cfg!(target_os = "linux") && !Path::new("/proc").join(pid).exists();
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// One isolated tether installation: its own home, XDG directories and working directory.
pub struct Tether {
    /// Removed when the `Tether` is dropped; `None` for the warm cache, which is kept.
    _temp: Option<tempfile::TempDir>,
    base: PathBuf,
    cwd: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl Default for Tether {
    fn default() -> Self {
        Tether::new()
    }
}

impl Tether {
    /// A fresh installation whose plugin cache is already warm: no compile on start.
    pub fn new() -> Tether {
        let warm = warm_cache();
        let t = Tether::temp();
        let key = t.data_dir().join("cache.key");
        std::fs::create_dir_all(t.data_dir()).expect("creating the data directory");
        std::fs::copy(&warm.key, &key).expect("copying the cache key");
        let components = t.cache_dir().join("components");
        std::fs::create_dir_all(&components).expect("creating the cache directory");
        for entry in std::fs::read_dir(&warm.components).expect("reading the warm cache") {
            let entry = entry.expect("reading the warm cache");
            std::fs::copy(entry.path(), components.join(entry.file_name()))
                .expect("copying a cache entry");
        }
        t
    }

    /// A fresh installation with nothing in it: the first start compiles the stock plugins.
    pub fn cold() -> Tether {
        Tether::temp()
    }

    fn temp() -> Tether {
        let dir = tempfile::Builder::new()
            .prefix("tether-e2e-")
            .tempdir()
            .expect("creating a temporary directory");
        let base = dir.path().to_path_buf();
        let mut t = Tether::in_dir(base);
        t._temp = Some(dir);
        t
    }

    fn in_dir(base: PathBuf) -> Tether {
        let cwd = base.join("work");
        for d in ["home", "config", "data", "cache", "work"] {
            std::fs::create_dir_all(base.join(d)).expect("creating a test directory");
        }
        let mut env: Vec<(OsString, OsString)> = vec![
            ("HOME".into(), base.join("home").into()),
            ("XDG_CONFIG_HOME".into(), base.join("config").into()),
            ("XDG_DATA_HOME".into(), base.join("data").into()),
            ("XDG_CACHE_HOME".into(), base.join("cache").into()),
            ("TETHER_ECHO_DELAY_MS".into(), "0".into()),
            ("BROWSER".into(), "true".into()),
            ("EDITOR".into(), "true".into()),
            ("VISUAL".into(), "true".into()),
        ];
        if let Some(path) = std::env::var_os("PATH") {
            env.push(("PATH".into(), path));
        }
        Tether {
            _temp: None,
            base,
            cwd,
            env,
        }
    }

    /// Sets (or replaces) an environment variable for the processes started from now on.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Tether {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Removes an environment variable for the processes started from now on.
    pub fn env_remove(mut self, key: impl Into<OsString>) -> Tether {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self
    }

    /// The pause between the words of an echo reply (0 unless set: tests run fast).
    pub fn echo_delay_ms(self, ms: u64) -> Tether {
        self.env("TETHER_ECHO_DELAY_MS", ms.to_string())
    }

    /// Starts tether in `dir` (created if missing) rather than in a directory of its own: for
    /// a screenshot that shows the same path on every run.
    pub fn in_cwd(mut self, dir: impl Into<PathBuf>) -> Tether {
        self.cwd = dir.into();
        std::fs::create_dir_all(&self.cwd).expect("creating the working directory");
        self
    }

    /// The working directory tether starts in (empty at first).
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// `$HOME`.
    pub fn home(&self) -> PathBuf {
        self.base.join("home")
    }

    /// `$XDG_CONFIG_HOME/tether`: preferences.toml, memory.md.
    pub fn config_dir(&self) -> PathBuf {
        self.base.join("config").join("tether")
    }

    /// `$XDG_DATA_HOME/tether`: plugins/, history, cache.key.
    pub fn data_dir(&self) -> PathBuf {
        self.base.join("data").join("tether")
    }

    /// `$XDG_CACHE_HOME/tether`: components/ (compiled plugins).
    pub fn cache_dir(&self) -> PathBuf {
        self.base.join("cache").join("tether")
    }

    /// The user plugins directory.
    pub fn plugins_dir(&self) -> PathBuf {
        self.data_dir().join("plugins")
    }

    /// A `tether` command with this installation's environment, in its working directory.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(tether_bin());
        cmd.args(args).current_dir(&self.cwd).env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `tether ARGS` to completion with no input (at most [`RUN_TIMEOUT`]).
    #[track_caller]
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        run_with_timeout(self.command(args), RUN_TIMEOUT)
    }

    /// Runs `tether ARGS` to completion with `input` on its standard input (a pipe).
    #[track_caller]
    pub fn run_with_input<I, S>(&self, args: I, input: &str) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        run_with_timeout_and_input(self.command(args), Some(input), RUN_TIMEOUT)
    }

    /// `tether -p INPUT`.
    #[track_caller]
    pub fn print(&self, input: &str) -> Output {
        self.run(["-p", input])
    }

    /// Starts `tether ARGS` on a pseudo-terminal of [`PTY_ROWS`]×[`PTY_COLS`] with
    /// `TERM=xterm-256color`.
    pub fn spawn_pty<I, S>(&self, args: I) -> Pty
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = portable_pty::CommandBuilder::new(tether_bin());
        cmd.args(args);
        cmd.cwd(&self.cwd);
        cmd.env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.env("TERM", "xterm-256color");
        Pty::spawn(cmd)
    }
}

/// What a finished process printed, and how it ended.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Output {
        assert!(self.success(), "expected success, got {self}");
        self
    }

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

/// Everything a pseudo-terminal session printed, as bytes, as text and as a screen.
struct Shared {
    /// Every byte tether wrote.
    raw: Vec<u8>,
    /// The same without escape sequences and control characters (but with newlines).
    text: Vec<u8>,
    stripper: Stripper,
    /// The screen a terminal emulator would show.
    parser: vt100::Parser<Requests>,
    /// How much of a cursor-position query has been seen at the end of `raw`.
    query: usize,
    /// The terminal closed: tether exited.
    eof: bool,
}

/// What the terminal emulator was asked to do besides drawing: set the window's title (or icon
/// name), or write the clipboard (OSC 52, base64 as sent).
#[derive(Debug, Default, Clone)]
pub struct Requests {
    pub titles: Vec<String>,
    pub clipboard: Vec<String>,
}

impl vt100::Callbacks for Requests {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.titles
            .push(String::from_utf8_lossy(title).into_owned());
    }
    fn set_window_icon_name(&mut self, _: &mut vt100::Screen, name: &[u8]) {
        self.titles.push(String::from_utf8_lossy(name).into_owned());
    }
    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, _ty: &[u8], data: &[u8]) {
        self.clipboard
            .push(String::from_utf8_lossy(data).into_owned());
    }
}

/// The cursor position query (DSR 6). A terminal answers it; the line editor asks it before
/// drawing each prompt, and waits two seconds for an answer that never comes otherwise.
const CURSOR_QUERY: &[u8] = b"\x1b[6n";

impl Shared {
    /// Takes in a chunk of output, answering cursor-position queries through `reply`.
    fn feed(&mut self, chunk: &[u8], reply: &mut dyn FnMut(&[u8])) {
        self.raw.extend_from_slice(chunk);
        for &b in chunk {
            self.stripper.feed(b, &mut self.text);
        }
        let mut start = 0;
        for (i, &b) in chunk.iter().enumerate() {
            self.query = if b == CURSOR_QUERY[self.query] {
                self.query + 1
            } else if b == CURSOR_QUERY[0] {
                1
            } else {
                0
            };
            if self.query == CURSOR_QUERY.len() {
                self.query = 0;
                self.parser.process(&chunk[start..=i]);
                start = i + 1;
                let (row, col) = self.parser.screen().cursor_position();
                reply(format!("\x1b[{};{}R", row + 1, col + 1).as_bytes());
            }
        }
        self.parser.process(&chunk[start..]);
    }
}

/// Removes escape sequences (CSI, OSC, DCS and two-byte escapes) and control characters other
/// than newline and tab from a byte stream, one byte at a time.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Stripper {
    #[default]
    Ground,
    Escape,
    Intermediate,
    Csi,
    /// OSC, DCS and the other string sequences, until BEL or ST.
    String,
    StringEscape,
}

impl Stripper {
    fn feed(&mut self, b: u8, out: &mut Vec<u8>) {
        *self = match (*self, b) {
            (Stripper::Ground, 0x1b) => Stripper::Escape,
            (Stripper::Ground, b'\n' | b'\t') => {
                out.push(b);
                Stripper::Ground
            }
            (Stripper::Ground, b) if b < 0x20 || b == 0x7f => Stripper::Ground,
            (Stripper::Ground, b) => {
                out.push(b);
                Stripper::Ground
            }
            (Stripper::Escape, b'[') => Stripper::Csi,
            (Stripper::Escape, b']' | b'P' | b'X' | b'^' | b'_') => Stripper::String,
            (Stripper::Escape | Stripper::Intermediate, 0x20..=0x2f) => Stripper::Intermediate,
            (Stripper::Escape | Stripper::Intermediate, _) => Stripper::Ground,
            (Stripper::Csi, 0x40..=0x7e) => Stripper::Ground,
            (Stripper::Csi, _) => Stripper::Csi,
            (Stripper::String, 0x07) => Stripper::Ground,
            (Stripper::String, 0x1b) => Stripper::StringEscape,
            (Stripper::String, _) => Stripper::String,
            (Stripper::StringEscape, b'\\') => Stripper::Ground,
            (Stripper::StringEscape, _) => Stripper::String,
        };
    }
}

/// `text` with escape sequences and control characters (but newlines) removed.
pub fn strip_ansi(text: &str) -> String {
    let mut s = Stripper::default();
    let mut out = Vec::new();
    for &b in text.as_bytes() {
        s.feed(b, &mut out);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `bytes` as a readable string for failure messages: escapes shown as `\u{1b}`.
pub fn escaped(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().to_string()
}

/// A `tether` process on a pseudo-terminal, with a terminal emulator in front of it.
///
/// Output is read by a thread as it comes; [`expect`](Pty::expect) and friends wait (at most
/// [`PTY_TIMEOUT`]) for something to appear after a mark that each match moves forward, and fail
/// the test with what the screen showed if it does not. Dropping a `Pty` kills the process if it
/// still runs.
pub struct Pty {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
    /// Where the next text and raw searches start.
    text_mark: usize,
    raw_mark: usize,
    pub timeout: Duration,
}

impl Pty {
    fn spawn(cmd: portable_pty::CommandBuilder) -> Pty {
        let pair = portable_pty::native_pty_system()
            .openpty(portable_pty::PtySize {
                rows: PTY_ROWS,
                cols: PTY_COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("opening a pseudo-terminal");
        let child = pair
            .slave
            .spawn_command(cmd)
            .expect("starting tether on a pseudo-terminal");
        // Only the child may hold the terminal's other end, so that its exit closes it.
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("a pty reader");
        let writer: Arc<Mutex<Box<dyn Write + Send>>> =
            Arc::new(Mutex::new(pair.master.take_writer().expect("a pty writer")));
        let shared = Arc::new((
            Mutex::new(Shared {
                raw: Vec::new(),
                text: Vec::new(),
                stripper: Stripper::default(),
                parser: vt100::Parser::new_with_callbacks(
                    PTY_ROWS,
                    PTY_COLS,
                    0,
                    Requests::default(),
                ),
                query: 0,
                eof: false,
            }),
            Condvar::new(),
        ));
        {
            let shared = Arc::clone(&shared);
            let writer = Arc::clone(&writer);
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) | Err(_) => 0,
                        Ok(n) => n,
                    };
                    let (lock, changed) = &*shared;
                    let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
                    if n == 0 {
                        state.eof = true;
                        changed.notify_all();
                        break;
                    }
                    state.feed(&buf[..n], &mut |answer| {
                        let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = w.write_all(answer);
                        let _ = w.flush();
                    });
                    changed.notify_all();
                }
            });
        }
        Pty {
            shared,
            writer,
            child,
            _master: pair.master,
            text_mark: 0,
            raw_mark: 0,
            timeout: PTY_TIMEOUT,
        }
    }

    /// Types `text` (sent as is: `\r` is Enter, `\x03` Ctrl-C, `\x04` Ctrl-D, `\x1b` Escape).
    pub fn send(&mut self, text: &str) {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.write_all(text.as_bytes())
            .expect("typing into the terminal");
        w.flush().expect("typing into the terminal");
    }

    /// Types `line` and Enter.
    pub fn send_line(&mut self, line: &str) {
        self.send(&format!("{line}\r"));
    }

    /// Moves both marks to the end of what was printed so far: later searches see only what
    /// comes after.
    pub fn mark(&mut self) {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        self.text_mark = state.text.len();
        self.raw_mark = state.raw.len();
    }

    /// Waits until `check` finds what it looks for, or fails the test saying `what` was awaited.
    #[track_caller]
    fn wait<T>(&self, what: &str, mut check: impl FnMut(&Shared) -> Option<T>) -> T {
        let deadline = Instant::now() + self.timeout;
        let (lock, changed) = &*self.shared;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(found) = check(&state) {
                return found;
            }
            let now = Instant::now();
            if state.eof || now >= deadline {
                let why = if state.eof {
                    "tether exited"
                } else {
                    "timed out"
                };
                let tail = state.raw.len().saturating_sub(3000);
                panic!(
                    "{why} waiting for {what}\n--- screen ---\n{}\n--- output (last bytes) ---\n{}\n---",
                    state.parser.screen().contents(),
                    escaped(&state.raw[tail..])
                );
            }
            state = changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits for `needle` in the printed text (escape sequences removed) after the text mark;
    /// returns the text from the mark to the end of the match and moves the mark there.
    #[track_caller]
    pub fn expect(&mut self, needle: &str) -> String {
        let from = self.text_mark;
        let (end, seen) = self.wait(&format!("the text {needle:?}"), |s| {
            let hay = &s.text[from.min(s.text.len())..];
            find(hay, needle.as_bytes()).map(|at| {
                let end = from + at + needle.len();
                (
                    end,
                    String::from_utf8_lossy(&s.text[from..end]).into_owned(),
                )
            })
        });
        self.text_mark = end;
        seen
    }

    /// Waits for `needle` in the raw output (escape sequences included) after the raw mark;
    /// returns the bytes from the mark to the end of the match and moves the mark there.
    #[track_caller]
    pub fn expect_raw(&mut self, needle: &[u8]) -> Vec<u8> {
        let from = self.raw_mark;
        let (end, seen) = self.wait(&format!("the bytes \"{}\"", escaped(needle)), |s| {
            let hay = &s.raw[from.min(s.raw.len())..];
            find(hay, needle).map(|at| {
                let end = from + at + needle.len();
                (end, s.raw[from..end].to_vec())
            })
        });
        self.raw_mark = end;
        seen
    }

    /// The raw output after the raw mark, now (nothing is awaited, the mark stays).
    pub fn raw_since_mark(&self) -> Vec<u8> {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        state.raw[self.raw_mark.min(state.raw.len())..].to_vec()
    }

    /// The text output after the text mark, now (nothing is awaited, the mark stays).
    pub fn text_since_mark(&self) -> String {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&state.text[self.text_mark.min(state.text.len())..]).into_owned()
    }

    /// Waits until the screen satisfies `check`.
    #[track_caller]
    pub fn wait_screen(&self, what: &str, check: impl Fn(&vt100::Screen) -> bool) {
        self.wait(what, |s| check(s.parser.screen()).then_some(()));
    }

    /// The titles and clipboard writes the terminal was asked for so far.
    pub fn requests(&self) -> Requests {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        state.parser.callbacks().clone()
    }

    /// What the screen shows now, row by row.
    pub fn screen(&self) -> String {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        state.parser.screen().contents()
    }

    /// The row of the screen the cursor is on, now.
    pub fn cursor_row(&self) -> String {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        cursor_row(state.parser.screen())
    }

    /// Waits for an empty input line after `indicator` (`"› "`, `"[I] › "`, …): the row the
    /// cursor is on starts with it, and the cursor stands right after it.
    #[track_caller]
    pub fn expect_prompt(&self, indicator: &str) {
        let width = indicator.chars().count() as u16;
        self.wait(&format!("an empty prompt {indicator:?}"), |s| {
            let screen = s.parser.screen();
            (cursor_row(screen).starts_with(indicator) && screen.cursor_position().1 == width)
                .then_some(())
        });
    }

    /// Waits (at most [`PTY_TIMEOUT`]) for tether to exit, and returns how it did.
    #[track_caller]
    pub fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for tether") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "tether did not exit within {:?}\n--- screen ---\n{}",
                    self.timeout,
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The row of `screen` the cursor is on.
pub fn cursor_row(screen: &vt100::Screen) -> String {
    let (row, _) = screen.cursor_position();
    screen
        .rows(0, screen.size().1)
        .nth(usize::from(row))
        .unwrap_or_default()
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escapes() {
        assert_eq!(
            strip_ansi("\x1b[1;36mtether\x1b[0m 0.1\r\n\x1b]52;c;aGk=\x07x\x1b(By\x1b]0;t\x1b\\z"),
            "tether 0.1\nxyz"
        );
    }

    #[test]
    fn answers_cursor_queries_split_across_chunks() {
        let mut s = Shared {
            raw: Vec::new(),
            text: Vec::new(),
            stripper: Stripper::default(),
            parser: vt100::Parser::new_with_callbacks(10, 20, 0, Requests::default()),
            query: 0,
            eof: false,
        };
        let mut answers = Vec::new();
        s.feed(b"ab\r\ncd\x1b[", &mut |a| answers.push(a.to_vec()));
        assert!(answers.is_empty());
        s.feed(b"6nef", &mut |a| answers.push(a.to_vec()));
        assert_eq!(answers, [b"\x1b[2;3R".to_vec()]);
        assert_eq!(String::from_utf8_lossy(&s.text), "ab\ncdef");
    }

    #[test]
    fn finds_bytes() {
        assert_eq!(find(b"hello", b"ll"), Some(2));
        assert_eq!(find(b"hello", b"lo!"), None);
    }
}
