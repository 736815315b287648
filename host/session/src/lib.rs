//! The conversation: what the terminal process owns and every surface shows.
//!
//! A [`Session`] holds the transcript, usage and cost, preferences, the files in context and the
//! loaded commands. Input arrives as text with its [`Origin`](tether_protocol::Origin); the session
//! decides whether it is a slash command (gated, run as a plugin, its effects checked and applied)
//! or a turn for the [`engine`], and reports everything that happens as [`Output`] to a sink. The
//! terminal renders that output; the bridge publishes it ([`wire`]).

pub mod approvals;
pub mod dirs;
pub mod dispatch;
/// The engines, re-exported: the session is where they are used.
pub use tether_engines as engine;
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
