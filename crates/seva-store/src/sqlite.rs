//! SQLite backend: one writer thread with group commit, and a small pool of readers.
//!
//! SQLite allows one writer at a time, and a commit that waits for the disk costs about
//! 150 µs here (about 6,800 commits/s). Writes therefore go to a single thread that takes
//! every request waiting in its queue, runs each inside its own savepoint of one
//! transaction and commits once. A second thread then syncs the write-ahead log and only
//! then answers each request, while the writer already works on the next batch. A request
//! that fails is rolled back to its savepoint without touching the others. Readers use
//! their own connections; WAL mode lets them read while the writer writes.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::db::{BoxFuture, Conn, Dialect, Op, RepeatableOp, Row, Value};
use crate::events::Event;
use crate::{Error, Result, block_on};

/// The most requests one commit carries; bounds the latency a request can see behind
/// others in the same batch.
const MAX_BATCH: usize = 512;
const READERS: usize = 4;

type AnyOp = Op<Box<dyn Any + Send>>;
type AgainOp = RepeatableOp<Box<dyn Any + Send>>;
type Reply = oneshot::Sender<Result<Box<dyn Any + Send>>>;
/// A write in the writer's queue: the work, where its answer goes, and when it came.
type Queued = (Work, Reply, Instant);

/// A write as the writer gets it: run once (in a savepoint), or one it may run again.
enum Work {
    Once(AnyOp),
    Again(AgainOp),
}

pub struct Sqlite {
    writes: mpsc::Sender<Queued>,
    readers: Mutex<Vec<SqliteConn>>,
    read_permits: Semaphore,
    path: std::path::PathBuf,
    counters: Arc<Counters>,
}

/// What the writer and the sync thread have done since the start, for `/metrics`.
#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    writes: AtomicU64,
    writer_busy_micros: AtomicU64,
    syncs: AtomicU64,
    sync_micros: AtomicU64,
    queued_micros: AtomicU64,
    batched_micros: AtomicU64,
    sync_waited_micros: AtomicU64,
    synced_micros: AtomicU64,
    answered_micros: AtomicU64,
}

/// The SQLite write path's work since the start: group commit at a glance (writes per
/// commit, how busy the writer is, what a sync costs).
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteStats {
    /// Transactions committed, each carrying a batch of writes.
    pub commits: u64,
    /// Writes (calls of `Store::write`) run, committed or rolled back.
    pub writes: u64,
    /// Time the writer spent running batches, from `BEGIN` to the end of `COMMIT`.
    pub writer_busy_micros: u64,
    /// `fdatasync` calls on the write-ahead log, each covering one or more commits.
    pub syncs: u64,
    pub sync_micros: u64,
    /// Where the writes' time went, each summed over the writes: waiting in the writer's
    /// queue for their batch to begin; in their batch until its commit; committed,
    /// waiting for the sync thread; in their sync. And from the call to its answer, which
    /// adds the answer's way back to the caller's task.
    pub queued_micros: u64,
    pub batched_micros: u64,
    pub sync_waited_micros: u64,
    pub synced_micros: u64,
    pub answered_micros: u64,
}

/// Statement translations by their text. Every statement is looked up here, so once and
/// by a fast hash (hashbrown's foldhash): std's SipHash over each statement's whole text,
/// twice, was a percent of the writer.
type Translations = hashbrown::HashMap<String, Translated>;

pub struct SqliteConn {
    conn: Connection,
    translated: Translations,
    emitted: Vec<Event>,
}

/// A repository's statement as SQLite runs it.
struct Translated {
    /// `$1` (what repositories write) becomes `?1` (what SQLite binds by position).
    sql: String,
    /// An `INSERT … RETURNING seq` into a table whose `seq` is the rowid, run without the
    /// `RETURNING`: SQLite builds a temporary b-tree for every statement that returns rows
    /// it changed (a new pager and page cache each time, a tenth of the writer's time per
    /// create in profiles), while the new rowid is known without it.
    returns_rowid: bool,
}

impl Translated {
    fn new(sql: &str) -> Self {
        let plain = sql.trim_start();
        let stripped = plain.trim_end().strip_suffix("RETURNING seq");
        match stripped {
            Some(insert) if plain.starts_with("INSERT INTO ") && !plain.contains("ON CONFLICT") => {
                Self {
                    sql: insert.replace('$', "?"),
                    returns_rowid: true,
                }
            }
            _ => Self {
                sql: sql.replace('$', "?"),
                returns_rowid: false,
            },
        }
    }
}

/// Who a connection is for: the writer's log writes go through [`crate::wal_writes`].
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Reader,
    Writer,
    Checkpointer,
}

fn open(path: &Path, role: Role) -> Result<Connection> {
    let read_only = role == Role::Reader;
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = if role == Role::Writer {
        crate::wal_writes::register().map_err(|rc| {
            Error::Backend(format!(
                "cannot register the writer's VFS (SQLite error {rc})"
            ))
        })?;
        Connection::open_with_flags_and_vfs(path, flags, crate::wal_writes::NAME)?
    } else {
        Connection::open_with_flags(path, flags)?
    };
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // FULL: a commit is on disk when it returns, so an acknowledged message survives a
    // power cut, not only a crash of the process.
    // The writer commits with synchronous=NORMAL (no fsync inside COMMIT) and a second
    // thread syncs the log before anyone is answered: see [`syncer_loop`].
    let pragmas = if read_only {
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -16000; PRAGMA temp_store = MEMORY;"
    } else {
        "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -4000; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; \
         PRAGMA journal_size_limit = 67108864;"
    };
    conn.execute_batch(pragmas)?;
    // Plans must not depend on the values bound: otherwise SQLite marks a statement with
    // `col = ?` and an ORDER BY (or a `LIMIT ?`) to be compiled again at every new
    // binding, and the statement cache saves nothing (it was 14% of the writer's time
    // at every create, in `rules::enabled`; docs/benchmarks.md).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

impl SqliteConn {
    fn new(conn: Connection) -> Self {
        Self {
            conn,
            translated: Translations::default(),
            emitted: Vec::new(),
        }
    }

    fn run_query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>> {
        let t = translated(&mut self.translated, sql);
        let mut stmt = self.conn.prepare_cached(&t.sql)?;
        bind(&mut stmt, args)?;
        if t.returns_rowid {
            let inserted = stmt.raw_execute()?;
            return Ok(if inserted == 0 {
                Vec::new()
            } else {
                vec![Row(vec![Value::Int(self.conn.last_insert_rowid())])]
            });
        }
        let columns = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Int(v as i64),
                    ValueRef::Text(t) => Value::Text(text_of(t)),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn run_execute(&mut self, sql: &str, args: &[Value]) -> Result<u64> {
        let t = translated(&mut self.translated, sql);
        let mut stmt = self.conn.prepare_cached(&t.sql)?;
        bind(&mut stmt, args)?;
        Ok(stmt.raw_execute()? as u64)
    }
}

/// A text cell as a `String`. SQLite does not check that text is UTF-8; bytes that are not
/// show as U+FFFD. The strict check first: it is the usual case, and faster than the
/// lossy one's walk.
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The translation of `sql`, made once per statement text.
fn translated<'m>(cache: &'m mut Translations, sql: &str) -> &'m Translated {
    cache.entry_ref(sql).or_insert_with(|| Translated::new(sql))
}

fn bind(stmt: &mut rusqlite::CachedStatement<'_>, args: &[Value]) -> Result<()> {
    for (i, v) in args.iter().enumerate() {
        let i = i + 1;
        match v {
            Value::Null => stmt.raw_bind_parameter(i, rusqlite::types::Null)?,
            Value::Int(v) => stmt.raw_bind_parameter(i, v)?,
            Value::Text(v) => stmt.raw_bind_parameter(i, v.as_str())?,
            Value::Blob(v) => stmt.raw_bind_parameter(i, v.as_slice())?,
        }
    }
    Ok(())
}

impl Conn for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute<'a>(&'a mut self, sql: &'a str, args: &'a [Value]) -> BoxFuture<'a, Result<u64>> {
        let r = self.run_execute(sql, args);
        Box::pin(std::future::ready(r))
    }

    fn query<'a>(&'a mut self, sql: &'a str, args: &'a [Value]) -> BoxFuture<'a, Result<Vec<Row>>> {
        let r = self.run_query(sql, args);
        Box::pin(std::future::ready(r))
    }

    fn emitted(&mut self) -> &mut Vec<Event> {
        &mut self.emitted
    }
}

impl Sqlite {
    /// Opens (creating if needed) the database at `path`, runs migrations, and starts the
    /// writer thread. `publish` receives the events of every commit, in commit order.
    pub fn open(path: &Path, publish: impl Fn(Vec<Event>) + Send + 'static) -> Result<Self> {
        // Before SQLite's first use in this process, or not at all.
        crate::page_cache::install();
        let mut writer = SqliteConn::new(open(path, Role::Writer)?);
        crate::migrations::run_sqlite(&mut writer.conn)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(SqliteConn::new(open(path, Role::Reader)?));
        }
        let (tx, rx) = mpsc::channel::<Queued>(8192);
        let wal = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(wal_path(path))
            .map_err(|e| Error::Backend(format!("cannot open the write-ahead log: {e}")))?;
        let (synced_tx, synced_rx) = std::sync::mpsc::channel::<Committed>();
        let (checkpoint_tx, checkpoint_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let checkpointer = open(path, Role::Checkpointer)?;
        let log = Arc::new(Log::default());
        let frames = log.clone();
        writer
            .conn
            .wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
                frames.frames.store(pages.max(0) as u32, Ordering::Relaxed);
                Ok(())
            }))?;
        let copied = log.clone();
        let counters = Arc::new(Counters::default());
        let (writer_counters, sync_counters) = (counters.clone(), counters.clone());
        std::thread::Builder::new()
            .name("seva-sqlite-ckpt".into())
            .spawn(move || checkpointer_loop(checkpointer, checkpoint_rx, &copied))
            .map_err(|e| Error::Backend(format!("cannot start the checkpoint thread: {e}")))?;
        std::thread::Builder::new()
            .name("seva-sqlite-sync".into())
            .spawn(move || syncer_loop(wal, synced_rx, checkpoint_tx, publish, &sync_counters))
            .map_err(|e| Error::Backend(format!("cannot start the sync thread: {e}")))?;
        std::thread::Builder::new()
            .name("seva-sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, synced_tx, &log, &writer_counters))
            .map_err(|e| Error::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            writes: tx,
            readers: Mutex::new(readers),
            read_permits: Semaphore::new(READERS),
            path: path.to_path_buf(),
            counters,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write_stats(&self) -> WriteStats {
        let c = &self.counters;
        WriteStats {
            commits: c.commits.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            writer_busy_micros: c.writer_busy_micros.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
            sync_micros: c.sync_micros.load(Ordering::Relaxed),
            queued_micros: c.queued_micros.load(Ordering::Relaxed),
            batched_micros: c.batched_micros.load(Ordering::Relaxed),
            sync_waited_micros: c.sync_waited_micros.load(Ordering::Relaxed),
            synced_micros: c.synced_micros.load(Ordering::Relaxed),
            answered_micros: c.answered_micros.load(Ordering::Relaxed),
        }
    }

    pub async fn write(&self, op: AnyOp) -> Result<Box<dyn Any + Send>> {
        self.submit(Work::Once(op)).await
    }

    pub async fn write_repeatable(&self, op: AgainOp) -> Result<Box<dyn Any + Send>> {
        self.submit(Work::Again(op)).await
    }

    async fn submit(&self, work: Work) -> Result<Box<dyn Any + Send>> {
        let (reply, answer) = oneshot::channel();
        let asked = Instant::now();
        self.writes
            .send((work, reply, asked))
            .await
            .map_err(|_| Error::Backend("the database writer has stopped".into()))?;
        let answer = answer
            .await
            .map_err(|_| Error::Backend("the database writer has stopped".into()))?;
        add_micros(&self.counters.answered_micros, asked.elapsed(), 1);
        answer
    }

    /// Runs a read on the calling thread. Reads are small (a page of at most 200 rows, one
    /// object and its parts) and SQLite answers them in microseconds from its cache;
    /// handing each one to another thread cost more CPU in thread wake-ups than the read
    /// itself (measured with perf under `seva bench`).
    pub async fn read(&self, op: AnyOp) -> Result<Box<dyn Any + Send>> {
        let _permit = self
            .read_permits
            .acquire()
            .await
            .map_err(|_| Error::Backend("closed".into()))?;
        let mut conn = self
            .readers
            .lock()
            .map_err(|_| Error::Backend("reader pool poisoned".into()))?
            .pop()
            .ok_or_else(|| Error::Backend("no reader free".into()))?;
        // A read sees one consistent snapshot across its statements.
        let result = statement(&conn.conn, "BEGIN").and_then(|_| run_guarded(&mut conn, op));
        let _ = statement(&conn.conn, "ROLLBACK");
        if let Ok(mut pool) = self.readers.lock() {
            pool.push(conn);
        }
        result
    }
}

/// A consistent copy of the live database at `dest`, taken while it keeps serving:
/// `VACUUM INTO` reads one snapshot, so writes that commit meanwhile are simply not in it.
pub fn backup(path: &Path, dest: &Path) -> Result<()> {
    let conn = open(path, Role::Reader)?;
    let dest = dest.to_string_lossy().to_string();
    conn.execute("VACUUM INTO ?1", [dest])?;
    Ok(())
}

/// Runs a fixed statement through the statement cache: the savepoints around every
/// request are parsed once, not once per request.
fn statement(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs one operation, turning a panic into an error so that one bad request cannot take
/// the writer (and with it every later write) down.
fn run_guarded(conn: &mut SqliteConn, op: AnyOp) -> Result<Box<dyn Any + Send>> {
    guarded(|| block_on(op(conn)))
}

fn guarded(run: impl FnOnce() -> Result<Box<dyn Any + Send>>) -> Result<Box<dyn Any + Send>> {
    std::panic::catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| {
        Err(Error::Backend(
            "an operation panicked; it was rolled back".into(),
        ))
    })
}

/// Adds `times` times `spent` to a counter of microseconds.
fn add_micros(counter: &AtomicU64, spent: std::time::Duration, times: usize) {
    counter.fetch_add(spent.as_micros() as u64 * times as u64, Ordering::Relaxed);
}

fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    p.into()
}

/// One committed batch, waiting for its log to reach the disk.
struct Committed {
    at: Instant,
    answers: Vec<(Reply, Result<Box<dyn Any + Send>>)>,
    events: Vec<Event>,
}

/// Group commit, pipelined. The writer commits a batch into the write-ahead log (written,
/// not yet synced) and goes straight on to the next batch; this thread takes every batch
/// committed so far, syncs the log once (`fdatasync` on the log file: it covers every
/// frame written before the call, whichever file handle wrote it), and only then answers
/// the requests and publishes their events. So the disk's wait overlaps the next batch's
/// work instead of stalling the writer, and still no one hears "done" before the data is
/// on disk. SQLite itself syncs the log before every checkpoint copies it into the
/// database (synchronous=NORMAL in WAL mode), so a checkpoint never outruns this.
fn syncer_loop(
    wal: std::fs::File,
    rx: std::sync::mpsc::Receiver<Committed>,
    checkpoint: std::sync::mpsc::SyncSender<()>,
    publish: impl Fn(Vec<Event>),
    counters: &Counters,
) {
    let mut pending = Vec::new();
    while let Ok(first) = rx.recv() {
        pending.push(first);
        pending.extend(rx.try_iter());
        let began = Instant::now();
        let synced = wal.sync_data();
        let took = began.elapsed();
        counters.syncs.fetch_add(1, Ordering::Relaxed);
        add_micros(&counters.sync_micros, took, 1);
        for batch in &pending {
            let n = batch.answers.len();
            add_micros(&counters.sync_waited_micros, began - batch.at, n);
            add_micros(&counters.synced_micros, took, n);
        }
        if let Err(e) = &synced {
            // A failed fsync may have dropped the dirty pages; retrying could "succeed"
            // without them. Answer the waiting requests with the error and stop taking
            // writes, as PostgreSQL does; a restart recovers from what is on disk.
            tracing::error!(error = %e, "syncing the write-ahead log failed; writes stop");
        }
        for batch in pending.drain(..) {
            match &synced {
                Ok(()) => {
                    for (reply, result) in batch.answers {
                        let _ = reply.send(result);
                    }
                    if !batch.events.is_empty() {
                        publish(batch.events);
                    }
                }
                Err(e) => {
                    for (reply, _) in batch.answers {
                        let _ = reply.send(Err(Error::Backend(format!(
                            "the change could not be made durable: {e}"
                        ))));
                    }
                }
            }
        }
        if synced.is_err() {
            return;
        }
        // A nudge, not a queue: one waiting nudge stands for any number of commits.
        let _ = checkpoint.try_send(());
    }
}

/// The least time between two checkpoints. Each one syncs the database file; a page
/// changed by many commits in between is copied once.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// The log is started over from its beginning once it holds this many frames (32 MiB of
/// 1 KiB pages) and a checkpoint has copied them all. Under steady writes a checkpoint
/// never catches up on its own, since every commit adds frames while it copies; the log
/// would grow without end (375 MB in a 10-second `seva bench`), and every sync would
/// extend the file, which costs `fdatasync` a journal commit (0.34 ms against 0.15 ms
/// for frames written over old ones, here). Each start over costs the writer a pause
/// ([`finish_checkpoint`]: the log's last frames copied, two syncs) that every request
/// waits behind; at 8 MiB that was five pauses a second under `seva bench` and a tenth
/// of the writer's time, at 32 MiB it is about a fiftieth (docs/benchmarks.md).
const RESTART_FRAMES: u32 = 32_768;

/// The writer copies the last frames itself, between two batches, when no more than
/// this many are left after the checkpoint thread's last run.
const TAIL_FRAMES: u32 = 2048;

/// What the writer and the checkpoint thread know of the write-ahead log.
#[derive(Default)]
struct Log {
    /// Frames in the log after the last commit.
    frames: AtomicU32,
    /// Frames the checkpoint thread's last run had copied into the database.
    copied: AtomicU32,
}

/// Runs a passive checkpoint; returns the frames in the log and the frames copied.
fn checkpoint(conn: &Connection) -> rusqlite::Result<(u32, u32)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((
            r.get::<_, i64>(1)?.max(0) as u32,
            r.get::<_, i64>(2)?.max(0) as u32,
        ))
    })
}

/// Copies committed pages from the write-ahead log into the database, on a connection of
/// its own, so that neither the copying nor the database file's sync holds up the writer
/// (SQLite's automatic checkpoint runs inside the commit that crosses 1,000 pages, and
/// blocks every request behind it). A passive checkpoint never waits for the writer or
/// the readers; it syncs the log before copying, so it never copies what the sync thread
/// has not made durable yet. Once the log is long enough to start over
/// ([`RESTART_FRAMES`]) it runs after every sync, each run copying what came during the
/// one before, until the tail is short enough for the writer to copy.
fn checkpointer_loop(conn: Connection, nudges: std::sync::mpsc::Receiver<()>, log: &Log) {
    while nudges.recv().is_ok() {
        match checkpoint(&conn) {
            Ok((_, copied)) => log.copied.store(copied, Ordering::Relaxed),
            Err(e) => tracing::warn!(error = %e, "checkpoint failed; the next one tries again"),
        }
        if log.frames.load(Ordering::Relaxed) < RESTART_FRAMES {
            std::thread::sleep(CHECKPOINT_EVERY);
        }
    }
}

/// After a commit: when the log is long and the checkpoint thread has copied all but its
/// tail, the writer copies the tail, so that its next transaction starts the log over.
/// Should the tail stay long (writes faster than the copying), the writer copies it all
/// once the log is twice as long as it should be.
fn finish_checkpoint(conn: &Connection, log: &Log) {
    let frames = log.frames.load(Ordering::Relaxed);
    let tail = frames.saturating_sub(log.copied.load(Ordering::Relaxed));
    if frames < RESTART_FRAMES || (tail > TAIL_FRAMES && frames < 2 * RESTART_FRAMES) {
        return;
    }
    match checkpoint(conn) {
        // The checkpoint thread's count belonged to the log that now starts over.
        Ok(_) => log.copied.store(0, Ordering::Relaxed),
        Err(e) => tracing::debug!(error = %e, "the writer's checkpoint did not run"),
    }
}

/// A write run in the open transaction, with what it answered.
struct Done {
    again: Option<AgainOp>,
    reply: Reply,
    result: Result<Box<dyn Any + Send>>,
}

/// Runs a batch's writes in the open transaction, in order. Writes that may run again go
/// without a savepoint while the transaction holds nothing else: one that fails before
/// it changed a row needs nothing undone, and one that fails after has the whole
/// transaction rolled back and the writes before it run again ([`run_again`]). Every
/// other write gets a savepoint, so that it alone is rolled back when it fails; once one
/// is in the transaction, the writes after it get theirs too (a rollback of everything
/// could not run it again). The error, with every reply, when the transaction could not
/// be begun again.
fn run_batch(
    conn: &mut SqliteConn,
    batch: impl Iterator<Item = (Work, Reply)>,
) -> std::result::Result<Vec<Done>, (Error, Vec<Reply>)> {
    let mut done: Vec<Done> = Vec::new();
    let mut only_again = true;
    let mut batch = batch.into_iter();
    while let Some((work, reply)) = batch.next() {
        let mark = conn.emitted.len();
        match work {
            Work::Again(op) if only_again => {
                let before = conn.conn.total_changes();
                let result = guarded(|| block_on(op(&mut *conn)));
                if result.is_err() {
                    conn.emitted.truncate(mark);
                }
                let undo = result.is_err() && conn.conn.total_changes() != before;
                done.push(Done {
                    again: (!undo).then_some(op),
                    reply,
                    result,
                });
                if undo && let Err(e) = run_again(conn, &mut done) {
                    let replies = done.into_iter().map(|d| d.reply);
                    return Err((e, replies.chain(batch.map(|(_, r)| r)).collect()));
                }
            }
            work => {
                only_again = false;
                let result = statement(&conn.conn, "SAVEPOINT request").and_then(|_| match work {
                    Work::Once(op) => run_guarded(conn, op),
                    Work::Again(op) => guarded(|| block_on(op(&mut *conn))),
                });
                let closed = if result.is_ok() {
                    statement(&conn.conn, "RELEASE request")
                } else {
                    conn.emitted.truncate(mark);
                    statement(&conn.conn, "ROLLBACK TO request")
                        .and_then(|_| statement(&conn.conn, "RELEASE request"))
                };
                done.push(Done {
                    again: None,
                    reply,
                    result: closed.and(result),
                });
            }
        }
    }
    Ok(done)
}

/// After a write failed having changed rows (it is last in `done`, with its error): rolls
/// the transaction back and runs the writes before it again, in order, keeping their new
/// answers. Should one of them now fail after changing rows, it keeps that error and the
/// rest run again once more, so this ends.
fn run_again(conn: &mut SqliteConn, done: &mut [Done]) -> Result<()> {
    loop {
        statement(&conn.conn, "ROLLBACK")?;
        conn.emitted.clear();
        statement(&conn.conn, "BEGIN IMMEDIATE")?;
        let mut failed_again = false;
        for d in done.iter_mut() {
            let Some(op) = &d.again else { continue };
            if d.result.is_err() {
                continue;
            }
            let (mark, before) = (conn.emitted.len(), conn.conn.total_changes());
            d.result = guarded(|| block_on(op(&mut *conn)));
            if d.result.is_err() {
                conn.emitted.truncate(mark);
                if conn.conn.total_changes() != before {
                    d.again = None;
                    failed_again = true;
                    break;
                }
            }
        }
        if !failed_again {
            return Ok(());
        }
    }
}

fn writer_loop(
    mut conn: SqliteConn,
    mut rx: mpsc::Receiver<Queued>,
    synced: std::sync::mpsc::Sender<Committed>,
    log: &Log,
    counters: &Counters,
) {
    let mut batch: Vec<Queued> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        counters
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (_, _, asked) in &batch {
            add_micros(&counters.queued_micros, started - *asked, 1);
        }
        let began = statement(&conn.conn, "BEGIN IMMEDIATE");
        if let Err(e) = began {
            let msg = e.to_string();
            for (_, reply, _) in batch.drain(..) {
                let _ = reply.send(Err(Error::Backend(msg.clone())));
            }
            continue;
        }
        let ran = run_batch(
            &mut conn,
            batch.drain(..).map(|(work, reply, _)| (work, reply)),
        );
        let (replies, results): (Vec<Reply>, Vec<_>) = match ran {
            Ok(ran) => ran.into_iter().map(|d| (d.reply, d.result)).unzip(),
            Err((e, replies)) => {
                let msg = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(Error::Backend(msg.clone())));
                }
                let _ = statement(&conn.conn, "ROLLBACK");
                conn.emitted.clear();
                continue;
            }
        };
        let commit = statement(&conn.conn, "COMMIT");
        counters.commits.fetch_add(1, Ordering::Relaxed);
        let committed_at = Instant::now();
        add_micros(&counters.writer_busy_micros, committed_at - started, 1);
        add_micros(
            &counters.batched_micros,
            committed_at - started,
            replies.len(),
        );
        // What the log still holds (rewritten frame headers) must be in the file before
        // the sync. Should that write fail, the log may end before this commit on
        // recovery, and every later commit with it: the writer stops, as for a failed sync.
        if commit.is_ok() {
            let rc = crate::wal_writes::flush_log(&conn.conn);
            if rc != rusqlite::ffi::SQLITE_OK {
                tracing::error!(code = rc, "writing the write-ahead log failed; writes stop");
                for reply in replies {
                    let _ = reply.send(Err(Error::Backend(format!(
                        "the change could not be written to the log (SQLite error {rc})"
                    ))));
                }
                return;
            }
        }
        match commit {
            Ok(()) => {
                let committed = Committed {
                    at: committed_at,
                    answers: replies.into_iter().zip(results).collect(),
                    events: std::mem::take(&mut conn.emitted),
                };
                if synced.send(committed).is_err() {
                    tracing::error!("the sync thread has stopped; the writer stops too");
                    return;
                }
                finish_checkpoint(&conn.conn, log);
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; the batch was rolled back");
                let _ = statement(&conn.conn, "ROLLBACK");
                conn.emitted.clear();
                let msg = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(Error::Backend(format!("commit failed: {msg}"))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_columns_keep_every_script_and_mark_bytes_that_are_not_utf8() {
        let conn = Connection::open_in_memory().unwrap();
        let mut conn = SqliteConn::new(conn);
        let rows = conn
            .run_query(
                "SELECT $1, CAST(x'ff41' AS TEXT)",
                &[Value::Text("సేవ Σίσυφος".into())],
            )
            .unwrap();
        assert_eq!(rows[0].text(0).unwrap(), "సేవ Σίσυφος");
        assert_eq!(rows[0].text(1).unwrap(), "\u{FFFD}A");
    }
}
