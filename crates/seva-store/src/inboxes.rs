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
    /// The email address customers write to (email inboxes).
    pub address: Option<String>,
    /// Channel settings (for email: relay, IMAP account, acknowledgement); never secrets.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: serde_json::Value,
    /// Passwords and keys, encrypted by the server; never sent out.
    #[serde(skip)]
    pub secrets: Option<String>,
    pub created_at: Timestamp,
}

/// An inbox to create, or the parts of one to change (`None` leaves a part as it is).
#[derive(Debug, Default)]
pub struct InboxFields<'a> {
    pub team: Option<Option<TeamId>>,
    pub address: Option<Option<&'a str>>,
    pub settings: Option<&'a serde_json::Value>,
    pub secrets: Option<&'a str>,
}

const COLUMNS: &str = "id, name, channel, team_id, created_at, address, settings, secrets";

fn decode(r: &crate::Row) -> Result<Inbox> {
    Ok(Inbox {
        id: r.parse(0)?,
        name: r.text(1)?,
        channel: r.parse(2)?,
        team_id: r.opt_parse(3)?,
        created_at: Timestamp(r.int(4)?),
        address: r.opt_text(5)?,
        settings: serde_json::from_str(&r.text(6)?).unwrap_or_default(),
        secrets: r.opt_text(7)?,
    })
}

pub async fn create(
    conn: &mut dyn Conn,
    name: &str,
    channel: Channel,
    fields: InboxFields<'_>,
    actor: &str,
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
    let id = InboxId::new();
    let r = conn
        .execute(
            "INSERT INTO inboxes (id, name, channel, created_at) VALUES ($1, $2, $3, $4)",
            args![
                id.to_string(),
                &name,
                channel.as_str(),
                crate::now().micros()
            ],
        )
        .await;
    match r {
        Err(e) if e.is_unique_violation() => {
            return Err(Error::Conflict(format!("an inbox named {name} exists")));
        }
        other => other?,
    };
    apply(conn, id, &fields).await?;
    crate::events::append(
        conn,
        "inbox.created",
        None,
        actor,
        serde_json::json!({"inbox_id": id, "name": name}),
    )
    .await?;
    get(conn, id).await
}

/// Changes an inbox's team, address, settings or secrets.
pub async fn update(
    conn: &mut dyn Conn,
    id: InboxId,
    fields: InboxFields<'_>,
    actor: &str,
) -> Result<Inbox> {
    get(conn, id).await?;
    apply(conn, id, &fields).await?;
    crate::events::append(
        conn,
        "inbox.updated",
        None,
        actor,
        serde_json::json!({"inbox_id": id}),
    )
    .await?;
    get(conn, id).await
}

async fn apply(conn: &mut dyn Conn, id: InboxId, f: &InboxFields<'_>) -> Result<()> {
    if let Some(team) = f.team {
        if let Some(t) = team {
            crate::teams::get(conn, t)
                .await
                .map_err(|_| Error::invalid("team_id", "no such team"))?;
        }
        conn.execute(
            "UPDATE inboxes SET team_id = $1 WHERE id = $2",
            args![team.map(|t| t.to_string()), id.to_string()],
        )
        .await?;
    }
    if let Some(address) = f.address {
        let address = match address {
            Some(a) => Some(
                seva_core::contact::Email::parse(a)
                    .map_err(|e| Error::invalid("address", e.0))?
                    .identity_key(),
            ),
            None => None,
        };
        let r = conn
            .execute(
                "UPDATE inboxes SET address = $1 WHERE id = $2",
                args![address.as_deref(), id.to_string()],
            )
            .await;
        match r {
            Err(e) if e.is_unique_violation() => {
                return Err(Error::invalid("address", "another inbox has this address"));
            }
            other => other?,
        };
    }
    if let Some(settings) = f.settings {
        // A chat inbox that answers unread chats by email names the email inbox that sends.
        if let Some(name) = settings.get("email_inbox").and_then(|v| v.as_str()) {
            match by_name(conn, name).await? {
                Some(i) if i.channel == Channel::Email && i.id != id => {}
                _ => {
                    return Err(Error::invalid(
                        "settings.email_inbox",
                        format!("{name:?} is not an email inbox"),
                    ));
                }
            }
        }
        conn.execute(
            "UPDATE inboxes SET settings = $1 WHERE id = $2",
            args![settings.to_string(), id.to_string()],
        )
        .await?;
    }
    if let Some(secrets) = f.secrets {
        conn.execute(
            "UPDATE inboxes SET secrets = $1 WHERE id = $2",
            args![secrets, id.to_string()],
        )
        .await?;
    }
    Ok(())
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

/// The inbox that receives mail for this address (its own, without any +detail).
pub async fn by_address(conn: &mut dyn Conn, address: &str) -> Result<Option<Inbox>> {
    let sql = format!("SELECT {COLUMNS} FROM inboxes WHERE address = $1");
    conn.query_opt(&sql, args![address.trim().to_lowercase()])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub async fn list(conn: &mut dyn Conn) -> Result<Vec<Inbox>> {
    let sql = format!("SELECT {COLUMNS} FROM inboxes ORDER BY name");
    conn.query(&sql, &[]).await?.iter().map(decode).collect()
}
