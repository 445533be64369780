//! The SQLite backend's page cache wrapper (`seva_store::page_cache`) skips the walks of
//! the cache that can drop nothing, and never one that can. This test binary uses SQLite
//! only after installing it, as the server does.

use rusqlite::Connection;

/// A transaction that grows the database and is rolled back leaves pages past the end of
/// the database in the cache; they must go, or the next transaction, which gives those
/// page numbers to other pages, would read the stale ones back and the file would be
/// corrupt. Many page splits per transaction (small pages, a random index) make the
/// parked pages that the wrapper counts apart.
#[test]
fn rolled_back_growth_leaves_no_stale_page_and_the_database_stays_whole() {
    assert!(
        seva_store::page_cache::install(),
        "SQLite was used before the wrapper could be installed"
    );
    let dir = std::env::temp_dir().join(format!(
        "seva-page-cache-{}-{}",
        std::process::id(),
        seva_core::EventId::new()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let conn = Connection::open(dir.join("t.db")).unwrap();
    conn.execute_batch(
        "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA cache_size = 300;
         CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);
         CREATE INDEX t_v ON t(v);",
    )
    .unwrap();
    let value = |round: u64, i: u64, kept: bool| {
        // A scrambled key spreads inserts over the whole index, so pages split everywhere.
        let scrambled = (round * 1000 + i).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
        format!(
            "{scrambled:012x}-{}-{}",
            if kept { "kept" } else { "gone" },
            "x".repeat(40)
        )
    };
    let mut kept = 0i64;
    for round in 0..40 {
        conn.execute_batch("BEGIN").unwrap();
        for i in 0..400 {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [value(round, i, false)])
                .unwrap();
        }
        conn.execute_batch("ROLLBACK").unwrap();
        conn.execute_batch("BEGIN").unwrap();
        for i in 0..150 {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [value(round, i, true)])
                .unwrap();
            kept += 1;
        }
        conn.execute_batch("COMMIT").unwrap();
    }
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let (rows, gone): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(*) FILTER (WHERE v LIKE '%-gone-%') FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let by_index: i64 = conn
        .query_row(
            "SELECT count(*) FROM t INDEXED BY t_v WHERE v > ''",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(check, "ok");
    assert_eq!((rows, gone, by_index), (kept, 0, kept));
}

/// The truncates that really drop pages reach the cache: a reader clears its cache when
/// another connection has changed the database (or it would answer from stale pages),
/// and a commit that shrinks the file drops the pages past its new end.
#[test]
fn a_reader_sees_every_change_and_a_shrunk_database_grows_again_whole() {
    assert!(
        seva_store::page_cache::install(),
        "SQLite was used before the wrapper could be installed"
    );
    let dir = std::env::temp_dir().join(format!(
        "seva-page-cache-{}-{}",
        std::process::id(),
        seva_core::EventId::new()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.db");
    let writer = Connection::open(&path).unwrap();
    writer
        .execute_batch(
            "PRAGMA page_size = 1024; PRAGMA auto_vacuum = FULL; PRAGMA journal_mode = WAL;
             CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);",
        )
        .unwrap();
    let reader = Connection::open(&path).unwrap();
    let sum = |c: &Connection| -> i64 {
        c.query_row("SELECT coalesce(sum(length(v)), 0) FROM t", [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    for round in 1..=30i64 {
        writer.execute_batch("BEGIN").unwrap();
        for k in 0..200 {
            writer
                .execute(
                    "INSERT INTO t (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                    rusqlite::params![k, "v".repeat((round * 7 % 50 + 10) as usize)],
                )
                .unwrap();
        }
        writer.execute_batch("COMMIT").unwrap();
        assert_eq!(
            sum(&reader),
            sum(&writer),
            "round {round}: the reader saw stale pages"
        );
        // Half the rows go, and with auto_vacuum the file shrinks at the commit.
        writer.execute("DELETE FROM t WHERE k % 2 = 1", []).unwrap();
        assert_eq!(
            sum(&reader),
            sum(&writer),
            "round {round}: the reader saw stale pages"
        );
    }
    let check: String = writer
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    drop((reader, writer));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(check, "ok");
}
