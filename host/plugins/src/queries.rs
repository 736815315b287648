//! What a command can ask the host. The session answers; the runtime checks capabilities first.

use tether_protocol::{CommandInfo, gate::Context};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    pub remote_mode: bool,
    pub session_id: Option<String>,
    pub url: Option<String>,
    pub engine: String,
    pub model: String,
    pub cwd: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micros: u64,
    pub turns: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    Note,
    Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppLink {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub theme: String,
    pub themes: Vec<String>,
    pub color: String,
    pub colors: Vec<String>,
    pub vim: bool,
    pub plan_mode: bool,
    pub statusline: bool,
    pub app_links: Vec<AppLink>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    pub path: String,
    pub bytes: u64,
}

/// Answers a command's read-only queries. Implemented by the session; a call holds it only for
/// its own duration.
pub trait HostQueries: Send + Sync {
    fn session(&self) -> SessionInfo;
    fn usage(&self) -> TokenUsage;
    /// The last `limit` messages, oldest first.
    fn transcript(&self, limit: usize) -> Vec<Message>;
    fn preferences(&self) -> Preferences;
    /// The commands available in `context`, as the gate and policy decide.
    fn commands(&self, context: Context) -> Vec<CommandInfo>;
    fn files(&self) -> Vec<ContextFile>;
}

/// Answers nothing: used while reading a manifest, when no capability is in force.
pub(crate) struct NoQueries;

impl HostQueries for NoQueries {
    fn session(&self) -> SessionInfo {
        SessionInfo::default()
    }
    fn usage(&self) -> TokenUsage {
        TokenUsage::default()
    }
    fn transcript(&self, _limit: usize) -> Vec<Message> {
        Vec::new()
    }
    fn preferences(&self) -> Preferences {
        Preferences::default()
    }
    fn commands(&self, _context: Context) -> Vec<CommandInfo> {
        Vec::new()
    }
    fn files(&self) -> Vec<ContextFile> {
        Vec::new()
    }
}
