//! What a slash command is, as far as the rules are concerned.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a command does. Mirrors `kind` in the WIT package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Runs and returns text and effects.
    Local,
    /// Needs the local terminal UI.
    Interactive,
    /// Expands to text sent to the model as a user turn.
    Prompt,
}

impl Kind {
    /// Every kind, for exhaustive tests and listings.
    pub const ALL: [Kind; 3] = [Kind::Local, Kind::Interactive, Kind::Prompt];

    /// The WIT and JSON spelling (`local`, `interactive`, `prompt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Local => "local",
            Kind::Interactive => "interactive",
            Kind::Prompt => "prompt",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two independent safety tags a command declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Safety {
    /// Available in a session started with `--remote`.
    pub remote_safe: bool,
    /// A `local` command that may run when it arrives over the bridge.
    pub bridge_safe: bool,
}

impl Safety {
    /// Every combination of the two tags, for exhaustive tests of the gate.
    pub const ALL: [Safety; 4] = [
        Safety {
            remote_safe: false,
            bridge_safe: false,
        },
        Safety {
            remote_safe: true,
            bridge_safe: false,
        },
        Safety {
            remote_safe: false,
            bridge_safe: true,
        },
        Safety {
            remote_safe: true,
            bridge_safe: true,
        },
    ];

    /// The tags both `self` and `other` grant: how a policy narrows a command's own tags.
    /// There is deliberately no union: nothing may widen what a command declared.
    pub fn narrowed_by(self, other: Safety) -> Safety {
        Safety {
            remote_safe: self.remote_safe && other.remote_safe,
            bridge_safe: self.bridge_safe && other.bridge_safe,
        }
    }
}

/// Where an invocation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Typed in the terminal that runs the session.
    Terminal,
    /// Sent by a remote client over the bridge.
    Bridge,
}

impl Origin {
    /// Both origins, for exhaustive tests.
    pub const ALL: [Origin; 2] = [Origin::Terminal, Origin::Bridge];

    /// The WIT and JSON spelling (`terminal`, `bridge`), also what `FromStr` reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Terminal => "terminal",
            Origin::Bridge => "bridge",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Origin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "terminal" => Ok(Origin::Terminal),
            "bridge" => Ok(Origin::Bridge),
            other => Err(format!(
                "unknown origin `{other}`: expected `terminal` or `bridge`"
            )),
        }
    }
}

/// Who provided a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandSource {
    /// Built into the tether binary.
    Stock,
    /// Installed by the user with `tether plugin install`.
    User,
}

impl CommandSource {
    /// The JSON spelling (`stock`, `user`), shown by `tether commands`.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandSource::Stock => "stock",
            CommandSource::User => "user",
        }
    }
}

impl fmt::Display for CommandSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a command name or alias: 1 to 32 characters of lowercase ASCII letters, digits and `-`,
/// starting with a letter. Names are typed on phone keyboards and shown in menus, so they stay
/// short and unambiguous.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 32 {
        return Err(format!(
            "command name `{name}` must be 1 to 32 characters long"
        ));
    }
    let mut chars = name.chars();
    let first = chars.next().expect("non-empty");
    if !first.is_ascii_lowercase() {
        return Err(format!(
            "command name `{name}` must start with a lowercase letter"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "command name `{name}` contains `{bad}`: only lowercase letters, digits and `-` are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "help", "release-notes", "x2", &"a".repeat(32)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Help",
            "2x",
            "-a",
            "a b",
            "a_b",
            "ä",
            "a/b",
            &"a".repeat(33),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn narrowing_never_widens() {
        for a in Safety::ALL {
            for b in Safety::ALL {
                let n = a.narrowed_by(b);
                assert!(!n.remote_safe || a.remote_safe);
                assert!(!n.bridge_safe || a.bridge_safe);
            }
        }
    }

    #[test]
    fn origin_parses() {
        assert_eq!("bridge".parse::<Origin>(), Ok(Origin::Bridge));
        assert!("phone".parse::<Origin>().unwrap_err().contains("phone"));
    }
}

/// A read-only host query family. Mirrors `capability` in the WIT package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// `host.session`: remote mode, session id and URL, engine, model, working directory.
    Session,
    /// `host.usage`: tokens and cost so far.
    Usage,
    /// `host.transcript`: the recent conversation.
    Transcript,
    /// `host.settings`: theme, colour, editing mode, plan mode, status line, app links.
    Settings,
    /// `host.commands`: the commands available where the command was invoked.
    Commands,
    /// `host.files`: the `@path` files in the conversation's context.
    Files,
}

impl Capability {
    /// Every capability, in bit order.
    pub const ALL: [Capability; 6] = [
        Capability::Session,
        Capability::Usage,
        Capability::Transcript,
        Capability::Settings,
        Capability::Commands,
        Capability::Files,
    ];

    /// The WIT and JSON spelling, as policies and manifests write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Session => "session",
            Capability::Usage => "usage",
            Capability::Transcript => "transcript",
            Capability::Settings => "settings",
            Capability::Commands => "commands",
            Capability::Files => "files",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of capabilities, `Copy` so that it can be checked on every host call for free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u8);

impl Capabilities {
    /// The empty set: what a command gets when nothing is declared or granted.
    pub const NONE: Capabilities = Capabilities(0);

    /// Every capability: the grant when no policy restricts a command.
    pub fn all() -> Capabilities {
        Capability::ALL.into_iter().collect()
    }

    /// Whether `capability` is in the set.
    pub fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    /// Adds `capability` to the set.
    pub fn insert(&mut self, capability: Capability) {
        self.0 |= capability.bit();
    }

    /// The set without `capability`.
    pub fn without(self, capability: Capability) -> Capabilities {
        Capabilities(self.0 & !capability.bit())
    }

    /// What both sets hold: declared ∩ granted.
    pub fn intersect(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 & other.0)
    }

    /// The capabilities in the set, in [`Capability::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = Capabilities::NONE;
        for c in iter {
            set.insert(c);
        }
        set
    }
}

/// A command as `tether commands --json`, `/help` and the bridge's `system_init` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandInfo {
    /// The name, without the slash.
    pub name: String,
    /// Other names that invoke the same command.
    pub aliases: Vec<String>,
    /// One line, shown in `/help` and in completion menus.
    pub description: String,
    /// What the argument looks like (`<text>`, `[on|off]`), for completion menus; `None` if it takes
    /// none.
    #[serde(default)]
    pub argument_hint: Option<String>,
    /// What the command does, which decides where it may run.
    pub kind: Kind,
    /// Whether it is listed and runs in a `--remote` session, after the policy narrowed it.
    pub remote_safe: bool,
    /// Whether it runs when it arrives over the bridge, after the policy narrowed it.
    pub bridge_safe: bool,
    /// Whether it is built in or installed by the user.
    pub source: CommandSource,
    /// Hex SHA-256 of the component's `.wasm` bytes, so a listing names exactly what runs.
    pub sha256: String,
    /// The host queries it declared, in manifest order.
    pub capabilities: Vec<Capability>,
}

#[cfg(test)]
mod capability_tests {
    use super::*;

    #[test]
    fn sets() {
        let declared: Capabilities = [Capability::Usage, Capability::Files].into_iter().collect();
        let granted: Capabilities = [Capability::Files, Capability::Session]
            .into_iter()
            .collect();
        let both = declared.intersect(granted);
        assert_eq!(both.iter().collect::<Vec<_>>(), [Capability::Files]);
        assert_eq!(Capabilities::all().iter().count(), Capability::ALL.len());
        for c in Capability::ALL {
            assert!(!Capabilities::NONE.contains(c));
        }
    }
}
