//! A fake model provider on loopback, for every test in the workspace that talks to Anthropic's
//! or OpenAI's API: the engines' own tests (`host/engines/tests`) and the end-to-end tests of the
//! `tether` binary (`tests/`). One implementation, so that both suites test against the same
//! idea of the wire formats.
//!
//! It speaks the real formats as recorded from the services — Anthropic's Messages stream
//! ([`anthropic`]), OpenAI's Chat Completions stream ([`openai`]), their error bodies and
//! statuses — over plain HTTP/1.1, and records each request so that a test can check what was
//! sent.
//!
//! - [`Server`] plays a script of byte-level [`Reply`]s (framing, delays, abrupt closes, hangs)
//!   and notices when the client closes its connection: for async tests of the engines.
//! - [`Provider`] is the same server on a runtime of its own, answering [`Answer`]s in a chosen
//!   [`Wire`] format: for synchronous tests that start `tether` as a process.
//! - [`read_request`] reads one request off a blocking stream, for a test that must write its
//!   own replies (a bench timing each write).
//!
//! Built only with the `test-support` feature, which only dev-dependencies enable: none of this
//! is in the `tether` binary that ships.

pub mod anthropic;
pub mod openai;
mod provider;
mod reply;
mod request;
mod server;
mod words;

pub use provider::{Answer, Provider, Wire};
pub use reply::{End, Framing, Reply};
pub use request::{Recorded, read_request};
pub use server::{Exhausted, Server, refused_url};
