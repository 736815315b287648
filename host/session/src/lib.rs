//! The conversation: what the terminal process owns and every surface shows.
//!
//! A [`Session`] holds the transcript, usage and cost, preferences, the files in context and the
//! loaded commands. Input arrives as text with its [`Origin`](tether_protocol::Origin); the session
//! decides whether it is a slash command (gated, run as a plugin, its effects checked and applied)
//! or a turn for the engine ([`tether_engines`]), and reports everything that happens as
//! [`Output`] to a sink.
//!
//! The [`driver`] is the one conversation loop every surface runs (the REPL, `-p`, piped input,
//! `--remote`): inputs from every surface on one channel, the queue, the approvals and the prompt
//! in one place. The terminal renders the outputs; the bridge publishes them as typed payloads
//! ([`wire`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod approvals;
pub mod dirs;
pub mod dispatch;
pub mod driver;
pub mod mentions;
pub mod output;
pub mod preferences;
pub mod registry;
mod session;
mod snapshot;
pub mod transcript;
pub mod usage;
pub mod user_plugins;
pub mod wire;

pub use dirs::Dirs;
pub use output::{Format, Output, Sink};
pub use preferences::Preferences;
pub use registry::Registry;
pub use session::{Flow, RemoteInfo, Session, SessionConfig};
