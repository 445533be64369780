//! What an agent is told about: an urgent arrival a rule flagged, a follow-up a transfer
//! left them, a mention. Each notification is a row (so it waits for an agent who is not
//! looking) and an event (so an agent who is looking sees it at once).

use serde::Serialize;
use seva_core::agent::Role;
use seva_core::time::Timestamp;
use seva_core::{AgentId, ConversationId, NotificationId};

use crate::conversations::Conversation;
use crate::db::Conn;
use crate::{Error, Result, args};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: NotificationId,
    pub conversation_id: Option<ConversationId>,
    /// `rule`, `follow_up`, `transfer`, `mention`.
    pub kind: String,
    pub text: String,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
}

/// Notifies one agent.
pub async fn to_agent(
    conn: &mut dyn Conn,
    agent: AgentId,
    conversation: Option<ConversationId>,
    kind: &str,
    text: &str,
) -> Result<()> {
    let id = NotificationId::new();
    conn.execute(
        "INSERT INTO notifications (id, agent_id, conversation_id, kind, text, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            id.to_string(),
            agent.to_string(),
            conversation.map(|c| c.to_string()),
            kind,
            text,
            crate::now().micros()
        ],
    )
    .await?;
    crate::events::append(
        conn,
        "notification.created",
        conversation,
        "system",
        serde_json::json!({"notification_id": id, "agent_id": agent, "kind": kind, "text": text}),
    )
    .await
}

/// Notifies about `c` whoever `target` names: `supervisors` (every supervisor and
/// admin), `owner`, `team` (the members of its team), or one agent's id.
pub async fn notify(
    conn: &mut dyn Conn,
    c: &Conversation,
    target: &str,
    kind: &str,
    text: &str,
) -> Result<()> {
    let agents: Vec<AgentId> = match target {
        "owner" => c.owner_id.into_iter().collect(),
        "team" => match c.team_id {
            Some(team) => conn
                .query(
                    "SELECT m.agent_id FROM team_members m JOIN agents a ON a.id = m.agent_id WHERE m.team_id = $1 AND a.disabled = 0",
                    args![team.to_string()],
                )
                .await?
                .iter()
                .map(|r| r.parse(0))
                .collect::<Result<_>>()?,
            None => Vec::new(),
        },
        "supervisors" => conn
            .query(
                "SELECT id FROM agents WHERE disabled = 0 AND role IN ($1, $2)",
                args![Role::Supervisor.as_str(), Role::Admin.as_str()],
            )
            .await?
            .iter()
            .map(|r| r.parse(0))
            .collect::<Result<_>>()?,
        id => vec![
            id.parse()
                .map_err(|_| Error::invalid("notify", "not an agent id"))?,
        ],
    };
    for agent in agents {
        to_agent(conn, agent, Some(c.id), kind, text).await?;
    }
    Ok(())
}

/// An agent's notifications, newest first.
pub async fn list_for(
    conn: &mut dyn Conn,
    agent: AgentId,
    unread_only: bool,
) -> Result<Vec<Notification>> {
    let rows = conn
        .query(
            "SELECT id, conversation_id, kind, text, created_at, read_at FROM notifications \
             WHERE agent_id = $1 AND ($2 = 0 OR read_at IS NULL) ORDER BY created_at DESC LIMIT 200",
            args![agent.to_string(), unread_only],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Notification {
                id: r.parse(0)?,
                conversation_id: r.opt_parse(1)?,
                kind: r.text(2)?,
                text: r.text(3)?,
                created_at: Timestamp(r.int(4)?),
                read_at: r.opt_int(5)?.map(Timestamp),
            })
        })
        .collect()
}

/// Marks one of the agent's notifications read (someone else's is "not found").
pub async fn mark_read(conn: &mut dyn Conn, agent: AgentId, id: NotificationId) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE notifications SET read_at = coalesce(read_at, $1) WHERE id = $2 AND agent_id = $3",
            args![crate::now().micros(), id.to_string(), agent.to_string()],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
