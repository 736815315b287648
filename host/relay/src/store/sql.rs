//! The one SQL surface the relay's queries are written against, so that each query exists once
//! and SQLite and PostgreSQL run the same text with the same parameters: what the relay means by
//! a login, a session or an append cannot drift between the two stores.
//!
//! Queries use SQLite's `?N` placeholders and the SQL both databases share (`ON CONFLICT`,
//! `RETURNING`, `COALESCE`); the PostgreSQL side rewrites the placeholders (see
//! [`postgres_placeholders`]). Where the two must differ (taking a row lock), a query asks
//! [`Sql::dialect`].

use super::{StoreError, StoreResult};

/// Which database a connection speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// One writer at a time: every write is already serialised.
    Sqlite,
    /// Many writers, in many nodes: a write that reads before it writes locks what it read.
    Postgres,
}

/// A parameter bound to a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param<'a> {
    /// SQL NULL.
    Null,
    /// An integer (every number the relay stores fits in 63 bits).
    Int(i64),
    /// Text.
    Text(&'a str),
    /// Bytes (token digests).
    Blob(&'a [u8]),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<u64> for Param<'_> {
    /// Unix times, sequence numbers and epochs: far below 2⁶³, and saturating if not.
    fn from(v: u64) -> Self {
        Param::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Int(i64::from(v))
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Blob(v)
    }
}

impl<'a> From<&'a [u8; 32]> for Param<'a> {
    fn from(v: &'a [u8; 32]) -> Self {
        Param::Blob(v)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// `params![a, b, …]`: a slice of [`Param`]s.
macro_rules! params {
    ($($p:expr),* $(,)?) => {
        &[$($crate::store::sql::Param::from($p)),*][..]
    };
}
pub(crate) use params;

/// A value read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// One row of a result, its columns in the order the query named them.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> StoreResult<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("a query result has no column {i}")))
    }

    fn wrong(i: usize, wanted: &str, found: &Value) -> StoreError {
        StoreError::Corrupt(format!("column {i} holds {found:?}, not {wanted}"))
    }

    /// An integer column.
    pub fn int(&self, i: usize) -> StoreResult<i64> {
        match self.at(i)? {
            Value::Int(v) => Ok(*v),
            other => Err(Self::wrong(i, "an integer", other)),
        }
    }

    /// A count, time, `seq` or epoch: never negative.
    pub fn u64(&self, i: usize) -> StoreResult<u64> {
        let v = self.int(i)?;
        u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {i} is negative: {v}")))
    }

    /// An integer column that may be NULL.
    pub fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// A non-negative integer column that may be NULL.
    pub fn opt_u64(&self, i: usize) -> StoreResult<Option<u64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.u64(i).map(Some),
        }
    }

    /// A text column.
    pub fn text(&self, i: usize) -> StoreResult<String> {
        match self.at(i)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(Self::wrong(i, "text", other)),
        }
    }

    /// A text column, moved out of the row (the row keeps NULL there): for large values read
    /// once, such as event payloads.
    pub fn take_text(&mut self, i: usize) -> StoreResult<String> {
        match self.0.get_mut(i) {
            Some(Value::Text(v)) => Ok(std::mem::take(v)),
            Some(other) => Err(Self::wrong(i, "text", other)),
            None => Err(StoreError::Corrupt(format!(
                "a query result has no column {i}"
            ))),
        }
    }

    /// A text column that may be NULL.
    pub fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    /// A bytes column.
    pub fn blob(&self, i: usize) -> StoreResult<Vec<u8>> {
        match self.at(i)? {
            Value::Blob(v) => Ok(v.clone()),
            other => Err(Self::wrong(i, "bytes", other)),
        }
    }
}

/// A connection (inside a transaction, for writes) that runs the relay's queries.
pub trait Sql {
    /// Which database this is.
    fn dialect(&self) -> Dialect;

    /// Run a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Param]) -> StoreResult<u64>;

    /// Run a query; every row.
    fn query(&mut self, sql: &str, params: &[Param]) -> StoreResult<Vec<Row>>;

    /// Run a query that yields at most one row.
    fn query_opt(&mut self, sql: &str, params: &[Param]) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Run a query that yields exactly one row.
    fn query_one(&mut self, sql: &str, params: &[Param]) -> StoreResult<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| StoreError::Corrupt("a query that always answers did not".into()))
    }
}

/// SQLite's `?N` placeholders as PostgreSQL's `$N`, leaving quoted text alone. The relay's
/// queries are constants written for both; this only renames their parameters.
pub fn postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renamed_outside_quotes_only() {
        assert_eq!(
            postgres_placeholders("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d > ?10"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d > $10"
        );
        assert_eq!(
            postgres_placeholders("UPDATE t SET s = 'it''s ?' WHERE id = ?1"),
            "UPDATE t SET s = 'it''s ?' WHERE id = $1"
        );
    }

    #[test]
    fn params_convert_and_saturate() {
        let p: &[Param] = params![1_i64, u64::MAX, true, "x", None::<i64>, &[1u8, 2][..]];
        assert_eq!(
            p,
            &[
                Param::Int(1),
                Param::Int(i64::MAX),
                Param::Int(1),
                Param::Text("x"),
                Param::Null,
                Param::Blob(&[1, 2]),
            ]
        );
    }

    #[test]
    fn rows_refuse_the_wrong_kind_of_value() {
        let row = Row(vec![Value::Int(-1), Value::Null, Value::Text("t".into())]);
        assert_eq!(row.int(0).unwrap(), -1);
        assert!(row.u64(0).is_err(), "negative");
        assert_eq!(row.opt_u64(1).unwrap(), None);
        assert_eq!(row.opt_text(1).unwrap(), None);
        assert!(row.int(2).is_err());
        assert!(row.text(1).is_err(), "NULL is not text");
        assert!(row.blob(2).is_err());
        assert!(row.int(3).is_err(), "no such column");
        let mut row = row;
        assert_eq!(row.take_text(2).unwrap(), "t");
        assert!(row.take_text(0).is_err(), "not text");
        assert!(row.take_text(9).is_err(), "no such column");
    }
}
