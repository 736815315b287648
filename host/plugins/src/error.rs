use std::time::Duration;

use tether_protocol::Capability;

/// Everything that can go wrong with a plugin. Each message names the plugin and says what the
/// user can do, because it is shown as an error line in the transcript.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{origin} is not a WebAssembly component: {reason}")]
    NotAComponent { origin: String, reason: String },

    #[error(
        "{origin} does not implement tether:command@0.1.0 (build it with tether-sdk): {reason}"
    )]
    WrongWorld { origin: String, reason: String },

    #[error("{origin} has an invalid manifest: {reason}")]
    BadManifest { origin: String, reason: String },

    #[error("/{name} took longer than {}s and was stopped", limit.as_secs_f64())]
    Timeout { name: String, limit: Duration },

    #[error("/{name} tried to use more than its {} MiB of memory and was stopped", limit / (1024 * 1024))]
    OutOfMemory { name: String, limit: usize },

    #[error("/{name} crashed: {message}")]
    Trap { name: String, message: String },

    #[error("/{name} returned {} KiB of text, over its limit of {} KiB; nothing was shown", bytes / 1024, limit / 1024)]
    OutputTooLarge {
        name: String,
        bytes: usize,
        limit: usize,
    },

    #[error(
        "/{name} called the `{capability}` host query without declaring it in its manifest (a bug in the plugin)"
    )]
    CapabilityNotDeclared {
        name: String,
        capability: Capability,
    },

    #[error("/{name}: {message}")]
    Failed { name: String, message: String },

    #[error("cannot set up the plugin runtime: {0}")]
    Setup(String),
}
