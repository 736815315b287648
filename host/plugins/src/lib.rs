//! The WebAssembly plugin runtime: every slash command is a component, and this crate is the only
//! place that knows it.
//!
//! Lifecycle, one file a stage:
//! - [`engine`]: one wasmtime `Engine` per process, and the epoch ticker that enforces deadlines;
//! - [`cache`]: compiled code on disk, authenticated so that nothing we did not write is loaded;
//! - [`loader`]: bytes → validated component → manifest + `InstancePre`;
//! - [`worker`]: one call: a fresh `Store` with limits, the call, and the checks on its result;
//! - [`since_v0_1_0`]: the host side of WIT `tether:command@0.1.0` (bindings, conversions, queries).
//!
//! The rest of tether sees only [`Runtime`], [`Plugin`], [`Effect`] and [`HostQueries`].

pub mod cache;
pub mod effect;
pub mod engine;
pub mod error;
pub mod limits;
pub mod loader;
pub mod manifest;
pub mod policy;
mod pool;
pub mod queries;
mod runtime;
pub mod since_v0_1_0;
mod worker;

pub use effect::Effect;
pub use error::PluginError;
pub use limits::Limits;
pub use loader::{Plugin, PluginSource};
pub use manifest::Manifest;
pub use queries::{
    AppLink, ContextFile, HostQueries, Message, Preferences, Role, SessionInfo, TokenUsage,
};
pub use runtime::{Call, LoadProgress, Runtime, RuntimeOptions};
