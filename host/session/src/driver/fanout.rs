//! Where a turn's outputs go: the terminal draws each, the publisher (when the session is
//! published) gets it as a typed payload and the worker state it implies, and what the driver
//! must act on after the turn is noted.

use tether_protocol::{Origin, Payload};

use super::Publisher;
use super::rules::state_after;
use crate::approvals::Approvals;
use crate::output::{Output, Sink};
use crate::preferences::Preferences;
use crate::wire;

/// The driver's own sink during a turn: the terminal draws, the publisher publishes, and what
/// the driver must know afterwards is noted.
pub(super) struct Fanout<'a> {
    pub(super) terminal: &'a mut dyn Sink,
    /// The event that carries the turn's message: the client's, or the terminal's once published.
    pub(super) event: Option<String>,
    pub(super) publisher: Option<&'a dyn Publisher>,
    pub(super) approvals: &'a Approvals,
    /// URLs to open once pending events are delivered (`/desktop` hands over the session).
    pub(super) open: Vec<String>,
    /// The terminal's message of a turn that failed before any reply.
    pub(super) unsent: Option<String>,
    pub(super) commands_changed: bool,
    pub(super) preferences: Option<Preferences>,
    /// `/session revoke` asked for a new session key.
    pub(super) new_key: bool,
}

impl Sink for Fanout<'_> {
    fn emit(&mut self, output: Output) {
        if let Some(publisher) = self.publisher {
            if let Some(mut payload) = wire::publication_for(&output) {
                if let Payload::CommandOutput(o) = &mut payload
                    && o.unsent.is_some()
                {
                    o.unsent_id = self.event.clone();
                }
                let id = publisher.publish(payload);
                if let Output::User {
                    origin: Origin::Terminal,
                    ..
                } = output
                {
                    self.event = Some(id);
                }
            }
            // Only a resolution asks whether others still wait; every delta passes here.
            let waiting = matches!(output, Output::PermissionResolved { .. })
                && !self.approvals.pending().is_empty();
            if let Some((state, details)) = state_after(&output, waiting) {
                publisher.state(state, details);
            }
        }
        match &output {
            Output::TurnFailed {
                text,
                origin: Origin::Terminal,
                ..
            } => self.unsent = Some(text.clone()),
            Output::CommandsChanged => self.commands_changed = true,
            Output::NewSessionKey => self.new_key = true,
            Output::PreferencesChanged(p) => self.preferences = Some(p.clone()),
            _ => {}
        }
        match output {
            Output::OpenUrl(url) if self.publisher.is_some() => self.open.push(url),
            // The driver acts on it after the turn; no surface draws it.
            Output::NewSessionKey => {}
            other => self.terminal.emit(other),
        }
    }
}
