//! What a policy decides, as pure functions of the policy and a plugin's identity, so that
//! every combination can be tested without loading anything. Several policies (the system's,
//! and one named by `TETHER_POLICY`) combine by agreement: a plugin loads only where all of
//! them let it, gets only what all of them grant, and the lowest limits. So adding a policy can
//! only narrow what tether does; no file, variable or user setting can widen it.

use tether_protocol::{Capabilities, CommandSource, Safety};

use super::file::{PolicyFile, ReadFiles, UserPlugins};
use crate::limits::Limits;

/// Where the session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An unpublished session.
    Local,
    /// A session started with `--remote`.
    Remote,
}

/// A plugin as the policy sees it before loading: its name (the stock crate's, or the user
/// plugin file's), where it comes from and the SHA-256 of its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// The command's (or plugin file's) name.
    pub name: &'a str,
    /// Stock or user-installed.
    pub source: CommandSource,
    /// The SHA-256 of its bytes, in hex.
    pub sha256: &'a str,
}

/// Why a plugin is not loaded. Each says what an administrator decided, for the message the
/// user sees and for `tether policy check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `[remote] deny` lists it.
    DeniedInRemote,
    /// `[remote] allow` is given and does not list it.
    NotAllowedInRemote,
    /// `user_plugins = "deny"`.
    UserPluginsDenied,
    /// `user_plugins = "local-only"` in a remote session.
    UserPluginsLocalOnly,
    /// `[plugins.<name>] sha256` names another build.
    PinMismatch {
        /// The pinned SHA-256.
        expected: String,
        /// The plugin's.
        actual: String,
    },
}

impl Refusal {
    /// The refusal in words, naming the policy setting that decided it.
    pub fn reason(&self) -> String {
        match self {
            Refusal::DeniedInRemote => "denied in remote mode by the policy ([remote] deny)".into(),
            Refusal::NotAllowedInRemote => {
                "not in the policy's remote allowlist ([remote] allow)".into()
            }
            Refusal::UserPluginsDenied => {
                "user-installed plugins are disabled by the policy (user_plugins = \"deny\")".into()
            }
            Refusal::UserPluginsLocalOnly => {
                "user-installed plugins are disabled in remote mode by the policy (user_plugins = \"local-only\")".into()
            }
            Refusal::PinMismatch { expected, actual } => format!(
                "its SHA-256 is {actual}, but the policy pins {expected}"
            ),
        }
    }
}

/// Every policy in force (none: tether's own rules only).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    files: Vec<PolicyFile>,
}

impl Policy {
    /// The policy made of `files`, all in force at once.
    pub fn new(files: Vec<PolicyFile>) -> Policy {
        Policy { files }
    }

    /// The files it is made of.
    pub fn files(&self) -> &[PolicyFile] {
        &self.files
    }

    /// Whether `plugin` may be loaded at all in `mode`: the first refusal, if any.
    pub fn admit(&self, plugin: Identity<'_>, mode: Mode) -> Result<(), Refusal> {
        for file in &self.files {
            admit_one(file, plugin, mode)?;
        }
        Ok(())
    }

    /// Whether a loaded plugin may stay, by the names its manifest declares: its name decides
    /// (rules are written for a command's name), and denying any of its aliases in remote mode
    /// denies it too, so that `deny = ["quit"]` is not undone by `/exit`.
    pub fn admit_declared(
        &self,
        name: &str,
        aliases: &[String],
        source: CommandSource,
        sha256: &str,
        mode: Mode,
    ) -> Result<(), Refusal> {
        self.admit(
            Identity {
                name,
                source,
                sha256,
            },
            mode,
        )?;
        let alias_denied = mode == Mode::Remote
            && self
                .files
                .iter()
                .any(|f| aliases.iter().any(|a| f.remote.deny.contains(a)));
        if alias_denied {
            return Err(Refusal::DeniedInRemote);
        }
        Ok(())
    }

    /// The capabilities `name` may use: what every policy grants.
    pub fn capabilities(&self, name: &str) -> Capabilities {
        self.files
            .iter()
            .fold(Capabilities::all(), |granted, file| {
                let Some(rules) = file.plugins.get(name) else {
                    return granted;
                };
                let mut allowed = match &rules.capabilities {
                    Some(list) => list.iter().copied().collect(),
                    None => Capabilities::all(),
                };
                for denied in &rules.deny_capabilities {
                    allowed = allowed.without(*denied);
                }
                granted.intersect(allowed)
            })
    }

    /// `base` lowered by every policy's limits, general and for `name`.
    pub fn limits(&self, name: &str, base: Limits) -> Limits {
        self.files.iter().fold(base, |limits, file| {
            let general = lower(limits, &file.limits);
            match file.plugins.get(name) {
                Some(rules) => lower(general, &rules.limits),
                None => general,
            }
        })
    }

    /// The plugin's own safety, narrowed: `terminal_only` takes bridge safety away. A policy
    /// never makes a command safer than its author declared.
    pub fn safety(&self, name: &str, declared: Safety) -> Safety {
        let terminal_only = self
            .files
            .iter()
            .any(|f| f.plugins.get(name).is_some_and(|r| r.terminal_only));
        Safety {
            remote_safe: declared.remote_safe,
            bridge_safe: declared.bridge_safe && !terminal_only,
        }
    }

    /// How `@path` mentions may read files: the strictest any policy says.
    pub fn read_files(&self) -> ReadFiles {
        self.files
            .iter()
            .map(|f| f.mentions.read_files)
            .max()
            .unwrap_or_default()
    }

    /// Whether the local user's `@path` mentions may read files in a session in `mode`, and if
    /// not, why, as the user is told.
    pub fn mentions_read_files(&self, mode: Mode) -> Result<(), String> {
        let rule = self.read_files();
        let forbidden_here = match rule {
            ReadFiles::Allow => return Ok(()),
            ReadFiles::LocalOnly if mode == Mode::Local => return Ok(()),
            ReadFiles::LocalOnly => " in remote sessions",
            ReadFiles::Deny => "",
        };
        Err(format!(
            "the administrator's policy does not allow @ file mentions{forbidden_here} ([mentions] read_files = \"{}\")",
            rule.as_str()
        ))
    }

    /// The app links for `/mobile`, from every policy.
    pub fn app_links(&self) -> Vec<crate::AppLink> {
        self.files
            .iter()
            .flat_map(|f| &f.app_links)
            .map(|l| crate::AppLink {
                label: l.label.clone(),
                url: l.url.clone(),
            })
            .collect()
    }
}

fn admit_one(file: &PolicyFile, plugin: Identity<'_>, mode: Mode) -> Result<(), Refusal> {
    if let Some(expected) = file
        .plugins
        .get(plugin.name)
        .and_then(|r| r.sha256.as_ref())
        && !expected.eq_ignore_ascii_case(plugin.sha256)
    {
        return Err(Refusal::PinMismatch {
            expected: expected.to_ascii_lowercase(),
            actual: plugin.sha256.to_ascii_lowercase(),
        });
    }
    if plugin.source == CommandSource::User {
        match (file.user_plugins, mode) {
            (UserPlugins::Deny, _) => return Err(Refusal::UserPluginsDenied),
            (UserPlugins::LocalOnly, Mode::Remote) => return Err(Refusal::UserPluginsLocalOnly),
            _ => {}
        }
    }
    if mode == Mode::Remote {
        if file.remote.deny.iter().any(|d| d == plugin.name) {
            return Err(Refusal::DeniedInRemote);
        }
        if let Some(allow) = &file.remote.allow
            && !allow.iter().any(|a| a == plugin.name)
        {
            return Err(Refusal::NotAllowedInRemote);
        }
    }
    Ok(())
}

fn lower(limits: Limits, section: &super::file::LimitsSection) -> Limits {
    let mut lowered = limits;
    if let Some(mib) = section.memory_mib {
        lowered.memory_bytes = usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    }
    if let Some(ms) = section.timeout_ms {
        lowered.call_timeout = std::time::Duration::from_millis(ms);
    }
    if let Some(kib) = section.output_kib {
        lowered.output_bytes = usize::try_from(kib.saturating_mul(1 << 10)).unwrap_or(usize::MAX);
    }
    // Never above what was there: a policy that names a higher limit changes nothing.
    limits.min(lowered)
}
