//! The relay's suites that run on both stores: login, sessions, streams, tokens, restart and push.
//! `tests/sqlite.rs` runs them on SQLite and `tests/postgres.rs` on PostgreSQL, so that the two
//! stores are held to one behaviour; each root says which with its `STORE`.

mod login;
mod push;
mod restart;
mod sessions;
mod streams;
mod tokens;

/// A relay on the suites' store (`crate::STORE`), with `test_config` changed by the tweak if
/// one is given. Returns from the test (with `Default::default()`: `()` or `None`) when that
/// store is PostgreSQL and it is not installed (outside CI; in CI that fails).
#[macro_export]
macro_rules! start_relay {
    () => {
        $crate::start_relay!(|_| {})
    };
    ($tweak:expr) => {{
        if !$crate::STORE.available() {
            return Default::default();
        }
        tether_relay::test_support::TestRelay::start_on($crate::STORE, $tweak).await
    }};
}
