//! The one seam between Seva's repositories and the two databases. Repositories are
//! written once, against [`Conn`], with PostgreSQL-style `$1` placeholders; each backend
//! runs them its own way (SQLite synchronously on its writer thread, PostgreSQL over the
//! network). Values cross the seam as plain integers, text and bytes, which both databases
//! store the same way.

use std::future::Future;
use std::pin::Pin;

use crate::events::Event;
use crate::{Error, Result};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(via $conv:ident)?),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(v $(.$conv())? .into())
            }
        }
    )*};
}
value_from!(i64 => Int, i32 => Int, u32 => Int, String => Text, &str => Text via to_string, &String => Text via clone, Vec<u8> => Blob);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds the argument slice of a query: `args![id, name, 3]`.
#[macro_export]
macro_rules! args {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Value::from($v)),*][..] };
}

/// One result row, read by column position.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| Error::Decode(format!("no column {i}")))
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        match self.at(i)? {
            Value::Int(v) => Ok(*v),
            other => Err(Error::Decode(format!(
                "column {i}: expected integer, got {other:?}"
            ))),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// A text column, borrowed.
    pub fn str(&self, i: usize) -> Result<&str> {
        match self.at(i)? {
            Value::Text(v) => Ok(v),
            other => Err(Error::Decode(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }

    pub fn text(&self, i: usize) -> Result<String> {
        self.str(i).map(str::to_owned)
    }

    /// A text column, moved out of the row (which keeps an empty text in its place): for
    /// decoders that own the row, so that the text is not copied.
    pub fn take_text(&mut self, i: usize) -> Result<String> {
        match self.0.get_mut(i) {
            Some(Value::Text(v)) => Ok(std::mem::take(v)),
            _ => self.text(i),
        }
    }

    pub fn opt_take_text(&mut self, i: usize) -> Result<Option<String>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.take_text(i).map(Some),
        }
    }

    pub fn is_null(&self, i: usize) -> Result<bool> {
        Ok(matches!(self.at(i)?, Value::Null))
    }

    pub fn blob(&self, i: usize) -> Result<Vec<u8>> {
        match self.at(i)? {
            Value::Blob(v) => Ok(v.clone()),
            other => Err(Error::Decode(format!(
                "column {i}: expected bytes, got {other:?}"
            ))),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool> {
        self.int(i).map(|v| v != 0)
    }

    /// A column holding a word or id that parses into a domain type.
    pub fn parse<T: std::str::FromStr>(&self, i: usize) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.str(i)?;
        text.parse()
            .map_err(|e| Error::Decode(format!("column {i} ({text:?}): {e}")))
    }

    pub fn opt_parse<T: std::str::FromStr>(&self, i: usize) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.parse(i).map(Some),
        }
    }
}

/// A connection inside a transaction (writes) or a read-only snapshot (reads).
pub trait Conn: Send {
    fn dialect(&self) -> Dialect;
    fn execute<'a>(&'a mut self, sql: &'a str, args: &'a [Value]) -> BoxFuture<'a, Result<u64>>;
    fn query<'a>(&'a mut self, sql: &'a str, args: &'a [Value]) -> BoxFuture<'a, Result<Vec<Row>>>;
    /// Records an event written in this transaction, to be published once it commits.
    fn emitted(&mut self) -> &mut Vec<Event>;
}

impl dyn Conn + '_ {
    pub async fn query_opt(&mut self, sql: &str, args: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, args).await?.into_iter().next())
    }

    pub async fn query_one(&mut self, sql: &str, args: &[Value]) -> Result<Row> {
        self.query_opt(sql, args)
            .await?
            .ok_or_else(|| Error::Decode("expected one row, got none".into()))
    }
}

/// A unit of work handed to the store: it gets a connection and returns a value.
pub type Op<T> = Box<dyn for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send>;

/// An operation that may be run more than once (see `Store::write_repeatable`).
pub type RepeatableOp<T> =
    std::sync::Arc<dyn for<'c> Fn(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_borrowed_copied_or_moved_out() {
        let id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let mut row = Row(vec![
            Value::Text(id.into()),
            Value::Text("Ευχαριστώ πολύ".into()),
            Value::Null,
            Value::Int(7),
        ]);
        let parsed: uuid::Uuid = row.parse(0).unwrap();
        assert_eq!(parsed.to_string(), id);
        assert_eq!(row.str(1).unwrap(), "Ευχαριστώ πολύ");
        assert_eq!(row.text(1).unwrap(), "Ευχαριστώ πολύ");
        assert_eq!(row.take_text(1).unwrap(), "Ευχαριστώ πολύ");
        // Moved out: the row keeps an empty text in its place.
        assert_eq!(row.str(1).unwrap(), "");
        assert_eq!(row.opt_take_text(2).unwrap(), None);
        assert!(row.take_text(2).is_err(), "a null is not text");
        assert!(row.take_text(3).is_err(), "an integer is not text");
        assert!(row.take_text(9).is_err(), "no such column");
        assert!(row.parse::<uuid::Uuid>(3).is_err());
    }
}
