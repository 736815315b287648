//! What every command shares: the directories, the plugin runtime, the loaded commands, the
//! engine. A first start compiles the stock plugins for this machine and says so, instead of
//! hanging silently.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use tether_engines::Engine;
use tether_plugins::policy::{self, Mode, Policy};
use tether_plugins::{LoadProgress, Runtime, RuntimeOptions};
use tether_session::preferences::Stored;
use tether_session::user_plugins::UserPlugins;
use tether_session::{Dirs, Preferences, Registry, Session, SessionConfig};

use crate::args::Args;

pub struct Loaded {
    pub dirs: Dirs,
    pub runtime: Arc<Runtime>,
    pub registry: Registry,
    /// Problems that did not stop the start: shown once, then the session goes on.
    pub warnings: Vec<String>,
}

pub fn runtime(dirs: &Dirs) -> Result<Arc<Runtime>> {
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(dirs.components()),
        key_file: Some(dirs.cache_key()),
    })
    .context("starting the plugin runtime")?;
    Ok(Arc::new(runtime))
}

pub fn load() -> Result<Loaded> {
    load_for(Mode::Local)
}

/// The administrator's policy: `/etc/tether/policy.toml`, narrowed further by the file
/// `TETHER_POLICY` names.
pub fn policy() -> Result<Policy, policy::Unusable> {
    policy::load(&policy::paths(
        std::env::var_os("TETHER_POLICY").map(Into::into),
    ))
}

/// What [`load`] does, for a session in `mode`, under the administrator's policy. An unusable
/// policy never fails open: a remote session refuses to start, a local one loads the stock
/// commands only and says why.
pub fn load_for(mode: Mode) -> Result<Loaded> {
    let dirs = Dirs::from_env().map_err(anyhow::Error::msg)?;
    let mut warnings = Vec::new();
    let policy = match (policy(), mode) {
        (Ok(policy), _) => policy,
        (Err(e), Mode::Remote) => {
            return Err(anyhow::anyhow!(
                "{e}\nRemote mode does not start without a valid policy; ask the administrator to fix it."
            ));
        }
        (Err(e), Mode::Local) => {
            warnings.push(format!(
                "{e}; only the stock commands are loaded, and @ mentions read no files, until it is fixed"
            ));
            // The broken file may be the one that forbids mentions, so they fail closed too.
            Policy::new(vec![policy::PolicyFile {
                user_plugins: policy::file::UserPlugins::Deny,
                mentions: policy::file::MentionsSection {
                    read_files: policy::file::ReadFiles::Deny,
                },
                ..Default::default()
            }])
        }
    };
    let runtime = runtime(&dirs)?;
    let user = UserPlugins::new(dirs.user_plugins());
    let mut progress = Progress::new();
    let (registry, more) =
        Registry::load_with(&runtime, &user, policy, mode, &mut |p| progress.report(p));
    warnings.extend(more);
    Ok(Loaded {
        dirs,
        runtime,
        registry,
        warnings,
    })
}

pub fn preferences(dirs: &Dirs, warnings: &mut Vec<String>) -> Preferences {
    let (prefs, warning) = Preferences::load(&dirs.preferences());
    warnings.extend(warning);
    prefs
}

/// The session the terminal drives, over what [`load`] found.
pub fn session(loaded: Loaded, engine: Arc<dyn Engine>, prefs: Preferences) -> Result<Session> {
    session_with(loaded, engine, prefs, None)
}

/// The same, published (`--remote`) when `remote` is given.
pub fn session_with(
    loaded: Loaded,
    engine: Arc<dyn Engine>,
    prefs: Preferences,
    remote: Option<tether_session::RemoteInfo>,
) -> Result<Session> {
    let config = SessionConfig {
        dirs: loaded.dirs,
        cwd: std::env::current_dir().context("reading the current directory")?,
        version: env!("CARGO_PKG_VERSION").to_string(),
        limits: Default::default(),
        remote,
        app_links: loaded.registry.policy().app_links(),
    };
    Ok(Session::new(
        config,
        loaded.runtime,
        loaded.registry,
        engine,
        prefs,
    ))
}

/// The engine the command line, config.toml and the environment choose (see `engines`).
pub fn engine(args: &Args, dirs: &Dirs) -> Result<crate::engines::Chosen> {
    crate::engines::build(&args.engine, dirs)
}

/// Shows compile progress on stderr: a live counter on a terminal, two lines otherwise.
struct Progress {
    tty: bool,
    started: Option<Instant>,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            started: None,
        }
    }

    fn report(&mut self, p: LoadProgress) {
        let mut err = std::io::stderr().lock();
        match p {
            LoadProgress::CompileStarted { count } => {
                self.started = Some(Instant::now());
                if !self.tty {
                    let what = match count {
                        Some(1) => "1 plugin".to_string(),
                        Some(n) => format!("{n} plugins"),
                        None => "plugins".to_string(),
                    };
                    let _ = writeln!(
                        err,
                        "tether: compiling {what} for this machine (cached afterwards)…"
                    );
                }
            }
            LoadProgress::Compiled { done, count, label } if self.tty => {
                let _ = write!(
                    err,
                    "\r\x1b[2Kcompiling plugins for this machine: {done}/{count} ({label})"
                );
                let _ = err.flush();
            }
            LoadProgress::Compiled { .. } => {}
            LoadProgress::Finished => {
                let secs = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
                if self.tty {
                    let _ = write!(err, "\r\x1b[2K");
                }
                let _ = writeln!(err, "tether: plugins compiled in {secs:.1} s");
            }
        }
    }
}
