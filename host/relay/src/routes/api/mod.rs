//! The JSON API of docs/protocol.md, one file per caller: the CLI's OAuth login and trusted devices,
//! sessions, the worker's endpoints and the clients'. `streams.rs` serves a session's feed to
//! workers and clients alike, as Server-Sent Events or over a WebSocket;
//! `socket_writes.rs` answers what a WebSocket peer writes.

pub mod client;
pub mod devices;
pub mod oauth;
pub mod push;
pub mod sessions;
mod socket_writes;
pub mod streams;
pub mod worker;
