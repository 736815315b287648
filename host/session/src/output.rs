//! Everything the session reports, in order. The terminal renders it; the bridge will publish it
//! as events; tests collect it.

use std::path::PathBuf;

use tether_protocol::Origin;

use crate::approvals::Resolution;
use crate::preferences::Preferences;
use crate::usage::TurnUsage;
use tether_engines::permission::PermissionQuestion;

/// How a command's text is meant to be shown; also the `format` of `command_output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Printed as is.
    Text,
    /// Rendered as Markdown.
    Markdown,
}

/// One thing that happened in the session, in order, for every surface to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A user turn was accepted, with where it was typed.
    User {
        /// What the user sent.
        text: String,
        /// Where it was typed; the bridge republishes only terminal messages.
        origin: Origin,
    },
    /// A reply begins (the terminal opens its line); nothing is published for it.
    AssistantStart {
        /// The id this reply's deltas and end carry (a fresh UUID per reply).
        message_id: String,
    },
    /// A piece of the reply while it streams.
    AssistantDelta {
        /// The reply's id, as in [`Output::AssistantStart`].
        message_id: String,
        /// The new text only, to append to what came before.
        text: String,
    },
    /// The reply is complete.
    AssistantEnd {
        /// The reply's id, as in [`Output::AssistantStart`].
        message_id: String,
        /// The whole reply; it replaces the concatenated deltas.
        text: String,
        /// Tokens this turn used.
        usage: TurnUsage,
        /// The user stopped the reply (Ctrl-C, a client's Stop); never set by a failure.
        interrupted: bool,
    },
    /// A turn failed before any reply arrived. The user's message (`text`) was taken back out
    /// of the conversation, so that it is not sent again with the next one; surfaces show
    /// `error` (what went wrong, and that the message was not sent) and offer to send `text`
    /// again. No [`Output::AssistantEnd`] follows the turn's `AssistantStart`.
    TurnFailed {
        /// The message taken back, for the surface to offer again.
        text: String,
        /// Where it was typed.
        origin: Origin,
        /// Why the turn failed, followed by the sentence saying the message was not sent.
        error: String,
    },
    /// What a slash command printed (including a refusal by the gate).
    Command {
        /// The command's name, without the slash.
        command: String,
        /// What it printed.
        text: String,
        /// How to show `text`.
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
    /// The preferences changed (by a command's effect); the terminal re-renders and saves them.
    PreferencesChanged(Preferences),
    /// Put this on the clipboard of the terminal's user (OSC 52).
    Clipboard(String),
    /// Open this URL in the terminal machine's browser.
    OpenUrl(String),
    /// Open this file in the terminal user's editor.
    OpenEditor(PathBuf),
    /// The installed commands changed (completion menus should refresh).
    CommandsChanged,
    /// Replace the published session's key (`/session revoke`): the driver makes a new
    /// generation through its publisher and shows the new code in the terminal only.
    NewSessionKey,
    /// The agent asks whether it may use a tool; any surface may answer
    /// ([`Session::approvals`](crate::Session::approvals)).
    PermissionRequest(PermissionQuestion),
    /// A request stopped waiting: answered (by whom), withdrawn, or cancelled with the turn.
    PermissionResolved {
        /// The request's id, as in its [`Output::PermissionRequest`].
        request_id: String,
        /// How it stopped waiting.
        resolution: Resolution,
    },
}

/// Where output goes. A `Vec<Output>` is a sink, which is what tests use.
pub trait Sink {
    /// Receives one output; called in the order the session produced them.
    fn emit(&mut self, output: Output);
}

impl Sink for Vec<Output> {
    fn emit(&mut self, output: Output) {
        self.push(output);
    }
}
