//! A real relay for integration tests, in process: on a loopback port, with a SQLite file in a
//! temporary folder or a database on the tests' own PostgreSQL server, driven over HTTP the way
//! the CLI, a browser and a worker drive it.
//!
//! One copy, here, for this crate's tests and the bridge's (feature `test-support`, which only
//! dev-dependencies turn on, so the relay binary never carries it). What one test file alone
//! needs stays in that file; readers of event streams stay in `tests/common`.
//!
//! Every helper panics on what the relay should never do (a refused login, a missing metric),
//! so that a test reads as the scenario it checks.

mod browser;
mod cli;
mod events;
mod killable;
pub mod postgres;
pub mod proxy;
pub mod push;
pub mod redis;
mod relay;
pub mod server;

pub use browser::Browser;
pub use cli::Setup;
pub use events::{event, user_message};
pub use killable::KillableNode;
pub use proxy::{Pick, TcpProxy};
pub use push::{PushService, Received, TestSubscription};
pub use relay::{StoreKind, TestRelay, http_client, test_config};

/// Which stripe of `store/order.rs` keeps a session's order on PostgreSQL (sessions in one wait
/// for each other; stripes are taken in ascending order), so that a test of writes running side
/// by side can pick sessions that do not share one.
pub fn order_of(id: &tether_protocol::SessionId) -> usize {
    crate::store::order::stripe(id)
}

/// The password of every account the helpers create.
pub const PASSWORD: &str = "correct horse battery";
