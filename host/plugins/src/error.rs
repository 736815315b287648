//! What can go wrong with a plugin, in words a user can act on.

use std::time::Duration;

use tether_protocol::Capability;

/// Everything that can go wrong with a plugin. Each message names the plugin and says what the
/// user can do, because it is shown as an error line in the transcript.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a component (not WebAssembly, a core module, native code).
    #[error("{origin} is not a WebAssembly component: {reason}")]
    NotAComponent {
        /// Where the bytes came from.
        origin: String,
        /// What they are instead.
        reason: String,
    },

    /// A component, but not of a world the host implements.
    #[error(
        "{origin} does not implement {} (build it with tether-sdk): {reason}",
        crate::abi::WORLDS.join(" or ")
    )]
    WrongWorld {
        /// Where the component came from.
        origin: String,
        /// What wasmtime found missing or mistyped.
        reason: String,
    },

    /// The manifest could not be read, or breaks a rule.
    #[error("{origin} has an invalid manifest: {reason}")]
    BadManifest {
        /// Where the component came from.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The call ran past its deadline.
    #[error("/{name} took longer than {}s and was stopped", limit.as_secs_f64())]
    Timeout {
        /// The command.
        name: String,
        /// Its time limit.
        limit: Duration,
    },

    /// The call grew its memory past the limit.
    #[error("/{name} tried to use more than its {} MiB of memory and was stopped", limit / (1024 * 1024))]
    OutOfMemory {
        /// The command.
        name: String,
        /// Its memory limit, in bytes.
        limit: usize,
    },

    /// The call trapped (a panic, an invalid operation).
    #[error("/{name} crashed: {message}")]
    Trap {
        /// The command.
        name: String,
        /// The trap, with the guest's panic message when it printed one.
        message: String,
    },

    /// The effects carry more text than the output limit.
    #[error("/{name} returned {} KiB of text, over its limit of {} KiB; nothing was shown", bytes / 1024, limit / 1024)]
    OutputTooLarge {
        /// The command.
        name: String,
        /// How much text it returned.
        bytes: usize,
        /// Its output limit, in bytes.
        limit: usize,
    },

    /// The command called a host query its manifest does not declare.
    #[error(
        "/{name} called the `{capability}` host query without declaring it in its manifest (a bug in the plugin)"
    )]
    CapabilityNotDeclared {
        /// The command.
        name: String,
        /// The query it called.
        capability: Capability,
    },

    /// The command returned an error of its own.
    #[error("/{name}: {message}")]
    Failed {
        /// The command.
        name: String,
        /// What it said, cut to the output limit.
        message: String,
    },

    /// The runtime itself could not start (or lost a thread: a bug in tether).
    #[error("cannot set up the plugin runtime: {0}")]
    Setup(String),
}
