//! Outgoing webhooks. Each webhook follows the event log from the moment it was created
//! (its own cursor, so one created today is not flooded with last year's events). The
//! worker hands new events to a webhook as jobs of the durable queue, in the same
//! transaction that moves the cursor, so an event is neither lost nor handed out twice;
//! the queue's retries and backoff then carry the delivery, and every attempt is logged.

use serde::Serialize;
use seva_core::time::Timestamp;
use seva_core::{DeliveryId, WebhookId};

use crate::db::Conn;
use crate::events::Event;
use crate::{Error, Result, args};

/// The job that delivers one event to one webhook.
pub const DELIVER_WEBHOOK: &str = "webhook";

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    /// Event kinds it receives; `["*"]` for all.
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: Timestamp,
    /// The sealed signing secret; never serialised.
    #[serde(skip)]
    pub sealed_secret: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = WebhookDelivery))]
pub struct Delivery {
    pub id: DeliveryId,
    pub event_seq: i64,
    pub event_kind: String,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "id, url, events, enabled, created_at, secret";

fn decode(r: &crate::Row) -> Result<Webhook> {
    Ok(Webhook {
        id: r.parse(0)?,
        url: r.text(1)?,
        events: r.text(2)?.split(',').map(str::to_string).collect(),
        enabled: r.bool(3)?,
        created_at: Timestamp(r.int(4)?),
        sealed_secret: r.text(5)?,
    })
}

/// Checks a webhook's address: http or https, a host, at most 2,000 characters.
pub fn check_url(url: &str) -> Result<()> {
    let ok = url.len() <= 2000
        && ["http://", "https://"].iter().any(|scheme| {
            url.strip_prefix(scheme).is_some_and(|rest| {
                !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
            })
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("url", "an http:// or https:// address"))
    }
}

/// Creates a webhook that receives the events committed from now on.
pub async fn create(
    conn: &mut dyn Conn,
    url: &str,
    events: &[String],
    sealed_secret: &str,
    actor: &str,
) -> Result<Webhook> {
    check_url(url)?;
    if events.is_empty() || events.len() > 100 {
        return Err(Error::invalid("events", "1 to 100 event kinds, or [\"*\"]"));
    }
    for e in events {
        let ok = e == "*"
            || (e.len() <= 64
                && e.contains('.')
                && e.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'));
        if !ok {
            return Err(Error::invalid(
                "events",
                format!("{e:?} is not an event kind such as conversation.created"),
            ));
        }
    }
    let id = WebhookId::new();
    let cursor = conn
        .query_one("SELECT coalesce(max(seq), 0) FROM events", args![])
        .await?
        .int(0)?;
    conn.execute(
        "INSERT INTO webhooks (id, url, events, secret, cursor_seq, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            id.to_string(),
            url,
            events.join(","),
            sealed_secret,
            cursor,
            actor,
            crate::now().micros()
        ],
    )
    .await?;
    crate::events::append(
        conn,
        "webhook.created",
        None,
        actor,
        serde_json::json!({"webhook_id": id, "url": url}),
    )
    .await?;
    get(conn, id).await
}

pub async fn get(conn: &mut dyn Conn, id: WebhookId) -> Result<Webhook> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1");
    decode(
        &conn
            .query_opt(&sql, args![id.to_string()])
            .await?
            .ok_or(Error::NotFound)?,
    )
}

pub async fn list(conn: &mut dyn Conn) -> Result<Vec<Webhook>> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks ORDER BY created_at");
    conn.query(&sql, args![])
        .await?
        .iter()
        .map(decode)
        .collect()
}

pub async fn delete(conn: &mut dyn Conn, id: WebhookId, actor: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM webhook_deliveries WHERE webhook_id = $1",
        args![id.to_string()],
    )
    .await?;
    if conn
        .execute("DELETE FROM webhooks WHERE id = $1", args![id.to_string()])
        .await?
        == 0
    {
        return Err(Error::NotFound);
    }
    crate::events::append(
        conn,
        "webhook.deleted",
        None,
        actor,
        serde_json::json!({"webhook_id": id}),
    )
    .await
}

/// Whether any enabled webhook has events waiting to be handed out (a cheap read).
pub async fn anything_new(conn: &mut dyn Conn) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM webhooks w WHERE w.enabled = 1 AND EXISTS (SELECT 1 FROM events e WHERE e.seq > w.cursor_seq) LIMIT 1",
            args![],
        )
        .await?
        .is_some())
}

/// Hands the events each webhook has not yet seen (up to `limit` per webhook) to delivery
/// jobs and moves the cursors; returns how many jobs were queued.
pub async fn fan_out(conn: &mut dyn Conn, limit: i64) -> Result<usize> {
    let hooks = conn
        .query(
            "SELECT id, events, cursor_seq FROM webhooks WHERE enabled = 1",
            args![],
        )
        .await?;
    let mut queued = 0;
    for h in &hooks {
        let (id, kinds, cursor) = (h.text(0)?, h.text(1)?, h.int(2)?);
        let wanted: Vec<&str> = kinds.split(',').collect();
        let events = crate::events::after(conn, cursor, limit).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            continue;
        };
        for e in events
            .iter()
            .filter(|e| wanted.contains(&"*") || wanted.contains(&e.kind.as_str()))
        {
            // Events about webhooks themselves are not sent out (the admin already knows).
            if e.kind.starts_with("webhook.") {
                continue;
            }
            crate::jobs::enqueue(
                conn,
                DELIVER_WEBHOOK,
                serde_json::json!({"webhook_id": id, "event_seq": e.seq}),
                crate::now(),
            )
            .await?;
            queued += 1;
        }
        conn.execute(
            "UPDATE webhooks SET cursor_seq = $1 WHERE id = $2",
            args![last, id.as_str()],
        )
        .await?;
    }
    Ok(queued)
}

/// What one attempt gave.
pub struct Attempt<'a> {
    pub webhook: WebhookId,
    pub event: &'a Event,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
}

pub async fn record(conn: &mut dyn Conn, a: Attempt<'_>) -> Result<()> {
    conn.execute(
        "INSERT INTO webhook_deliveries (id, webhook_id, event_seq, event_kind, attempt, status_code, error, duration_ms, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        args![
            DeliveryId::new().to_string(),
            a.webhook.to_string(),
            a.event.seq,
            a.event.kind.as_str(),
            a.attempt,
            a.status_code,
            a.error.map(|e| seva_core::text::truncate_graphemes(e, 500)),
            a.duration_ms,
            crate::now().micros()
        ],
    )
    .await?;
    Ok(())
}

/// A webhook's delivery log, newest first.
pub async fn deliveries(conn: &mut dyn Conn, id: WebhookId, limit: i64) -> Result<Vec<Delivery>> {
    conn.query(
        "SELECT id, event_seq, event_kind, attempt, status_code, error, duration_ms, created_at FROM webhook_deliveries \
         WHERE webhook_id = $1 ORDER BY created_at DESC, attempt DESC LIMIT $2",
        args![id.to_string(), limit],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Delivery {
            id: r.parse(0)?,
            event_seq: r.int(1)?,
            event_kind: r.text(2)?,
            attempt: r.int(3)?,
            status_code: r.opt_int(4)?,
            error: r.opt_text(5)?,
            duration_ms: r.int(6)?,
            created_at: Timestamp(r.int(7)?),
        })
    })
    .collect()
}
