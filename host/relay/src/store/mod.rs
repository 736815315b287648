//! SQLite storage (bundled, WAL): accounts, hashed credentials, trusted devices, sessions and the
//! event log. One writer connection serialises every change, which is also what gives events
//! their per-session order; a second connection serves reads, which WAL lets run beside writes.
//! Calls run inline (see [`Store::write`] for why).

pub(crate) mod accounts;
pub(crate) mod devices;
pub(crate) mod events;
pub(crate) mod logins;
pub(crate) mod oauth;
mod schema;
pub(crate) mod sessions;

pub use schema::latest as latest_schema;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused (a full disk, a locked file, a constraint).
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The task running the call failed.
    #[error("database task failed: {0}")]
    Task(String),
    /// What is stored breaks an invariant the relay keeps.
    #[error("{0}")]
    Corrupt(String),
    /// The database was written by a newer relay.
    #[error(
        "the database has schema version {found}, written by a newer tether relay; this one knows versions up to {known}. Upgrade tether (or use another database); nothing was changed"
    )]
    TooNew {
        /// The version stored.
        found: usize,
        /// The newest version this build knows.
        known: usize,
    },
    /// A schema migration failed; it was rolled back.
    #[error("migrating the database failed (nothing was changed): {0}")]
    Migration(String),
}

/// The result of a database call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The database: one writer connection and one reader.
pub struct Store {
    writer: Mutex<Writer>,
    reader: Mutex<Connection>,
}

/// The writer connection, as [`Store::write`] lends it. It derefs to the connection; holding it
/// is also the proof that the hub's changes ask for (`Hub::load`, `Hub::appended`, …): the hub
/// changes a session's head only under the writer, so it never disagrees with the log about
/// order, and only the store can make a `Writer`.
pub struct Writer(Connection);

impl Deref for Writer {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.0
    }
}

#[cfg(test)]
impl Writer {
    /// A writer of its own (an empty in-memory database), for unit tests of what takes one.
    pub(crate) fn for_tests() -> Writer {
        Writer(Connection::open_in_memory().expect("an in-memory database"))
    }
}

impl Store {
    /// Open (creating and migrating if needed) the database at `path`.
    pub fn open(path: &Path) -> StoreResult<Arc<Store>> {
        let mut writer = Connection::open(path)?;
        schema::configure(&writer)?;
        schema::migrate(&mut writer)?;
        let reader = Connection::open(path)?;
        schema::configure(&reader)?;
        Ok(Arc::new(Store {
            writer: Mutex::new(Writer(writer)),
            reader: Mutex::new(reader),
        }))
    }

    /// Run `f` on the writer connection.
    ///
    /// Inline, on the calling task's thread: every statement here is a prepared, indexed
    /// operation of tens of microseconds, and handing each to the blocking pool cost more than
    /// the work (≈ 55 µs of thread hand-off per call, most of the relay's round trip; see
    /// BENCHMARKS.md). Slow work (password hashing) goes to the blocking pool at its call site.
    /// Being inline, `f` may borrow, and needs not be `Send`.
    pub async fn write<T>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Writer) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.write_blocking(f)
    }

    /// Run `f` on the reader connection (inline, as [`Store::write`]).
    pub async fn read<T>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }

    /// For callers that are not async (the `tether relay user` commands).
    pub fn write_blocking<T>(
        &self,
        f: impl FnOnce(&mut Writer) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }
}

/// Bring the database at `path` (created if missing) to the newest schema ([`latest_schema`]),
/// or with `check_only` change nothing; either way, the version found. A file a newer relay
/// wrote is refused.
pub fn migrate(path: &Path, check_only: bool) -> StoreResult<usize> {
    if check_only && !path.exists() {
        return Ok(0);
    }
    let mut conn = Connection::open(path)?;
    schema::configure(&conn)?;
    if check_only {
        schema::check_not_newer(&conn)
    } else {
        schema::migrate(&mut conn)
    }
}

/// The current time in Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 3339 (UTC, seconds) for the JSON bodies.
pub fn rfc3339(unix: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix))
        .to_string()
}

/// The signing key for worker JWTs: made once and kept in the database, so that a restarted
/// relay accepts the tokens it issued before.
pub fn jwt_key(conn: &Connection) -> StoreResult<[u8; 32]> {
    use rusqlite::OptionalExtension;
    let existing: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE key = 'jwt_key'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(key) = existing {
        return key
            .try_into()
            .map_err(|_| StoreError::Corrupt("the stored JWT key is not 32 bytes".into()));
    }
    let key = crate::auth::secret::random_bytes::<32>();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('jwt_key', ?1)",
        [key.as_slice()],
    )?;
    Ok(key)
}
