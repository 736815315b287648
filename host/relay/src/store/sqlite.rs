//! The SQLite store (bundled, WAL): one writer connection serialises every change, which is
//! also what orders them, and commits the writes that queue meanwhile together
//! ([`super::group`]); a second connection serves reads, which WAL lets run beside writes.
//! Calls run inline (see [`super::Store::write`] for why).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use super::group::{Held, Writer};
use super::sql::{Dialect, Param, Row, Sql, Value};
use super::{StoreResult, schema};

/// The two connections.
pub struct Sqlite {
    writer: Writer,
    reader: Mutex<Connection>,
}

impl Sqlite {
    /// Open (creating and migrating if needed) the database at `path`; its writer counts its
    /// writes and commits in `metrics`.
    pub fn open(path: &Path, metrics: &crate::metrics::StoreMetrics) -> StoreResult<Sqlite> {
        let mut writer = Connection::open(path)?;
        schema::configure(&writer)?;
        schema::migrate(&mut writer)?;
        let reader = Connection::open(path)?;
        schema::configure(&reader)?;
        Ok(Sqlite {
            writer: Writer::new(writer, metrics.writes.clone(), metrics.commits.clone()),
            reader: Mutex::new(reader),
        })
    }

    /// The writer, held: while it is, no other change can happen.
    pub fn writer(&self) -> Held<'_> {
        self.writer.hold()
    }

    /// The writer's queue: see [`Writer::write`].
    pub fn queue(&self) -> &Writer {
        &self.writer
    }

    /// Run `f` in a transaction on the held writer, committing if it succeeds.
    pub fn transact<T>(
        conn: &mut Connection,
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let tx = conn.transaction()?;
        let out = f(&mut On(&tx))?;
        tx.commit()?;
        Ok(out)
    }

    /// Run `f` on the reader.
    pub fn read<T>(&self, f: impl FnOnce(&mut dyn Sql) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut On(&conn))
    }
}

/// A connection (or transaction, which derefs to one) running the relay's queries.
pub struct On<'a>(pub &'a Connection);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Param::Null => ValueRef::Null,
            Param::Int(v) => ValueRef::Integer(v),
            Param::Text(v) => ValueRef::Text(v.as_bytes()),
            Param::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

impl Sql for On<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Param]) -> StoreResult<u64> {
        // Cached: most statements run on every request, and parsing the SQL each time cost
        // about a fifth of a publish (see BENCHMARKS.md, "Relay").
        let mut stmt = self.0.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Param]) -> StoreResult<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(columns);
            for i in 0..columns {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Int(v as i64),
                    ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
                    ValueRef::Blob(v) => Value::Blob(v.to_vec()),
                });
            }
            out.push(Row(row));
        }
        Ok(out)
    }
}
