//! The schema and its versions. `rusqlite_migration` applies them, counting in
//! `PRAGMA user_version`; what is ours is the list and the refusal of a newer file.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations, SchemaVersion};

use super::{StoreError, StoreResult};

/// The pragmas every connection runs with.
pub fn configure(conn: &Connection) -> StoreResult<()> {
    // WAL: readers never block the writer. NORMAL: a committed event survives the relay process
    // dying; only an operating-system crash can lose the last few commits.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Every query is prepared once per connection (see `sqlite::On`): room for all of them, so
    // that none is parsed again because others pushed it out.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

const V1: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE browser_logins (
    token_hash BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE device_codes (
    device_code_hash BLOB PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    interval_secs INTEGER NOT NULL,
    last_poll_at INTEGER,
    status TEXT NOT NULL,
    account_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE,
    approved_at INTEGER
);
CREATE TABLE access_tokens (
    token_hash BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    family TEXT NOT NULL,
    login_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX access_tokens_by_family ON access_tokens(family);
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    family TEXT NOT NULL,
    login_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family);
CREATE TABLE trusted_devices (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    details TEXT,
    worker_epoch INTEGER NOT NULL DEFAULT 0,
    worker_online INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_account ON sessions(account_id, updated_at);
CREATE TABLE events (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (session_id, seq),
    UNIQUE (session_id, id)
) WITHOUT ROWID;
"#;

/// Each trusted device remembers the login (token family) that enrolled it, so that revoking
/// the device revokes that login too. Devices enrolled before have none.
const V2: &str = "ALTER TABLE trusted_devices ADD COLUMN family TEXT;";

/// Revoked logins (token families), kept as long as a worker JWT minted from one could still be
/// presented: those tokens are stateless, and a restarted relay must go on refusing them.
const V3: &str =
    "CREATE TABLE revoked_families (family TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL);";

/// When the worker was last heard of (Unix milliseconds), by whichever node heard it: with
/// several nodes, presence is decided in the database, so that a node that dies with its
/// workers' streams still has them reported offline by the others. The partial index serves the
/// sweep that looks for online workers gone silent.
const V4: &str = "ALTER TABLE sessions ADD COLUMN worker_seen_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sessions_online ON sessions(worker_seen_at) WHERE worker_online = 1;";

/// Limits that hold across nodes: the throttles' recent attempts per bucket (see
/// `store/throttles.rs`), and the open streams each node holds a lease on (`store/streams.rs`).
const V5: &str = "CREATE TABLE throttles (
    bucket TEXT PRIMARY KEY,
    hits TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX throttles_by_expiry ON throttles(expires_at_ms);
CREATE TABLE streams (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    session_id TEXT NOT NULL,
    account_id INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX streams_by_session ON streams(session_id, expires_at_ms);
CREATE INDEX streams_by_account ON streams(account_id, expires_at_ms);
CREATE INDEX streams_by_node ON streams(node);
CREATE INDEX streams_by_expiry ON streams(expires_at_ms);";

/// Web Push subscriptions (see `store/push.rs`): one per account and browser install.
const V6: &str = "CREATE TABLE push_subscriptions (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    kinds TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (account_id, device)
);";

/// Who is looking at a session now (see `store/push.rs`): a page that is visible and focused,
/// until its `until_ms`; calls wait while anyone is. And the worker epoch that said goodbye:
/// going offline after that calls nobody.
const V7: &str = "CREATE TABLE push_looking (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    until_ms INTEGER NOT NULL,
    PRIMARY KEY (session_id, device)
);
ALTER TABLE sessions ADD COLUMN worker_left_epoch INTEGER;";

/// Every version of the schema, oldest first: version N is the first N of these applied. Only
/// ever append: a released migration is never edited, or files it already ran on would differ.
/// Versions 1–3 are the ones `PRAGMA user_version` counted before this list existed, so files
/// from those releases continue from where they are.
const STEPS: &[M<'static>] = &[
    M::up(V1),
    M::up(V2),
    M::up(V3),
    M::up(V4),
    M::up(V5),
    M::up(V6),
    M::up(V7),
];

const MIGRATIONS: Migrations<'static> = Migrations::from_slice(STEPS);

/// The newest schema version this build knows.
pub fn latest() -> usize {
    STEPS.len()
}

/// The schema version of a database, refusing one that a newer relay wrote: its tables may mean
/// what this build does not know, and writing them could lose data.
pub fn check_not_newer(conn: &Connection) -> StoreResult<usize> {
    let found = MIGRATIONS
        .current_version(conn)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    match found {
        SchemaVersion::Outside(found) => Err(StoreError::TooNew {
            found: found.get(),
            known: latest(),
        }),
        found => Ok(usize::from(found)),
    }
}

/// Bring the schema up to the newest version, in one transaction; returns the version found.
pub fn migrate(conn: &mut Connection) -> StoreResult<usize> {
    let found = check_not_newer(conn)?;
    MIGRATIONS
        .to_latest(conn)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_are_well_formed_and_counted() {
        MIGRATIONS.validate().unwrap();
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(check_not_newer(&conn).unwrap(), latest());
        assert_eq!(MIGRATIONS.pending_migrations(&conn).unwrap(), 0);
        assert_eq!(
            migrate(&mut conn).unwrap(),
            latest(),
            "a second run does nothing"
        );
    }

    #[test]
    fn a_file_of_an_older_release_upgrades_in_place() {
        let mut conn = Connection::open_in_memory().unwrap();
        // What the first release left: schema 1, with a session and an event in it.
        conn.execute_batch(&format!("{V1} PRAGMA user_version = 1;"))
            .unwrap();
        conn.execute_batch(
            "INSERT INTO accounts (name, password_hash, created_at) VALUES ('ada', '!', 1);
             INSERT INTO sessions (id, account_id, title, state, created_at, updated_at)
                 VALUES ('s', 1, 't', 'idle', 1, 1);
             INSERT INTO events (session_id, seq, id, type, source, created_at, payload)
                 VALUES ('s', 1, 'e', 'user_message', 'client', 'now', '{}');",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 1);
        assert_eq!(check_not_newer(&conn).unwrap(), latest());
        let kept: i64 = conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1, "nothing lost");
        conn.execute("INSERT INTO revoked_families VALUES ('f', 1)", [])
            .unwrap();
    }

    #[test]
    fn a_file_of_a_newer_relay_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let newer = latest() + 1;
        conn.pragma_update(None, "user_version", newer as i64)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found, known } if found == newer && known == latest()),
            "{err}"
        );
        assert!(err.to_string().contains("newer"), "{err}");
        let stored: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(stored as usize, newer, "left as it was");
    }
}
