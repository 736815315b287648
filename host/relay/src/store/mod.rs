//! The truth: accounts, hashed credentials, trusted devices, sessions and the event log, in
//! SQLite (one file, the default and what the embedded relay uses) or PostgreSQL (what several
//! relay nodes share). Every query is written once, against [`sql::Sql`], and runs on both; the
//! modules below hold them, one per kind of record.
//!
//! [`Store`] is the facade: [`Store::read`] and [`Store::write`] run a closure of queries (a
//! write in one transaction), and [`Store::write_then`] also runs a second step after the
//! commit, in commit order: that is how the hub follows the log.

pub(crate) mod accounts;
pub(crate) mod devices;
pub(crate) mod events;
mod group;
pub(crate) mod logins;
pub(crate) mod oauth;
pub(crate) mod order;
mod postgres;
pub(crate) mod presence;
pub(crate) mod push;
mod schema;
pub(crate) mod sessions;
pub mod sql;
mod sqlite;
pub(crate) mod streams;
pub(crate) mod throttles;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub use order::group_by_order;
pub use sql::{Dialect, Sql};

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its `postgres://` URL.
    Postgres(String),
}

impl Location {
    /// What logs and messages may show: a URL without its password.
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => redact_password(url),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Location::Sqlite(path)
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Self {
        Location::Sqlite(path.to_owned())
    }
}

impl From<&PathBuf> for Location {
    fn from(path: &PathBuf) -> Self {
        Location::Sqlite(path.clone())
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // The key=value form: `host=db user=relay password=secret`.
        return url
            .split_whitespace()
            .map(|kv| match kv.split_once('=') {
                Some(("password", _)) => "password=***",
                _ => kv,
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused (a full disk, a locked file, a constraint).
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused, or the connection to it broke.
    #[error("database: {}", postgres_detail(.0))]
    Postgres(#[from] ::postgres::Error),
    /// The database cannot be reached (a node answers 503 and the client retries).
    #[error("{0}")]
    Unavailable(String),
    /// The task running the call failed.
    #[error("database task failed: {0}")]
    Task(String),
    /// The transaction this write shared with others (group commit) failed and took the
    /// write with it; the cause is the one the first of them met.
    #[error("database: the transaction was rolled back: {0}")]
    Grouped(String),
    /// What is stored breaks an invariant the relay keeps.
    #[error("{0}")]
    Corrupt(String),
    /// The session the write is for was deleted (by another request, maybe on another node)
    /// after the request was checked: the request's `404`.
    #[error("session {0} was deleted")]
    Gone(String),
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

impl StoreError {
    /// The database is down or unreachable, rather than refusing this call: worth a retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            // No error from the server itself: the connection broke.
            StoreError::Postgres(e) => match e.as_db_error() {
                None => true,
                // Connection exceptions, and a server shutting down or starting.
                Some(db) => {
                    let code = db.code().code();
                    code.starts_with("08") || code.starts_with("57P")
                }
            },
            _ => false,
        }
    }
}

/// What PostgreSQL said, for the log: its own message and code (the error's `Display` is only
/// "db error").
fn postgres_detail(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({}): {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// The result of a database call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The database.
pub struct Store {
    backend: Backend,
    /// PostgreSQL's writes run on many connections; the steps after a commit that must see
    /// their sessions' commits in order ([`Store::write_then`]) take their stripes of this.
    /// SQLite's one writer orders them.
    order: order::Order,
    /// How long reads and writes take, for `/metrics`.
    metrics: crate::metrics::StoreMetrics,
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// Held by the step after a commit in [`Store::write_then`]: the proof that no other change to
/// its sessions is between that commit and this step. The hub's changes ask for it (`Hub::load`,
/// `Hub::appended`, …), so that the hub never disagrees with the log about order; only the
/// store can make one.
pub struct Ordered(());

#[cfg(test)]
impl Ordered {
    /// A proof of its own, for unit tests of what takes one.
    pub(crate) fn for_tests() -> Ordered {
        Ordered(())
    }
}

impl Store {
    /// Open (creating and migrating if needed) the database. Blocking.
    pub fn open(location: &Location) -> StoreResult<Arc<Store>> {
        let metrics = crate::metrics::StoreMetrics::default();
        let backend = match location {
            Location::Sqlite(path) => Backend::Sqlite(sqlite::Sqlite::open(path, &metrics)?),
            Location::Postgres(url) => {
                Backend::Postgres(off_runtime(|| postgres::Postgres::open(url))?)
            }
        };
        Ok(Arc::new(Store {
            backend,
            order: order::Order::default(),
            metrics,
        }))
    }

    /// How long its reads and writes take and how many writes share a commit (what
    /// `/metrics` shows).
    pub fn metrics(&self) -> &crate::metrics::StoreMetrics {
        &self.metrics
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Run `f` in a transaction, committed if it succeeds.
    ///
    /// On SQLite, inline, on the calling task's thread: every statement is a prepared, indexed
    /// operation of tens of microseconds, and handing each to the blocking pool cost more than
    /// the work (≈ 55 µs of thread hand-off per call, most of the relay's round trip; see
    /// BENCHMARKS.md). Slow work (password hashing) goes to the blocking pool at its call site.
    /// Writes that queue while another commits share the next transaction ([`group`]), each in
    /// a savepoint of its own. On PostgreSQL, on the blocking pool, since the answer comes over
    /// the network.
    pub async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let started = Instant::now();
        let out = match &self.backend {
            Backend::Sqlite(db) => db.queue().write(f, |out, _| out).await,
            Backend::Postgres(_) => self.pooled(true, f).await,
        };
        self.metrics.write.observe(started.elapsed().as_secs_f64());
        out
    }

    /// Run `f` as [`Store::write`] does, then `then` on what it returned, after the commit and
    /// before any later write's `then` to the same `sessions` (the ones `f` changes and `then`
    /// tells the hub about; writes to other sessions run meanwhile on PostgreSQL).
    pub async fn write_then<T: Send + 'static, U: Send + 'static>(
        self: &Arc<Self>,
        sessions: &[tether_protocol::SessionId],
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<T> + Send + 'static,
        then: impl FnOnce(T, &Ordered) -> U + Send + 'static,
    ) -> StoreResult<U> {
        let started = Instant::now();
        let observe = || self.metrics.write.observe(started.elapsed().as_secs_f64());
        match &self.backend {
            // The step after the commit runs where the commit did, maybe on another caller's
            // thread: in the group's order.
            Backend::Sqlite(db) => {
                let out = db.queue().write(f, then).await;
                observe();
                out
            }
            Backend::Postgres(_) => {
                let _order = self.order.lock(sessions).await;
                let out = self.pooled(true, f).await;
                observe();
                Ok(then(out?, &Ordered(())))
            }
        }
    }

    /// Run `then` between two writes to `sessions`, as the step after a commit would.
    pub async fn ordered<U>(
        self: &Arc<Self>,
        sessions: &[tether_protocol::SessionId],
        then: impl FnOnce(&Ordered) -> U,
    ) -> U {
        match &self.backend {
            Backend::Sqlite(db) => {
                let _writer = db.writer();
                then(&Ordered(()))
            }
            Backend::Postgres(_) => {
                let _order = self.order.lock(sessions).await;
                then(&Ordered(()))
            }
        }
    }

    /// Run `f` outside a transaction: reads (inline on SQLite, as [`Store::write`]).
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let started = Instant::now();
        let out = match &self.backend {
            Backend::Sqlite(db) => db.read(f),
            Backend::Postgres(_) => self.pooled(false, f).await,
        };
        self.metrics.read.observe(started.elapsed().as_secs_f64());
        out
    }

    /// [`Store::write`] for callers that are not async (the `tether relay user` commands).
    pub fn write_blocking<T: Send>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<T> + Send,
    ) -> StoreResult<T> {
        match &self.backend {
            Backend::Sqlite(db) => sqlite::Sqlite::transact(&mut db.writer(), f),
            Backend::Postgres(pg) => off_runtime(|| pg.run(true, f)),
        }
    }

    async fn pooled<T: Send + 'static>(
        self: &Arc<Self>,
        transaction: bool,
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let Backend::Postgres(pg) = &self.backend else {
            unreachable!("SQLite runs inline")
        };
        let _permit = pg
            .permits
            .acquire()
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let store = self.clone();
        let out = tokio::task::spawn_blocking(move || match &store.backend {
            Backend::Postgres(pg) => pg.run(transaction, f),
            Backend::Sqlite(_) => unreachable!("SQLite runs inline"),
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
        if transaction && out.is_ok() {
            self.metrics.writes.inc();
            self.metrics.commits.inc();
        }
        out
    }
}

/// Run blocking database work where it may block: the synchronous PostgreSQL client drives a
/// runtime of its own, which cannot start on a thread that already runs one (a test, a caller
/// inside `block_on`).
fn off_runtime<T: Send>(f: impl FnOnce() -> StoreResult<T> + Send) -> StoreResult<T> {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|_| Err(StoreError::Task("the database thread panicked".into())))
    })
}

/// The state of a database's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaState {
    /// The version it was at (0: empty).
    pub found: usize,
    /// The newest version this build knows.
    pub latest: usize,
}

/// Bring the database (created if missing) to the newest schema, or with `check_only` change
/// nothing; either way, where it was. A database a newer relay wrote is refused.
pub fn migrate(location: &Location, check_only: bool) -> StoreResult<SchemaState> {
    match location {
        Location::Sqlite(path) => {
            let latest = schema::latest();
            if check_only && !path.exists() {
                return Ok(SchemaState { found: 0, latest });
            }
            let mut conn = rusqlite::Connection::open(path)?;
            schema::configure(&conn)?;
            let found = if check_only {
                schema::check_not_newer(&conn)?
            } else {
                schema::migrate(&mut conn)?
            };
            Ok(SchemaState { found, latest })
        }
        Location::Postgres(url) => {
            let found = off_runtime(|| postgres::migrate_url(url, check_only))?;
            Ok(SchemaState {
                found,
                latest: postgres::latest(),
            })
        }
    }
}

/// The current time in Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// RFC 3339 (UTC, seconds) for the JSON bodies.
pub fn rfc3339(unix: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix))
        .to_string()
}

/// The signing key for worker JWTs: made once and kept in the database, so that a restarted
/// relay, and every other node, accepts the tokens it issued. Nodes starting together agree: the
/// first insert wins and everyone reads what it stored.
pub fn jwt_key(c: &mut dyn Sql) -> StoreResult<[u8; 32]> {
    let fresh = crate::auth::secret::random_bytes::<32>();
    c.execute(
        "INSERT INTO meta (key, value) VALUES ('jwt_key', ?1) ON CONFLICT (key) DO NOTHING",
        sql::params![&fresh],
    )?;
    let key = c
        .query_one("SELECT value FROM meta WHERE key = 'jwt_key'", &[])?
        .blob(0)?;
    key.try_into()
        .map_err(|_| StoreError::Corrupt("the stored JWT key is not 32 bytes".into()))
}

/// Records which key this node signs worker tokens with (its fingerprint, never the key) and
/// returns what the previous node to start recorded, so that a node with a different key is
/// reported at start rather than as 401s on the others.
pub fn record_jwt_key_fingerprint(
    c: &mut dyn Sql,
    fingerprint: &str,
) -> StoreResult<Option<String>> {
    let before = c
        .query_opt(
            "SELECT value FROM meta WHERE key = 'jwt_key_fingerprint'",
            &[],
        )?
        .map(|row| row.blob(0))
        .transpose()?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    c.execute(
        "INSERT INTO meta (key, value) VALUES ('jwt_key_fingerprint', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        sql::params![fingerprint.as_bytes()],
    )?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_shown_without_its_password() {
        assert_eq!(
            redact_password("postgres://relay:s3cret@db.example:5432/tether?sslmode=disable"),
            "postgres://relay:***@db.example:5432/tether?sslmode=disable"
        );
        assert_eq!(
            redact_password("postgres://relay@db/tether"),
            "postgres://relay@db/tether"
        );
        assert_eq!(
            redact_password("host=/tmp user=x password=y"),
            "host=/tmp user=x password=***"
        );
        assert_eq!(
            Location::Postgres("postgresql://a:b:c@h/d".into()).display(),
            "postgresql://a:***@h/d"
        );
    }
}
