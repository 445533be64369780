//! The SQLite backend's write-ahead log stays bounded under writes that never pause.
//! (PostgreSQL manages its own log; this is a test of the SQLite backend alone.)

use std::sync::Arc;

use seva_store::{Store, Value, op};

/// A new folder for one test's database, and the database's path in it.
fn fresh_database() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "seva-log-test-{}-{}",
        std::process::id(),
        seva_core::EventId::new()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("seva.db");
    (dir, db)
}

/// 80 MB of rows written by 32 writers that never pause: without the log starting over,
/// every byte of it stays in the log file (a checkpoint that runs while commits keep
/// coming never catches up on its own, and only a log copied to its end starts over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_starts_over_under_steady_writes() {
    let (dir, db) = fresh_database();
    let store = Arc::new(Store::open_sqlite(&db).await.unwrap());
    let (writers, rows, bytes) = (32usize, 640usize, 4096usize);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..rows {
                let key = format!("{w:04}-{r:06}");
                let body: Vec<u8> = key.bytes().cycle().take(bytes).collect();
                store
                    .write(op!(c => c.execute(
                        "INSERT INTO message_sources (sha256, bytes) VALUES ($1, $2)",
                        &[Value::Text(key), Value::Blob(body)],
                    ).await))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let written = (writers * rows * bytes) as u64;
    let log = std::fs::metadata(dir.join("seva.db-wal")).unwrap().len();
    let stored = store
        .read(op!(c => c.query_one("SELECT count(*) FROM message_sources", &[]).await?.int(0)))
        .await
        .unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(stored, (writers * rows) as i64);
    // The log file keeps the length it once had (it starts over at 32 MiB; SQLite's
    // `journal_size_limit`, 64 MiB, cuts a longer one when it starts over).
    assert!(
        log <= 64 << 20,
        "the log holds {log} bytes after {written} bytes were written: it never started over"
    );
}

/// One transaction far larger than the writer's page cache: SQLite spills pages into the
/// log before the commit, writes some of them again in place, reads them back and
/// rewrites frame checksums after the commit frame. The writer gathers log writes in
/// memory (`wal_writes`); a copy of the files taken right after the answer, as a crash
/// would leave them (no shared-memory index, so SQLite recovers from the log and checks
/// every frame), must hold the whole transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_larger_than_the_cache_is_whole_in_the_files_when_answered() {
    let (dir, db) = fresh_database();
    let store = Store::open_sqlite(&db).await.unwrap();
    let rows = 1000i64;
    store
        .write(op!(c => {
            for r in 0..rows {
                let key = format!("big-{r:06}");
                let body: Vec<u8> = key.bytes().cycle().take(6000).collect();
                c.execute(
                    "INSERT INTO message_sources (sha256, bytes) VALUES ($1, $2)",
                    &[Value::Text(key), Value::Blob(body)],
                ).await?;
            }
            // Pages spilled early are changed again, in place in the log.
            c.execute(
                "UPDATE message_sources SET bytes = CAST(sha256 AS BLOB) WHERE sha256 < 'big-000200'",
                &[],
            ).await
        }))
        .await
        .unwrap();
    let copy = dir.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(&db, copy.join("seva.db")).unwrap();
    std::fs::copy(dir.join("seva.db-wal"), copy.join("seva.db-wal")).unwrap();
    drop(store);

    let recovered = rusqlite::Connection::open(copy.join("seva.db")).unwrap();
    let check: String = recovered
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let (count, bytes): (i64, i64) = recovered
        .query_row(
            "SELECT count(*), sum(length(bytes)) FROM message_sources WHERE sha256 LIKE 'big-%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    drop(recovered);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(check, "ok");
    assert_eq!(count, rows);
    assert_eq!(bytes, 200 * 10 + (rows - 200) * 6000);
}
