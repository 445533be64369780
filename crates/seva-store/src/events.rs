//! The append-only event log. Every change to a conversation writes an event in the same
//! transaction, so the log is exactly the history of what was committed: the realtime
//! hub, the `/api/v1/events` feed for integrators, and later the search indexer all read
//! from it.

use serde::Serialize;
use seva_core::time::Timestamp;
use seva_core::{ConversationId, EventId};

use crate::db::{Conn, Dialect};
use crate::{Result, args};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub seq: i64,
    pub id: EventId,
    /// What happened, as `thing.verb`: `conversation.created`, `message.created`, …
    pub kind: String,
    pub conversation_id: Option<ConversationId>,
    /// Who did it: `agent:<id>`, `contact:<id>`, `system`.
    pub actor: String,
    pub data: serde_json::Value,
    pub created_at: Timestamp,
    /// The message this event created, as the search index takes it, when this node wrote
    /// it: in memory only, for this node's subscribers (the indexer then reads nothing
    /// back). Never stored, so events read from the log do not have it.
    #[serde(skip)]
    pub message: Option<std::sync::Arc<crate::messages::Searchable>>,
}

/// Appends an event to the log within the caller's transaction.
pub async fn append(
    conn: &mut dyn Conn,
    kind: &str,
    conversation_id: Option<ConversationId>,
    actor: &str,
    data: serde_json::Value,
) -> Result<()> {
    let id = EventId::new();
    let now = crate::now();
    let row = conn
        .query_one(
            "INSERT INTO events (id, kind, conversation_id, actor, data, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
            args![
                id.to_string(),
                kind,
                conversation_id.map(|c| c.to_string()),
                actor,
                crate::json_text(&data)?,
                now.micros()
            ],
        )
        .await?;
    let seq = row.int(0)?;
    conn.emitted().push(Event {
        seq,
        id,
        kind: kind.to_string(),
        conversation_id,
        actor: actor.to_string(),
        data,
        created_at: now,
        message: None,
    });
    Ok(())
}

/// [`append`] for an event that created `message`, which this node's subscribers get with
/// the event.
pub async fn append_message(
    conn: &mut dyn Conn,
    kind: &str,
    conversation_id: Option<ConversationId>,
    actor: &str,
    data: serde_json::Value,
    message: crate::messages::Searchable,
) -> Result<()> {
    append(conn, kind, conversation_id, actor, data).await?;
    if let Some(e) = conn.emitted().last_mut() {
        e.message = Some(std::sync::Arc::new(message));
    }
    Ok(())
}

const COLUMNS: &str = "seq, id, kind, conversation_id, actor, data, created_at";

fn decode(mut row: crate::Row) -> Result<Event> {
    Ok(Event {
        seq: row.int(0)?,
        id: row.parse(1)?,
        kind: row.take_text(2)?,
        conversation_id: row.opt_parse(3)?,
        actor: row.take_text(4)?,
        data: serde_json::from_str(row.str(5)?).unwrap_or(serde_json::Value::Null),
        created_at: Timestamp(row.int(6)?),
        message: None,
    })
}

/// Events after `after`, oldest first. On PostgreSQL only events whose transaction is
/// older than every running transaction are served, so that an event committing later
/// with a smaller seq is never skipped by a reader that already moved past it.
pub async fn after(conn: &mut dyn Conn, after: i64, limit: i64) -> Result<Vec<Event>> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            format!("SELECT {COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
        }
        Dialect::Postgres => format!(
            "SELECT {COLUMNS} FROM events WHERE seq > $1 \
             AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint ORDER BY seq LIMIT $2"
        ),
    };
    let rows = conn.query(&sql, args![after, limit]).await?;
    rows.into_iter().map(decode).collect()
}

/// The areas of the audit log: the first word of its events' kinds.
pub const AUDIT_AREAS: &[&str] = &[
    "agent",
    "token",
    "team",
    "inbox",
    "rule",
    "webhook",
    "organization",
    "contact",
];

/// The audit log, newest first: changes to the desk itself (events about no conversation,
/// a new contact's aside), before `before` (a seq), of one area (one of [`AUDIT_AREAS`]) and
/// one actor (`agent:<id>`, `system`) when given. Read through the `events_desk` index,
/// whose condition the query repeats word for word. SQLite is told to use it: left to
/// itself it walks `events_conversation` from its null ids, through every new contact's
/// event.
pub async fn audit(
    conn: &mut dyn Conn,
    before: Option<i64>,
    area: Option<&str>,
    actor: Option<&str>,
    limit: i64,
) -> Result<Vec<Event>> {
    let hint = match conn.dialect() {
        Dialect::Sqlite => " INDEXED BY events_desk",
        Dialect::Postgres => "",
    };
    let mut sql = format!(
        "SELECT {COLUMNS} FROM events{hint} \
         WHERE conversation_id IS NULL AND kind <> 'contact.created' AND seq < $1"
    );
    let mut args = vec![crate::Value::Int(before.unwrap_or(i64::MAX))];
    if let Some(area) = area {
        if !AUDIT_AREAS.contains(&area) {
            return Err(crate::Error::invalid(
                "area",
                format!("one of {}", AUDIT_AREAS.join(", ")),
            ));
        }
        args.push(crate::Value::Text(format!("{area}.%")));
        sql.push_str(&format!(" AND kind LIKE ${}", args.len()));
    }
    if let Some(actor) = actor {
        args.push(crate::Value::Text(actor.to_string()));
        sql.push_str(&format!(" AND actor = ${}", args.len()));
    }
    args.push(crate::Value::Int(limit));
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", args.len()));
    let rows = conn.query(&sql, &args).await?;
    rows.into_iter().map(decode).collect()
}

/// One event by its seq.
pub async fn by_seq(conn: &mut dyn Conn, seq: i64) -> Result<Event> {
    let sql = format!("SELECT {COLUMNS} FROM events WHERE seq = $1");
    decode(
        conn.query_opt(&sql, args![seq])
            .await?
            .ok_or(crate::Error::NotFound)?,
    )
}

/// One conversation's events, oldest first.
pub async fn for_conversation(conn: &mut dyn Conn, id: ConversationId) -> Result<Vec<Event>> {
    let sql = format!("SELECT {COLUMNS} FROM events WHERE conversation_id = $1 ORDER BY seq");
    let rows = conn.query(&sql, args![id.to_string()]).await?;
    rows.into_iter().map(decode).collect()
}

/// The newest event's seq (0 when there is none).
pub async fn last_seq(conn: &mut dyn Conn) -> Result<i64> {
    conn.query_one("SELECT coalesce(max(seq), 0) FROM events", args![])
        .await?
        .int(0)
}
