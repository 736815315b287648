//! Everything the session reports, in order. The terminal renders it; the bridge will publish it
//! as events; tests collect it.

use std::path::PathBuf;

use tether_protocol::Origin;

use crate::approvals::Resolution;
use crate::engine::permission::PermissionQuestion;
use crate::preferences::Preferences;
use crate::usage::TurnUsage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A user turn was accepted, with where it was typed.
    User {
        text: String,
        origin: Origin,
    },
    AssistantStart {
        message_id: String,
    },
    AssistantDelta {
        message_id: String,
        text: String,
    },
    AssistantEnd {
        message_id: String,
        text: String,
        usage: TurnUsage,
        /// The user stopped the reply (Ctrl-C, a client's Stop); never set by a failure.
        interrupted: bool,
    },
    /// A turn failed before any reply arrived. The user's message (`text`) was taken back out
    /// of the conversation, so that it is not sent again with the next one; surfaces show
    /// `error` (what went wrong, and that the message was not sent) and offer to send `text`
    /// again. No [`Output::AssistantEnd`] follows the turn's `AssistantStart`.
    TurnFailed {
        text: String,
        origin: Origin,
        error: String,
    },
    /// What a slash command printed (including a refusal by the gate).
    Command {
        command: String,
        text: String,
        format: Format,
    },
    /// A `/btw` note.
    Note(String),
    /// Something went wrong; the session carries on.
    Error(String),
    /// A short confirmation or hint from tether itself.
    Info(String),
    /// Something is slow or degraded (the provider is rate limiting, say); the turn goes on.
    /// Unlike [`Output::Info`], print mode shows it on stderr, away from the answer.
    Warning(String),
    /// The conversation was cleared: surfaces may clear their screen.
    Cleared,
    PreferencesChanged(Preferences),
    /// Put this on the clipboard of the terminal's user (OSC 52).
    Clipboard(String),
    /// Open this URL in the terminal machine's browser.
    OpenUrl(String),
    /// Open this file in the terminal user's editor.
    OpenEditor(PathBuf),
    /// The installed commands changed (completion menus should refresh).
    CommandsChanged,
    /// The agent asks whether it may use a tool; any surface may answer
    /// ([`Session::approvals`](crate::Session::approvals)).
    PermissionRequest(PermissionQuestion),
    /// A request stopped waiting: answered (by whom), withdrawn, or cancelled with the turn.
    PermissionResolved {
        request_id: String,
        resolution: Resolution,
    },
}

/// Where output goes. A `Vec<Output>` is a sink, which is what tests use.
pub trait Sink {
    fn emit(&mut self, output: Output);
}

impl Sink for Vec<Output> {
    fn emit(&mut self, output: Output) {
        self.push(output);
    }
}
