//! Credentials: how each one is made, stored and checked. The rules are pure functions; the
//! extractors in `extract` apply them to requests.

pub mod client_addr;
pub mod cookie;
pub mod device_flow;
pub mod extract;
pub mod hashing;
pub mod jwt;
pub mod origin;
pub mod password;
pub mod rate_limit;
pub mod secret;
