//! One isolated tether installation per test: its own `HOME`, XDG directories and working
//! directory in a temporary directory, and a cleared environment, so that nothing from the
//! developer's own setup leaks in and no two tests share state.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pty::Pty;
use crate::run::{Output, RUN_TIMEOUT, run_with_timeout, run_with_timeout_and_input};
use crate::tether_bin;
use crate::warm_cache::warm_cache;

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

    pub(crate) fn in_dir(base: PathBuf) -> Tether {
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
