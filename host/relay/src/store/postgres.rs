//! The PostgreSQL store: what several relay nodes share. Queries are the same text as on SQLite
//! (see [`super::sql`]); they run through the synchronous client on tokio's blocking pool, over
//! a small pool of connections, each keeping its prepared statements.
//!
//! The schema is refinery's to version (`migrations/postgres`), under an advisory lock so that
//! nodes starting together migrate once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, GenericClient, NoTls, Statement};

use super::sql::{Dialect, Param, Row, Sql, Value, postgres_placeholders};
use super::{StoreError, StoreResult};

/// Connections open at once, per node. Each request holds one for the length of its queries
/// only, so a handful serves many streams.
pub const POOL: usize = 16;

/// How long connecting may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The migrations, oldest first. Only ever append.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "V1__relay",
        include_str!("../../migrations/postgres/V1__relay.sql"),
    ),
    (
        "V2__presence",
        include_str!("../../migrations/postgres/V2__presence.sql"),
    ),
    (
        "V3__limits",
        include_str!("../../migrations/postgres/V3__limits.sql"),
    ),
    (
        "V4__push",
        include_str!("../../migrations/postgres/V4__push.sql"),
    ),
    (
        "V5__looking",
        include_str!("../../migrations/postgres/V5__looking.sql"),
    ),
];

/// Taken around migrating, so that nodes starting at once migrate one after the other (any
/// constant: it names the lock in this database).
const MIGRATION_LOCK: i64 = 0x7465_7468_6572; // "tether"

/// A connection and the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// The pool.
pub struct Postgres {
    config: postgres::Config,
    idle: Mutex<Vec<Conn>>,
    /// Async callers take one before they take a connection, so that a burst of requests waits
    /// its turn instead of opening connections without bound.
    pub permits: tokio::sync::Semaphore,
}

impl Postgres {
    /// Connect to `url`, check the schema is not newer than this build's and migrate it.
    pub fn open(url: &str) -> StoreResult<Postgres> {
        let pg = Postgres {
            config: configured(url)?,
            idle: Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(POOL),
        };
        let mut conn = pg.connect()?;
        migrate(&mut conn.client, false)?;
        pg.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        Ok(pg)
    }

    fn connect(&self) -> StoreResult<Conn> {
        Ok(Conn {
            client: connect(&self.config)?,
            statements: HashMap::new(),
        })
    }

    fn checkout(&self) -> StoreResult<Conn> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) if !conn.client.is_closed() => Ok(conn),
            _ => self.connect(),
        }
    }

    fn checkin(&self, conn: Conn) {
        if conn.client.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < POOL {
            idle.push(conn);
        }
    }

    /// Run `f` on a pooled connection, in a transaction if `transaction`. Blocking.
    pub fn run<T>(
        &self,
        transaction: bool,
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.checkout()?;
        let Conn { client, statements } = &mut conn;
        let out = if transaction {
            let mut tx = client.transaction()?;
            let out = f(&mut On {
                client: &mut tx,
                statements,
            });
            match out {
                Ok(out) => tx.commit().map(|()| out).map_err(StoreError::from),
                Err(e) => Err(e),
            }
        } else {
            f(&mut On { client, statements })
        };
        self.checkin(conn);
        out
    }
}

impl Drop for Postgres {
    /// A client closes its connection through a runtime of its own, which cannot run on a
    /// thread that drives one: the relay stops (and drops its store) from async code.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::Builder::new()
                .name("postgres-close".into())
                .spawn(move || drop(idle));
        }
    }
}

/// Bring the schema to the newest version (or with `check_only` change nothing); the version
/// found. A schema a newer relay wrote is refused before anything is touched.
pub fn migrate_url(url: &str, check_only: bool) -> StoreResult<usize> {
    migrate(&mut connect(&configured(url)?)?, check_only)
}

/// `url` as a client configuration, with the relay's timeouts where the URL sets none.
fn configured(url: &str) -> StoreResult<postgres::Config> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Unavailable(format!("not a PostgreSQL URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    // A database host that vanished (rather than refusing) must fail queries within seconds,
    // not hold connections until the kernel gives up minutes later.
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(5));
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("tether-relay");
    }
    Ok(config)
}

fn connect(config: &postgres::Config) -> StoreResult<Client> {
    config
        .connect(NoTls)
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))
}

/// The newest schema version this build knows.
pub fn latest() -> usize {
    MIGRATIONS.len()
}

fn runner() -> StoreResult<refinery::Runner> {
    let migrations = MIGRATIONS
        .iter()
        .map(|(name, sql)| refinery::Migration::unapplied(name, sql))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(refinery::Runner::new(&migrations)
        .set_grouped(true)
        .set_abort_divergent(true)
        .set_abort_missing(true))
}

fn migrate(client: &mut Client, check_only: bool) -> StoreResult<usize> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = (|| {
        let runner = runner()?;
        let history: bool = client
            .query_one(
                "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
                &[],
            )?
            .get(0);
        let found = if history {
            runner
                .get_last_applied_migration(client)
                .map_err(|e| StoreError::Migration(e.to_string()))?
                .map_or(0, |m| m.version().max(0) as usize)
        } else {
            0
        };
        if found > latest() {
            return Err(StoreError::TooNew {
                found,
                known: latest(),
            });
        }
        if !check_only {
            runner
                .run(client)
                .map_err(|e| StoreError::Migration(e.to_string()))?;
        }
        Ok(found)
    })();
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    let found = result?;
    unlocked?;
    Ok(found)
}

/// A connection or transaction running the relay's queries.
struct On<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut HashMap<String, Statement>,
}

impl<C: GenericClient> On<'_, C> {
    fn statement(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.client.prepare(&postgres_placeholders(sql))?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

impl<C: GenericClient> Sql for On<'_, C> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Param]) -> StoreResult<u64> {
        let stmt = self.statement(sql)?;
        let bound: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.client.execute(&stmt, &bound)?)
    }

    fn query(&mut self, sql: &str, params: &[Param]) -> StoreResult<Vec<Row>> {
        let stmt = self.statement(sql)?;
        let bound: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.client.query(&stmt, &bound)?.iter().map(row).collect()
    }
}

fn row(r: &postgres::Row) -> StoreResult<Row> {
    let mut out = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob)
        } else if <String as postgres::types::FromSql>::accepts(ty) {
            r.try_get::<_, Option<String>>(i)?.map(Value::Text)
        } else {
            return Err(StoreError::Corrupt(format!(
                "column {} has type {ty}, which the relay never stores",
                column.name()
            )));
        };
        out.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

impl Param<'_> {
    /// Whether this value can be bound where PostgreSQL expects `ty`.
    fn fits(&self, ty: &Type) -> bool {
        match self {
            Param::Null => true,
            Param::Int(_) => {
                <i64 as ToSql>::accepts(ty)
                    || <i32 as ToSql>::accepts(ty)
                    || <i16 as ToSql>::accepts(ty)
                    || <bool as ToSql>::accepts(ty)
            }
            Param::Text(_) => <&str as ToSql>::accepts(ty),
            Param::Blob(_) => <&[u8] as ToSql>::accepts(ty),
        }
    }
}

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Param::Null => Ok(IsNull::Yes),
            // The column decides the width: a count compared with an `int4` is one.
            Param::Int(v) if *ty == Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
            Param::Int(v) if *ty == Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
            Param::Int(v) if *ty == Type::BOOL => (v != 0).to_sql(ty, out),
            Param::Int(v) => v.to_sql(ty, out),
            Param::Text(v) => v.to_sql(ty, out),
            Param::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        // Checked per value in `to_sql_checked`, below: which variant a parameter is decides.
        [Param::Int(0), Param::Text(""), Param::Blob(&[])]
            .iter()
            .any(|p| p.fits(ty))
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if !self.fits(ty) {
            return Err(format!("{self:?} cannot be bound to a {ty} parameter").into());
        }
        self.to_sql(ty, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_binds_only_where_its_kind_fits() {
        let mut out = BytesMut::new();
        let bind = |p: Param, ty: &Type, out: &mut BytesMut| p.to_sql_checked(ty, out).is_ok();
        assert!(!bind(Param::Text("1"), &Type::INT8, &mut out));
        assert!(!bind(Param::Int(1), &Type::TEXT, &mut out));
        assert!(!bind(Param::Blob(b"x"), &Type::TEXT, &mut out));
        assert!(
            !bind(Param::Int(i64::MAX), &Type::INT4, &mut out),
            "too wide for int4"
        );
        assert!(bind(Param::Int(7), &Type::INT4, &mut out));
        assert!(bind(Param::Int(7), &Type::INT8, &mut out));
        assert!(bind(Param::Null, &Type::BYTEA, &mut out));
        assert!(bind(Param::Text("t"), &Type::TEXT, &mut out));
        assert!(bind(Param::Blob(b"x"), &Type::BYTEA, &mut out));
    }
}
