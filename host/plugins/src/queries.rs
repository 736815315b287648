//! What a command can ask the host. The session answers; the runtime checks capabilities first.
//!
//! These are the host's own types, independent of any WIT version, and the session keeps its
//! state in them ([`Usage`], [`Preferences`], [`ContextFile`]), so that each is defined once.

use serde::{Deserialize, Serialize};
use tether_protocol::CommandInfo;

/// The session a command runs in (capability `session`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// Whether the session was started with `--remote`.
    pub remote_mode: bool,
    /// The relay's id of a published session.
    pub session_id: Option<String>,
    /// Where a published session can be reached.
    pub url: Option<String>,
    /// The model provider's name.
    pub engine: String,
    /// The model in use.
    pub model: String,
    /// The session's working directory.
    pub cwd: String,
    /// tether's version.
    pub version: String,
}

/// Tokens and cost, summed over the session's turns (capability `usage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Every input token, cached or not.
    pub input_tokens: u64,
    /// Every token the model produced.
    pub output_tokens: u64,
    /// The cost in millionths of a US dollar.
    pub cost_micros: u64,
    /// How many turns were counted.
    pub turns: u32,
}

impl Usage {
    /// Input and output together, as the status line shows them.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// Who wrote a transcript message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The person at the terminal or a remote client.
    User,
    /// The model.
    Assistant,
    /// A note added without asking the model (`/btw`).
    Note,
    /// A slash command's output (and summaries).
    Command,
}

/// One transcript message (capability `transcript`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text, as shown.
    pub text: String,
}

/// A link to an app that can reach the session, from the administrator's policy (for `/mobile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppLink {
    /// What the link is called on screen.
    pub label: String,
    /// Where it points.
    pub url: String,
}

/// How the session looks and behaves. The session persists it (`preferences.toml`, all but plan
/// mode) and commands read it through [`Settings`]. The defaults are the first of the session's
/// themes and colours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Preferences {
    /// The terminal colour theme.
    pub theme: String,
    /// The colour of the model's replies.
    pub color: String,
    /// vi key bindings instead of emacs ones.
    pub vim: bool,
    /// Whether the status line is shown.
    pub statusline: bool,
    /// Not persisted: plan mode is a property of one conversation.
    #[serde(skip)]
    pub plan_mode: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            theme: "dark".to_string(),
            color: "default".to_string(),
            vim: false,
            statusline: false,
            plan_mode: false,
        }
    }
}

/// What a command sees of the settings (capability `settings`): the preferences in force and the
/// choices it may offer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The current values.
    pub preferences: Preferences,
    /// Every theme `/theme` may set.
    pub themes: Vec<String>,
    /// Every colour `/color` may set.
    pub colors: Vec<String>,
    /// The administrator's app links.
    pub app_links: Vec<AppLink>,
}

/// A file the user put into context with an `@` mention, as read when it was mentioned
/// (capability `files`; commands see its path and size, never its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// As the user wrote it.
    pub path: String,
    /// The file's text.
    pub content: String,
}

/// Answers a command's read-only queries. Implemented by the session; a call holds it only for
/// its own duration.
pub trait HostQueries: Send + Sync {
    /// The session the command runs in.
    fn session(&self) -> SessionInfo;
    /// Usage and cost so far.
    fn usage(&self) -> Usage;
    /// The last `limit` messages, oldest first.
    fn transcript(&self, limit: usize) -> Vec<Message>;
    /// The preferences and the choices a command may offer.
    fn settings(&self) -> Settings;
    /// The commands available where this one was invoked, as the gate and policy decide.
    fn commands(&self) -> Vec<CommandInfo>;
    /// The files in context.
    fn files(&self) -> Vec<ContextFile>;
}

/// Answers nothing: used while reading a manifest, when no capability is in force.
pub(crate) struct NoQueries;

impl HostQueries for NoQueries {
    fn session(&self) -> SessionInfo {
        SessionInfo::default()
    }
    fn usage(&self) -> Usage {
        Usage::default()
    }
    fn transcript(&self, _limit: usize) -> Vec<Message> {
        Vec::new()
    }
    fn settings(&self) -> Settings {
        Settings::default()
    }
    fn commands(&self) -> Vec<CommandInfo> {
        Vec::new()
    }
    fn files(&self) -> Vec<ContextFile> {
        Vec::new()
    }
}
