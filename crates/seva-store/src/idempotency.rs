//! Idempotency keys: a client that retries a POST with the same `Idempotency-Key` gets the
//! first answer again instead of creating a second conversation. The key, the request's
//! hash and the answer are written in the same transaction as the thing created.

use crate::db::Conn;
use crate::{Error, Result, args};

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
