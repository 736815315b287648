//! What a command may read, captured for the duration of one call. Only the declared (and
//! granted) capabilities are filled in, so a command that asks for nothing costs nothing.

use tether_plugins::{ContextFile, HostQueries, Message, SessionInfo, Settings, Usage};
use tether_protocol::{Capabilities, Capability, CommandInfo};

#[derive(Default)]
pub(crate) struct Snapshot {
    pub session: SessionInfo,
    pub usage: Usage,
    pub transcript: Vec<Message>,
    pub settings: Settings,
    pub commands: Vec<CommandInfo>,
    pub files: Vec<ContextFile>,
}

/// Fills a snapshot through `fill`, called once per capability in `wanted`.
pub(crate) fn capture(
    wanted: Capabilities,
    mut fill: impl FnMut(Capability, &mut Snapshot),
) -> Snapshot {
    let mut s = Snapshot::default();
    for capability in wanted.iter() {
        fill(capability, &mut s);
    }
    s
}

impl HostQueries for Snapshot {
    fn session(&self) -> SessionInfo {
        self.session.clone()
    }
    fn usage(&self) -> Usage {
        self.usage
    }
    fn transcript(&self, limit: usize) -> Vec<Message> {
        let skip = self.transcript.len().saturating_sub(limit);
        self.transcript[skip..].to_vec()
    }
    fn settings(&self) -> Settings {
        self.settings.clone()
    }
    fn commands(&self) -> Vec<CommandInfo> {
        // Captured for the invocation's own context.
        self.commands.clone()
    }
    fn files(&self) -> Vec<ContextFile> {
        self.files.clone()
    }
}
