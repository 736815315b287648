//! The administrator's policy: which plugins load in remote mode, which builds are allowed
//! (pinned by SHA-256), which host capabilities each may use, lower limits, bridge safety
//! narrowed, and app links for `/mobile`. It is read before any plugin is loaded.
//!
//! - [`file`](mod@file): the TOML an administrator writes (`/etc/tether/policy.toml`), strictly
//!   checked;
//! - [`rules`]: what it decides, as pure functions;
//! - this module: finding and reading the files, and failing closed when one is unreadable.

pub mod file;
pub mod rules;

use std::path::{Path, PathBuf};

pub use file::{PolicyError, PolicyFile};
pub use rules::{Identity, Mode, Policy, Refusal};

/// Where the system's policy lives.
pub const SYSTEM_PATH: &str = "/etc/tether/policy.toml";

/// The policy files in force: the system's, and the one `TETHER_POLICY` names (which adds to
/// it: a policy can only narrow, so a user's variable cannot undo the system's).
pub fn paths(tether_policy: Option<PathBuf>) -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from(SYSTEM_PATH)];
    if let Some(extra) = tether_policy.filter(|p| !p.as_os_str().is_empty())
        && extra != Path::new(SYSTEM_PATH)
    {
        paths.push(extra);
    }
    paths
}

/// A policy file that exists but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the administrator's policy {} {problem}", path.display())]
pub struct Unusable {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

/// Reads every file of `paths` that exists. A missing file is no policy; one that exists but
/// cannot be read or parsed is an error, never ignored: the caller refuses to start (remote
/// mode) or loads only the stock commands (local mode).
pub fn load(paths: &[PathBuf]) -> Result<Policy, Unusable> {
    let mut files = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Unusable {
                    path: path.clone(),
                    problem: format!("cannot be read: {e}"),
                });
            }
        };
        let file = PolicyFile::parse(&text).map_err(|e| Unusable {
            path: path.clone(),
            problem: format!("is not valid: {e}"),
        })?;
        files.push(file);
    }
    Ok(Policy::new(files))
}

#[cfg(test)]
mod tests;
