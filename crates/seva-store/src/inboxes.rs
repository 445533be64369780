//! Inboxes: the ways in (a web form, later a mailbox, a chat widget, a phone number).
//! Each belongs to a team by default, so what arrives through it lands in that team's
//! queue.

use serde::Serialize;
use seva_core::conversation::Channel;
use seva_core::time::Timestamp;
use seva_core::{InboxId, TeamId};

use crate::db::Conn;
use crate::{Error, Result, args};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Inbox {
    pub id: InboxId,
    /// Short and unique; the web form is chosen with `/contact?inbox=<name>`.
    pub name: String,
    pub channel: Channel,
    pub team_id: Option<TeamId>,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "id, name, channel, team_id, created_at";

fn decode(r: &crate::Row) -> Result<Inbox> {
    Ok(Inbox {
        id: r.parse(0)?,
        name: r.text(1)?,
        channel: r.parse(2)?,
        team_id: r.opt_parse(3)?,
        created_at: Timestamp(r.int(4)?),
    })
}

pub async fn create(
    conn: &mut dyn Conn,
    name: &str,
    channel: Channel,
    team: Option<TeamId>,
) -> Result<Inbox> {
    let name = name.trim().to_lowercase();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::invalid(
            "name",
            "1 to 64 letters, digits, '-' or '_' (it appears in links)",
        ));
    }
    if let Some(t) = team {
        crate::teams::get(conn, t)
            .await
            .map_err(|_| Error::invalid("team_id", "no such team"))?;
    }
    let id = InboxId::new();
    let r = conn
        .execute(
            "INSERT INTO inboxes (id, name, channel, team_id, created_at) VALUES ($1, $2, $3, $4, $5)",
            args![id.to_string(), &name, channel.as_str(), team.map(|t| t.to_string()), crate::now().micros()],
        )
        .await;
    match r {
        Err(e) if e.is_unique_violation() => {
            return Err(Error::Conflict(format!("an inbox named {name} exists")));
        }
        other => other?,
    };
    crate::events::append(
        conn,
        "inbox.created",
        None,
        "system",
        serde_json::json!({"inbox_id": id, "name": name}),
    )
    .await?;
    get(conn, id).await
}

pub async fn get(conn: &mut dyn Conn, id: InboxId) -> Result<Inbox> {
    let sql = format!("SELECT {COLUMNS} FROM inboxes WHERE id = $1");
    decode(
        &conn
            .query_opt(&sql, args![id.to_string()])
            .await?
            .ok_or(Error::NotFound)?,
    )
}

pub async fn by_name(conn: &mut dyn Conn, name: &str) -> Result<Option<Inbox>> {
    let sql = format!("SELECT {COLUMNS} FROM inboxes WHERE name = $1");
    conn.query_opt(&sql, args![name.trim().to_lowercase()])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub async fn list(conn: &mut dyn Conn) -> Result<Vec<Inbox>> {
    let sql = format!("SELECT {COLUMNS} FROM inboxes ORDER BY name");
    conn.query(&sql, &[]).await?.iter().map(decode).collect()
}
