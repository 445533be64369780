//! The durable job queue: background work (deliveries, timers, webhooks) written in the
//! same transaction as the change that caused it, so it can neither be lost nor run for a
//! change that rolled back. A worker claims due jobs for a lease; a job that fails is
//! retried with exponential backoff, and after its last attempt it is kept as `dead`,
//! visible to admins, never dropped.

use serde::Serialize;
use seva_core::JobId;
use seva_core::time::Timestamp;

use crate::db::{Conn, Dialect};
use crate::{Error, Result, args};

/// Deliver an outbound message through its channel.
pub const DELIVER: &str = "deliver";

pub const MAX_ATTEMPTS: i64 = 8;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

const COLUMNS: &str =
    "id, kind, payload, state, attempts, max_attempts, run_at, last_error, created_at";

fn decode(r: &crate::Row) -> Result<Job> {
    Ok(Job {
        id: r.parse(0)?,
        kind: r.text(1)?,
        payload: serde_json::from_str(&r.text(2)?).unwrap_or_default(),
        state: r.text(3)?,
        attempts: r.int(4)?,
        max_attempts: r.int(5)?,
        run_at: Timestamp(r.int(6)?),
        last_error: r.opt_text(7)?,
        created_at: Timestamp(r.int(8)?),
    })
}

pub async fn enqueue(
    conn: &mut dyn Conn,
    kind: &str,
    payload: serde_json::Value,
    run_at: Timestamp,
) -> Result<JobId> {
    let id = JobId::new();
    let now = crate::now().micros();
    conn.execute(
        "INSERT INTO jobs (id, kind, payload, state, max_attempts, run_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'queued', $4, $5, $6, $6)",
        args![
            id.to_string(),
            kind,
            crate::json_text(&payload)?,
            MAX_ATTEMPTS,
            run_at.micros(),
            now
        ],
    )
    .await?;
    Ok(id)
}

/// Which jobs are due at `$1`: queued ones whose time has come, and running ones whose
/// lease ran out (their worker died). The worker's read and its claim share it, so they
/// cannot disagree about a job.
const DUE: &str =
    "(state = 'queued' AND run_at <= $1) OR (state = 'running' AND locked_until < $1)";

/// Whether any job is due: a read, so that a worker polling an empty queue costs the
/// writer nothing.
pub async fn anything_due(conn: &mut dyn Conn, now: Timestamp) -> Result<bool> {
    let sql = format!("SELECT 1 FROM jobs WHERE {DUE} LIMIT 1");
    Ok(conn.query_opt(&sql, args![now.micros()]).await?.is_some())
}

/// Claims up to `limit` due jobs for `lease_seconds`. A job whose worker died is claimed
/// again once its lease runs out. On PostgreSQL, `SKIP LOCKED` lets many nodes claim at
/// once without waiting on each other.
pub async fn claim(
    conn: &mut dyn Conn,
    now: Timestamp,
    lease_seconds: i64,
    limit: i64,
) -> Result<Vec<Job>> {
    let lock = match conn.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_until = $2, updated_at = $1 \
         WHERE id IN (SELECT id FROM jobs WHERE {DUE} ORDER BY run_at LIMIT $3 {lock}) RETURNING {COLUMNS}"
    );
    let rows = conn
        .query(
            &sql,
            args![
                now.micros(),
                now.plus_seconds(lease_seconds).micros(),
                limit
            ],
        )
        .await?;
    rows.iter().map(decode).collect()
}

pub async fn complete(conn: &mut dyn Conn, id: JobId) -> Result<()> {
    conn.execute(
        "UPDATE jobs SET state = 'done', locked_until = NULL, last_error = NULL, updated_at = $1 WHERE id = $2",
        args![crate::now().micros(), id.to_string()],
    )
    .await?;
    Ok(())
}

/// Seconds to wait before attempt `attempts + 1`: 10 s, 20 s, 40 s, … capped at an hour.
pub fn backoff_seconds(attempts: i64) -> i64 {
    (10i64 << attempts.clamp(0, 16)).min(3600)
}

/// Records a failed attempt. Returns true when the job is now dead (no attempts left).
pub async fn fail(conn: &mut dyn Conn, id: JobId, error: &str, now: Timestamp) -> Result<bool> {
    let row = conn
        .query_opt(
            "SELECT attempts, max_attempts FROM jobs WHERE id = $1",
            args![id.to_string()],
        )
        .await?
        .ok_or(Error::NotFound)?;
    let (attempts, max) = (row.int(0)?, row.int(1)?);
    let dead = attempts >= max;
    let error = seva_core::text::truncate_graphemes(error, 2000);
    conn.execute(
        "UPDATE jobs SET state = $1, run_at = $2, locked_until = NULL, last_error = $3, updated_at = $4 WHERE id = $5",
        args![
            if dead { "dead" } else { "queued" },
            now.plus_seconds(backoff_seconds(attempts - 1)).micros(),
            error,
            now.micros(),
            id.to_string()
        ],
    )
    .await?;
    Ok(dead)
}

pub async fn list(conn: &mut dyn Conn, state: Option<&str>, limit: i64) -> Result<Vec<Job>> {
    let rows = match state {
        Some(s) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM jobs WHERE state = $1 ORDER BY created_at DESC LIMIT $2"
            );
            conn.query(&sql, args![s, limit]).await?
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM jobs ORDER BY created_at DESC LIMIT $1");
            conn.query(&sql, args![limit]).await?
        }
    };
    rows.iter().map(decode).collect()
}

/// Puts a dead job back in the queue (an admin's "retry").
pub async fn retry(conn: &mut dyn Conn, id: JobId) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, updated_at = $1 WHERE id = $2 AND state = 'dead'",
            args![crate::now().micros(), id.to_string()],
        )
        .await?;
    if n == 0 { Err(Error::NotFound) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(super::backoff_seconds(0), 10);
        assert_eq!(super::backoff_seconds(1), 20);
        assert_eq!(super::backoff_seconds(3), 80);
        assert_eq!(super::backoff_seconds(20), 3600);
    }
}
