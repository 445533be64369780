//! Seva's storage: the schema and migrations for SQLite and PostgreSQL, the repositories
//! that read and write the domain, the append-only event log written in the same
//! transaction as every change, and the durable job queue.
//!
//! Everything goes through [`Store::write`] (one transaction, answered after commit) or
//! [`Store::read`] (one consistent snapshot). Repository functions take `&mut dyn Conn`
//! and are the same code for both databases.

pub mod agents;
pub mod attachments;
pub mod bot;
pub mod chat;
pub mod contacts;
pub mod conversations;
pub mod db;
pub mod email;
pub mod events;
pub mod fields;
pub mod idempotency;
pub mod inboxes;
pub mod jobs;
pub mod knowledge;
pub mod macros;
pub mod messages;
mod migrations;
pub mod notifications;
pub mod organizations;
pub mod page_cache;
mod postgres;
pub mod privacy;
pub mod routing;
pub mod rules;
pub mod sla;
mod sqlite;
pub mod teams;
pub mod transfers;
pub mod views;
mod wal_writes;
pub mod webhooks;

use std::any::Any;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tokio::sync::broadcast;

pub use db::{BoxFuture, Conn, Dialect, Row, Value};
pub use events::Event;
pub use sqlite::WriteStats;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// A rule of the domain said no; the message is for the person who asked.
    #[error("{field}: {message}")]
    Invalid {
        field: std::borrow::Cow<'static, str>,
        message: String,
    },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database: {}", pg_detail(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("unexpected data in the database: {0}")]
    Decode(String),
    #[error("database: {0}")]
    Backend(String),
}

impl Error {
    pub fn invalid(
        field: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Whether the database refused a row because it would duplicate a unique key.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            Error::Postgres(e) => {
                e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A JSON value's text, written straight into a buffer: its `Display` (and so
/// `to_string`) goes through a formatter, one dynamic call per piece, which was 3% of the
/// writer's time per create in profiles.
pub(crate) fn json_text(value: &serde_json::Value) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Backend(format!("cannot write JSON: {e}")))
}

/// PostgreSQL's own words for an error ("db error" alone tells nobody anything).
fn pg_detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// The database, whichever it is, shared by every request.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    events: broadcast::Sender<Arc<Event>>,
}

impl Store {
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        let (events, _) = broadcast::channel(4096);
        let publisher = events.clone();
        let path = path.to_path_buf();
        let sqlite = tokio::task::spawn_blocking(move || {
            sqlite::Sqlite::open(&path, move |batch| {
                for e in batch {
                    let _ = publisher.send(Arc::new(e));
                }
            })
        })
        .await
        .map_err(|e| Error::Backend(e.to_string()))??;
        Ok(Self {
            backend: Arc::new(Backend::Sqlite(sqlite)),
            events,
        })
    }

    pub async fn open_postgres(url: &str, pool_size: usize) -> Result<Self> {
        let (events, _) = broadcast::channel(4096);
        let pg = postgres::Postgres::open(url, pool_size).await?;
        Ok(Self {
            backend: Arc::new(Backend::Postgres(pg)),
            events,
        })
    }

    pub fn dialect(&self) -> Dialect {
        match &*self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs `op` in a transaction. Returns once the transaction is durably committed (or
    /// rolled back, with the error); its events are then published to subscribers.
    pub async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let op = erase(settled(op));
        let value = match &*self.backend {
            Backend::Sqlite(db) => db.write(op).await?,
            Backend::Postgres(db) => self.published(db.write(op).await?),
        };
        unerase(value)
    }

    /// [`Store::write`] for an operation that may be run more than once: it does nothing
    /// but its work on the database, and that work may be done again from the start (new
    /// ids and times are fine; it is answered only once, after the commit that holds it).
    /// SQLite's writer then runs it without a savepoint of its own, which every page the
    /// request changes would be copied into; should it fail after changing rows, the
    /// writer rolls back the whole transaction and runs the other writes in it again.
    pub async fn write_repeatable<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> Fn(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + Sync + 'static,
    {
        let op = Arc::new(op);
        let again: db::RepeatableOp<Box<dyn Any + Send>> = Arc::new(move |conn: &mut dyn Conn| {
            let op = op.clone();
            Box::pin(async move {
                let mark = conn.emitted().len();
                let value = op(&mut *conn).await?;
                rules::settle(conn, mark).await?;
                Ok(Box::new(value) as Box<dyn Any + Send>)
            })
        });
        let value = match &*self.backend {
            Backend::Sqlite(db) => db.write_repeatable(again).await?,
            Backend::Postgres(db) => {
                self.published(db.write(Box::new(move |conn| again(conn))).await?)
            }
        };
        unerase(value)
    }

    /// Publishes the events of a PostgreSQL transaction that has committed (SQLite's
    /// writer publishes its own, in commit order) and hands back its value.
    fn published(&self, (value, events): (Box<dyn Any + Send>, Vec<Event>)) -> Box<dyn Any + Send> {
        for e in events {
            let _ = self.events.send(Arc::new(e));
        }
        value
    }

    /// Runs `op` on a consistent read-only snapshot.
    pub async fn read<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let op = erase(op);
        let value = match &*self.backend {
            Backend::Sqlite(db) => db.read(op).await?,
            Backend::Postgres(db) => db.read(op).await?,
        };
        unerase(value)
    }

    /// The SQLite write path's counters; `None` on PostgreSQL, which keeps its own.
    pub fn write_stats(&self) -> Option<WriteStats> {
        match &*self.backend {
            Backend::Sqlite(db) => Some(db.write_stats()),
            Backend::Postgres(_) => None,
        }
    }

    /// Events as they are committed by this node.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// A consistent online copy of the SQLite database (PostgreSQL has pg_dump for this).
    pub async fn backup_sqlite(&self, dest: &Path) -> Result<()> {
        match &*self.backend {
            Backend::Sqlite(db) => {
                let dest = dest.to_path_buf();
                let path = db.path().to_path_buf();
                tokio::task::spawn_blocking(move || sqlite::backup(&path, &dest))
                    .await
                    .map_err(|e| Error::Backend(e.to_string()))?
            }
            Backend::Postgres(_) => Err(Error::Backend(
                "backup copies the SQLite database; for PostgreSQL use pg_dump".into(),
            )),
        }
    }
}

/// `op`, then the rules its changes set off, in the same transaction.
fn settled<T, F>(
    op: F,
) -> impl for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
{
    move |conn: &mut dyn Conn| -> BoxFuture<'_, Result<T>> {
        Box::pin(async move {
            let mark = conn.emitted().len();
            let value = op(&mut *conn).await?;
            rules::settle(conn, mark).await?;
            Ok(value)
        })
    }
}

fn erase<T, F>(op: F) -> db::Op<Box<dyn Any + Send>>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
{
    Box::new(move |conn: &mut dyn Conn| {
        let fut = op(conn);
        Box::pin(async move { fut.await.map(|v| Box::new(v) as Box<dyn Any + Send>) })
    })
}

/// The value an erased operation answered, as the type its caller expects.
fn unerase<T: 'static>(value: Box<dyn Any + Send>) -> Result<T> {
    Ok(*value
        .downcast::<T>()
        .map_err(|_| Error::Backend("type mix-up".into()))?)
}

/// Drives a future to completion on the current thread. SQLite's futures are always ready
/// at once (the work is synchronous), so this never actually waits; it exists so that the
/// repositories can be one async code path for both databases.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Boxes an async block as an operation for [`Store::write`] / [`Store::read`]:
/// `store.write(op!(conn => conversations::get(conn, id).await))`.
#[macro_export]
macro_rules! op {
    ($conn:ident => $body:expr) => {
        move |$conn: &mut dyn $crate::Conn| -> $crate::BoxFuture<'_, _> {
            Box::pin(async move { $body })
        }
    };
}

/// The current time as the store records it.
pub fn now() -> seva_core::time::Timestamp {
    seva_core::time::Timestamp::now()
}
