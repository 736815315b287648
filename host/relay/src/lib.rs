//! The tether relay: the server that phones and browsers reach.
//!
//! It keeps accounts and their credentials, runs the OAuth device login for the CLI, hands
//! workers short-lived tokens bound to one session and epoch, and carries each session's events
//! between its worker (the terminal) and its clients, in order, exactly once, across reconnects
//! and restarts. docs/protocol.md is the contract; this crate is its server side. It does not depend
//! on the plugin host, so it builds fast and deploys alone.
//!
//! How it is built, so that a reader knows where to look:
//!
//! - `store/` is the truth, in SQLite or PostgreSQL, every query written once for both. The
//!   in-memory `hub` follows the log in commit order (its methods take the store's `Ordered` as
//!   proof).
//! - `publish` is the one way events enter a log, `feed` the one way they leave it; `routes/`
//!   only translates HTTP to those two (`routes/api/streams.rs` carries a feed over SSE or a
//!   WebSocket).
//! - `auth/` holds the credential rules as pure functions; `routes/pages/` the HTML.
//!   Whatever must hold across nodes (the throttles, the stream caps) is counted in the
//!   database, not in a node's memory.
//! - The public API is small on purpose: [`Relay`] to run one, [`RelayConfig`], [`users`] for
//!   account administration, and what the CLI and the tests need from `auth` and `store`.
//!   `test_support` (feature `test-support`) is the relay the tests of this crate and of the
//!   bridge run against.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
mod body;
pub mod config;
mod conn;
mod error;
mod feed;
mod hub;
mod metrics;
pub mod nodes;
mod pairing;
mod presence;
mod publish;
pub mod push;
mod revocation;
mod routes;
mod server;
mod state;
pub mod store;
mod stream_limit;
#[cfg(feature = "test-support")]
pub mod test_support;
mod throttle;
mod title;
pub mod users;
mod weight;
mod wired;

pub use config::RelayConfig;
pub use server::{LocalLogin, Relay};
