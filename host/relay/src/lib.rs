//! The tether relay: the server that phones and browsers reach.
//!
//! It keeps accounts and their credentials, runs the OAuth device login for the CLI, hands
//! workers short-lived tokens bound to one session and epoch, and carries each session's events
//! between its worker (the terminal) and its clients, in order, exactly once, across reconnects
//! and restarts. PROTOCOL.md is the contract; this crate is its server side. It does not depend
//! on the plugin host, so it builds fast and deploys alone.

pub mod auth;
mod body;
pub mod config;
pub mod conn;
pub mod error;
pub mod hub;
pub mod metrics;
pub mod pairing;
mod publish;
pub mod revocation;
pub mod routes;
mod server;
pub mod state;
pub mod store;
pub mod stream;
pub mod stream_limit;
pub mod title;
pub mod users;
mod weight;

pub use config::RelayConfig;
pub use server::{LocalLogin, Relay};
