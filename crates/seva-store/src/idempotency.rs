//! Idempotency keys: a client that retries a POST with the same `Idempotency-Key` gets the
//! first answer again instead of creating a second conversation. The key, the request's
//! hash and the answer are written in the same transaction as the thing created. Keys
//! are kept for [`KEPT_FOR_HOURS`], then forgotten by the job worker.

use crate::db::Conn;
use crate::{Error, Result, args};
use seva_core::time::Timestamp;

/// A stored answer: HTTP status and JSON body.
#[derive(Debug, Clone)]
pub struct Stored {
    pub status: u16,
    pub body: String,
}

/// The answer stored for `key`, if any. The same key with a different request is an error:
/// the client has a bug, and guessing which request it meant would be worse.
pub async fn lookup(
    conn: &mut dyn Conn,
    scope: &str,
    key: &str,
    request_hash: &str,
) -> Result<Option<Stored>> {
    let Some(row) = conn
        .query_opt(
            "SELECT request_hash, status, body FROM idempotency_keys WHERE scope = $1 AND key = $2",
            args![scope, key],
        )
        .await?
    else {
        return Ok(None);
    };
    if row.text(0)? != request_hash {
        return Err(Error::invalid(
            "Idempotency-Key",
            "this key was already used for a different request",
        ));
    }
    Ok(Some(Stored {
        status: u16::try_from(row.int(1)?).unwrap_or(200),
        body: row.text(2)?,
    }))
}

pub async fn remember(
    conn: &mut dyn Conn,
    scope: &str,
    key: &str,
    request_hash: &str,
    answer: &Stored,
) -> Result<()> {
    conn.execute(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![scope, key, request_hash, i64::from(answer.status), &answer.body, crate::now().micros()],
    )
    .await?;
    Ok(())
}

/// How long a key is remembered: a retry within a day returns the first answer.
pub const KEPT_FOR_HOURS: i64 = 24;

/// The time before which keys are forgotten, at `now`.
pub fn cutoff(now: Timestamp) -> Timestamp {
    now.plus_seconds(-KEPT_FOR_HOURS * 3600)
}

/// Whether any key was stored before `cutoff` (a read, so that an idle desk writes nothing).
pub async fn anything_to_forget(conn: &mut dyn Conn, cutoff: Timestamp) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM idempotency_keys WHERE created_at < $1 LIMIT 1",
            args![cutoff.micros()],
        )
        .await?
        .is_some())
}

/// Forgets up to `limit` keys stored before `cutoff`; returns how many.
pub async fn forget_before(conn: &mut dyn Conn, cutoff: Timestamp, limit: i64) -> Result<u64> {
    conn.execute(
        "DELETE FROM idempotency_keys WHERE (scope, key) IN \
         (SELECT scope, key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        args![cutoff.micros(), limit],
    )
    .await
}
