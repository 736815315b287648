//! The terminal's side of the relay (docs/protocol.md).
//!
//! - [`api`]: every relay endpoint the CLI and the worker call, as typed async functions over the
//!   JSON bodies in `tether_protocol::api`, with one error type that keeps the relay's
//!   `{error: {type, message}}` (or OAuth `{error, error_description}`) apart from network trouble.
//! - [`mod@login`]: the whole RFC 8628 device login plus trusted-device enrolment, ending in
//!   [`Credentials`] the CLI saves.
//! - [`tokens`]: the access token the worker needs to register, refreshed (with the rotating
//!   refresh token, one refresh at a time) before it expires or when the relay refuses it.
//! - [`worker`]: the bridge worker, a background task that registers the session, streams what
//!   clients say to the terminal and publishes what the terminal says, exactly once and in order,
//!   across network failures, relay restarts and worker-token refreshes, and stops for good when
//!   another terminal takes the session over.
//!
//! It depends on nothing but the protocol and seal crates and networking crates, so the CLI can wire it to
//! the session (and tests to a bare relay) without the plugin host.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod login;
mod tls;
pub mod tokens;
pub mod worker;

pub use api::{Api, ApiError, PollError};
pub use login::{Credentials, LoginError, login};
pub use tokens::TokenSource;
pub use worker::{Inbound, Protection, Status, Transport, WorkerConfig, WorkerHandle, spawn};
