//! Credentials: how each one is made, stored and checked. The rules are pure functions; the
//! extractors in `extract` apply them to requests.

pub mod client_addr;
pub(crate) mod cookie;
pub(crate) mod device_flow;
pub(crate) mod extract;
pub(crate) mod hashing;
pub mod jwt;
pub mod jwt_key;
pub(crate) mod origin;
pub(crate) mod password;
pub(crate) mod rate_limit;
pub(crate) mod remembered;
pub(crate) mod secret;
