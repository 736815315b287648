//! The WebAssembly plugin runtime: every slash command is a component, and this crate is the only
//! place that knows it.
//!
//! Lifecycle, one file a stage:
//! - `compiler`: the one wasmtime `Engine`'s configuration, and the fingerprint compiled code
//!   depends on;
//! - `cache`: compiled code on disk, authenticated so that nothing we did not write is loaded;
//! - `loader`: bytes → validated component → manifest + a linked, ready-to-instantiate plugin;
//! - `call` and `sandbox`: one call: a fresh `Store` with no outside access and the call's limits,
//!   the call, and the checks on its result; `deadline` turns the time limit into a trap;
//! - `abi`: the host side of each WIT version behind one facade, so that a new version is one new
//!   module there and nothing else names a version.
//!
//! The rest of tether sees only [`Runtime`], [`Plugin`], [`Call`], [`Effect`], [`HostQueries`]
//! with the host types it answers with, and the administrator's [`policy`].

// `deny`, not `forbid`: mapping authenticated cached code is one `unsafe` call, allowed where it is
// (`loader`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod abi;
mod cache;
mod call;
mod compiler;
mod deadline;
pub mod effect;
mod error;
mod limits;
mod loader;
mod manifest;
pub mod policy;
mod pool;
mod queries;
mod runtime;
mod sandbox;

pub use call::Call;
pub use effect::{Editable, Effect};
pub use error::PluginError;
pub use limits::Limits;
pub use loader::{Plugin, PluginSource, sha256_hex};
pub use manifest::Manifest;
pub use queries::{
    AppLink, ContextFile, HostQueries, Message, Preferences, Role, SessionInfo, Settings, Usage,
};
pub use runtime::{LoadProgress, Runtime, RuntimeOptions};
