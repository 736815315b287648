//! The policy file as an administrator writes it. Every key is checked: an unknown one is an
//! error (a typo such as `alow` must not silently allow everything), and so is a value that
//! could only widen what tether allows anyway.

use std::collections::BTreeMap;

use serde::Deserialize;

use tether_protocol::Capability;

/// One policy file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Plugins the user installed: `allow` (the default), `local-only` (never in remote mode)
    /// or `deny` (never loaded).
    #[serde(default)]
    pub user_plugins: UserPlugins,
    /// Which plugins load in remote mode.
    #[serde(default)]
    pub remote: RemoteSection,
    /// Lower limits for every plugin.
    #[serde(default)]
    pub limits: LimitsSection,
    /// What `@path` mentions in the local user's messages may do.
    #[serde(default)]
    pub mentions: MentionsSection,
    /// Rules for one plugin, by command name.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginSection>,
    /// Extra links `/mobile` shows (the organisation's own app, say).
    #[serde(default)]
    pub app_links: Vec<AppLinkEntry>,
}

/// Whether plugins the user installed load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserPlugins {
    /// They load everywhere.
    #[default]
    Allow,
    /// In local sessions, never in remote mode.
    LocalOnly,
    /// Never.
    Deny,
}

/// `[remote]`: which plugins load in remote mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSection {
    /// When given, only these plugins load in remote mode.
    pub allow: Option<Vec<String>>,
    /// These plugins never load in remote mode.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// `[mentions]`: what `@path` mentions may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MentionsSection {
    /// Whether they read the mentioned file into the conversation's context.
    #[serde(default)]
    pub read_files: ReadFiles,
}

/// Whether mentions read files. Ordered from the most permissive to the strictest, so that
/// policies combine by taking the greatest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadFiles {
    /// In every session.
    #[default]
    Allow,
    /// In a local session, never in a remote one (`--remote`), where replies quoting a file
    /// reach phones and the relay.
    LocalOnly,
    /// Never.
    Deny,
}

impl ReadFiles {
    /// As an administrator writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadFiles::Allow => "allow",
            ReadFiles::LocalOnly => "local-only",
            ReadFiles::Deny => "deny",
        }
    }
}

/// Lower limits; each only applies if lower than tether's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Memory per instance, in MiB.
    pub memory_mib: Option<u64>,
    /// Time per call, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Text per call's effects, in KiB.
    pub output_kib: Option<u64>,
}

/// `[plugins.<name>]`: the rules for one plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    /// The component's SHA-256 (hex): any other build is refused.
    pub sha256: Option<String>,
    /// Grant only these host capabilities (of those the plugin declares).
    pub capabilities: Option<Vec<Capability>>,
    /// Never grant these.
    #[serde(default)]
    pub deny_capabilities: Vec<Capability>,
    /// Never run this command when it arrives over the bridge (from a phone or browser).
    #[serde(default)]
    pub terminal_only: bool,
    /// Lower limits for this plugin.
    #[serde(flatten)]
    pub limits: LimitsSection,
}

/// `[[app_links]]`: an extra link for `/mobile`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppLinkEntry {
    /// What the link is called on screen.
    pub label: String,
    /// Where it points.
    pub url: String,
}

/// Why a policy file was refused, with the place in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct PolicyError {
    /// The line it is on, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl PolicyFile {
    /// Parses and checks a policy file's text.
    pub fn parse(text: &str) -> Result<PolicyFile, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            PolicyError {
                line,
                message: e.message().trim_end().to_string(),
            }
        })?;
        file.check(text)?;
        Ok(file)
    }

    /// What serde cannot say: names that are not command names, hashes that are not SHA-256,
    /// limits of zero (which would disable a plugin in a confusing way), unsafe links.
    fn check(&self, text: &str) -> Result<(), PolicyError> {
        // The line of the first place `needle` is written, quoted or as a table name.
        let at = |needle: &str| {
            [
                format!("\"{needle}\""),
                format!("plugins.{needle}"),
                needle.to_string(),
            ]
            .iter()
            .filter(|n| !n.is_empty())
            .find_map(|n| text.find(n.as_str()))
            .map(|i| text[..i].matches('\n').count() + 1)
        };
        let fail = |needle: &str, message: String| PolicyError {
            line: at(needle),
            message,
        };
        let names = self
            .remote
            .allow
            .iter()
            .flatten()
            .chain(&self.remote.deny)
            .chain(self.plugins.keys());
        for name in names {
            if !is_command_name(name) {
                return Err(fail(
                    name,
                    format!(
                        "{name:?} is not a command name (a lower-case letter, then letters, digits and '-', without the slash)"
                    ),
                ));
            }
        }
        for (name, rules) in &self.plugins {
            if let Some(sha) = &rules.sha256
                && !(sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(fail(
                    sha,
                    format!(
                        "[plugins.{name}] sha256 must be 64 hexadecimal digits (as `tether plugin list --json` shows)"
                    ),
                ));
            }
            rules.limits.check(&format!("[plugins.{name}]"), &fail)?;
        }
        self.limits.check("[limits]", &fail)?;
        for link in &self.app_links {
            if !(link.url.starts_with("https://") || link.url.starts_with("http://"))
                || link.label.trim().is_empty()
            {
                return Err(fail(
                    &link.url,
                    format!("app_links: {:?} needs a label and an http(s) URL", link.url),
                ));
            }
        }
        Ok(())
    }
}

impl LimitsSection {
    fn check(
        &self,
        table: &str,
        fail: &dyn Fn(&str, String) -> PolicyError,
    ) -> Result<(), PolicyError> {
        for (key, value) in [
            ("memory_mib", self.memory_mib),
            ("timeout_ms", self.timeout_ms),
            ("output_kib", self.output_kib),
        ] {
            if value == Some(0) {
                return Err(fail(
                    key,
                    format!(
                        "{table} {key} must be at least 1 (to keep a plugin from loading, deny it)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A command's name as a manifest must declare it.
pub fn is_command_name(name: &str) -> bool {
    tether_protocol::command::validate_name(name).is_ok()
}
