//! The conversation loop every surface shares. The REPL, `tether -p`, piped standard input and
//! `--remote` are this one driver with different surfaces attached:
//!
//! - [`Input`]s arrive on one channel, from whatever the surfaces are (the line editor, standard
//!   input, the bridge, signals, a key reader) — so there is one `select!`, not one per mode;
//! - the terminal draws every [`Output`] (a [`Sink`]), and a [`Console`] is where it reads lines
//!   and asks permission questions;
//! - a [`Publisher`] (the bridge worker), when the session is published, gets every output as a
//!   typed [`Payload`] and the worker state.
//!
//! The driver owns what used to be spread across the modes: the queue (input that arrives while a
//! turn runs waits its turn, in order), the worker-state rule, the approvals (an answer typed at
//! the prompt, a client's `control_response`), and the prompt: while a question waits it is on
//! screen and answerable, and any other line typed meanwhile is queued and said to be.

//!
//! One file a part: the surfaces' side here (inputs and the traits a surface implements),
//! `rules.rs` (pure: what a client's event asks, the worker-state rule), `run.rs` (the loop),
//! `state.rs` (what inputs change, and the prompt), `fanout.rs` (where outputs go during a turn).

use std::future::Future;
use std::pin::Pin;

use tether_engines::PermissionAnswer;
use tether_engines::permission::PermissionQuestion;
use tether_protocol::api::WorkerState;
use tether_protocol::payload::{Payload, WaitingFor};

use crate::preferences::Preferences;
use crate::session::Session;

mod fanout;
mod rules;
mod run;
mod state;

pub use rules::{ClientAction, answer_from, client_action, state_after};
pub use run::Driver;

/// Everything that can happen to a conversation, from any surface.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A line typed at the terminal (or read from standard input).
    Line(String),
    /// An event a client published, with its id, from the bridge.
    Client {
        /// The event's id.
        id: String,
        /// What it says.
        payload: Payload,
    },
    /// Ctrl-C at the prompt: stop the reply that is running, if any.
    Interrupt,
    /// SIGINT: stop the reply that is running; with nothing running, end the session.
    Signal,
    /// A permission answer given at the terminal without a line (a key).
    Answer {
        /// The request answered.
        request_id: String,
        /// The answer.
        answer: PermissionAnswer,
    },
    /// The terminal will type nothing more, but clients may: keep serving them.
    InputClosed,
    /// The end of input (Ctrl-D, the end of a pipe): finish what is queued, then end.
    Eof,
    /// The terminal failed; finish what is queued, then end.
    Failed(String),
    /// SIGTERM: stop the reply that is running, finish what is queued, then end.
    Shutdown,
    /// Something the person must know that no turn produced (the relay link stopped for
    /// good): shown as an error once nothing runs.
    Notice(String),
}

/// How the console asks permission questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// The question is the prompt; the answer is a typed line (`y`, `n`).
    AtPrompt,
    /// The console reads single keys while the question waits and sends an [`Input::Answer`].
    ByKey,
    /// No one is there to ask (`-p`, a pipe): every request is denied at once, saying why.
    Refuse,
}

/// The prompt the console is asked to show for the next line.
#[derive(Debug, Clone, Default)]
pub struct Ready {
    /// Text to put back in the line before it is read (a message whose turn failed).
    pub refill: Option<String>,
    /// The installed commands changed since the last prompt: completion must be rebuilt.
    pub commands_changed: bool,
    /// The preferences changed since the last prompt (key bindings, colours).
    pub preferences: Option<Preferences>,
}

/// Where the terminal reads lines and asks questions. The driver decides when; the console only
/// shows what it is told, and sends what is typed as [`Input`]s.
pub trait Console {
    /// How this console asks permission questions.
    fn asks(&self) -> Ask;
    /// Whether a message whose turn failed can be put back in the line (an editor can; a pipe
    /// cannot).
    fn refills(&self) -> bool;
    /// Show the prompt and read one line.
    fn ready(&mut self, session: &Session, ready: Ready);
    /// Ask about `question` (by [`Console::asks`]: as the prompt, or by key).
    fn ask(&mut self, question: &PermissionQuestion);
    /// `request_id` stopped waiting (answered anywhere, withdrawn, or its turn ended).
    fn settled(&mut self, _request_id: &str) {}
    /// A notice that must not wait for the running turn to end (an integrity warning while a
    /// question waits, the worker stopping): shown now if the console can. `false` leaves it to
    /// the driver, which shows it once the turn is over.
    fn notice(&mut self, _text: &str) -> bool {
        false
    }
    /// `line` was typed while something ran or a question waited: it runs later.
    fn queued(&mut self, _line: &str) {}
}

/// The relay's side of a published session, as the driver uses it (the bridge worker).
pub trait Publisher {
    /// Publish `payload` to every client; never blocks. Returns the event's id.
    fn publish(&self, payload: Payload) -> String;
    /// Report the terminal's state, with what it waits for in `requires_action`.
    fn state(&self, state: WorkerState, waiting: Option<WaitingFor>);
    /// Wait (bounded) until what was published is delivered: a hand-off opens a browser only
    /// once the conversation is complete there.
    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// Before each turn: the session's new link, when it changed (a spent pairing secret is
    /// replaced by a fresh one).
    fn refreshed_url(&mut self) -> Option<String> {
        None
    }
    /// Replace the session key with a new generation (`/session revoke`); the new link, or
    /// why not.
    fn new_key(&mut self) -> Result<String, String> {
        Err("this session is not published, so it has no key to replace".into())
    }
    /// The title `system_init` carries.
    fn title(&self) -> &str;
}

/// How the conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// A signal stopped it (print mode exits 130).
    pub interrupted: bool,
}

/// What the driver is told besides its surfaces.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// SIGINT ends the session at once, even mid-turn (print mode: a script's Ctrl-C).
    pub signal_ends: bool,
}
