//! Account administration for `tether relay user …`: runs against the database directly, so it
//! works whether or not a relay is serving it (SQLite's WAL lets both write safely; PostgreSQL
//! is made for it).

use anyhow::{Context as _, bail};

use crate::auth::password;
use crate::store::{self, Location, Store, accounts};

pub use crate::store::accounts::Account;

fn open(db: &Location) -> anyhow::Result<std::sync::Arc<Store>> {
    Store::open(db).with_context(|| format!("cannot open the relay database {}", db.display()))
}

/// Adds an account, refusing a taken name or a weak password.
pub fn add(db: &Location, name: &str, password: &str) -> anyhow::Result<()> {
    accounts::valid_name(name).map_err(anyhow::Error::msg)?;
    password::check_strength(password)?;
    let hash = password::hash(password);
    let store = open(db)?;
    let now = store::now();
    let added = store.write_blocking(|c| accounts::add(c, name, &hash, now))?;
    if added.is_none() {
        bail!("a user named `{name}` already exists");
    }
    Ok(())
}

/// Every account, by name.
pub fn list(db: &Location) -> anyhow::Result<Vec<Account>> {
    let store = open(db)?;
    Ok(store.write_blocking(accounts::list)?)
}

/// Removes the account and everything it owns: logins, tokens, devices, sessions, events.
pub fn remove(db: &Location, name: &str) -> anyhow::Result<()> {
    let store = open(db)?;
    if !store.write_blocking(|c| accounts::remove(c, name))? {
        bail!("there is no user named `{name}`");
    }
    Ok(())
}
