//! The relay's suites (tests/suites) on SQLite, the default store.

mod common;
mod suites;

/// The store these suites run on.
const STORE: tether_relay::test_support::StoreKind = tether_relay::test_support::StoreKind::Sqlite;
