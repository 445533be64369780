//! What an agent is told about: an urgent arrival a rule flagged, a follow-up a transfer
//! left them, a mention. Each notification is a row (so it waits for an agent who is not
//! looking) and an event (so an agent who is looking sees it at once). One left unread
//! for a few minutes is mailed to its agent, unless they turned that off: the sweep here
//! hands it to a job ([`EMAIL`]) that the server's email sender runs.

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
    /// `rule`, `follow_up`, `transfer`, `mention`, `followed`, `assigned`, `snooze`,
    /// `unassigned`, `article_flagged`.
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
    rows.iter().map(decode).collect()
}

/// Marks one of the agent's notifications read (someone else's is "not found").
pub async fn mark_read(conn: &mut dyn Conn, agent: AgentId, id: NotificationId) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE notifications SET read_at = coalesce(read_at, $1), email_handled_at = coalesce(email_handled_at, $1) \
         WHERE id = $2 AND agent_id = $3",
            args![crate::now().micros(), id.to_string(), agent.to_string()],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Marks read the agent's notifications about one conversation, as its page is opened.
/// Returns how many there were (a read first, so opening a page usually writes nothing).
pub async fn mark_read_about(
    conn: &mut dyn Conn,
    agent: AgentId,
    conversation: ConversationId,
) -> Result<u64> {
    conn.execute(
        "UPDATE notifications SET read_at = $1, email_handled_at = coalesce(email_handled_at, $1) \
         WHERE agent_id = $2 AND conversation_id = $3 AND read_at IS NULL",
        args![
            crate::now().micros(),
            agent.to_string(),
            conversation.to_string()
        ],
    )
    .await
}

/// Whether the agent has unread notifications about the conversation.
pub async fn any_unread_about(
    conn: &mut dyn Conn,
    agent: AgentId,
    conversation: ConversationId,
) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM notifications WHERE agent_id = $1 AND conversation_id = $2 AND read_at IS NULL LIMIT 1",
            args![agent.to_string(), conversation.to_string()],
        )
        .await?
        .is_some())
}

/// What agents choose to be mailed about, each a group of notification kinds: mentions of
/// them, conversations given to them, activity on conversations they follow, transfers and
/// follow-ups, alerts (nobody took a conversation, a snooze ran out, a rule said so), and
/// the knowledge base (an article of theirs flagged).
pub const EMAIL_GROUPS: &[&str] = &[
    "mentions",
    "assignments",
    "followed",
    "transfers",
    "alerts",
    "knowledge",
];

/// The group of [`EMAIL_GROUPS`] a notification's kind belongs to.
pub fn group_of(kind: &str) -> &'static str {
    match kind {
        "mention" => "mentions",
        "assigned" => "assignments",
        k if k.starts_with("followed") => "followed",
        "transfer" | "follow_up" => "transfers",
        "article_flagged" => "knowledge",
        _ => "alerts",
    }
}

/// The job that mails one agent the notifications they left unread (payload: `agent_id`,
/// `notification_ids`).
pub const EMAIL: &str = "notifications.email";

/// A notification older than this is never mailed: one that waited while no inbox sent
/// notifications is not news by the time one does.
const EMAIL_WINDOW_MICROS: i64 = 24 * 3600 * 1_000_000;

/// Whether a notification made before `cutoff` waits for the email sender.
pub async fn anything_to_email(conn: &mut dyn Conn, cutoff: Timestamp) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM notifications WHERE email_handled_at IS NULL AND created_at <= $1 LIMIT 1",
            args![cutoff.micros()],
        )
        .await?
        .is_some())
}

/// Hands the notifications made before `cutoff` and still unread to the email sender: one
/// job per agent, listing theirs (up to `limit` notifications in all, oldest first). Those
/// of an agent who takes no email, or none of that group, or is disabled, and those older
/// than a day, are passed over. Returns how many mails were queued.
pub async fn queue_emails(conn: &mut dyn Conn, cutoff: Timestamp, limit: i64) -> Result<usize> {
    let rows = conn
        .query(
            "SELECT n.id, n.agent_id, n.created_at, a.email_notifications, a.disabled, n.kind, a.email_muted \
             FROM notifications n \
             JOIN agents a ON a.id = n.agent_id \
             WHERE n.email_handled_at IS NULL AND n.created_at <= $1 ORDER BY n.created_at LIMIT $2",
            args![cutoff.micros(), limit],
        )
        .await?;
    let now = crate::now().micros();
    let mut mails: std::collections::BTreeMap<AgentId, Vec<NotificationId>> = Default::default();
    for r in &rows {
        let (id, agent): (NotificationId, AgentId) = (r.parse(0)?, r.parse(1)?);
        conn.execute(
            "UPDATE notifications SET email_handled_at = $1 WHERE id = $2",
            args![now, id.to_string()],
        )
        .await?;
        let fresh = r.int(2)? >= cutoff.micros() - EMAIL_WINDOW_MICROS;
        let group = group_of(r.str(5)?);
        let muted = r.str(6)?.split(',').any(|g| g == group);
        if fresh && r.bool(3)? && !r.bool(4)? && !muted {
            mails.entry(agent).or_default().push(id);
        }
    }
    for (agent, ids) in &mails {
        crate::jobs::enqueue(
            conn,
            EMAIL,
            serde_json::json!({"agent_id": agent, "notification_ids": ids}),
            Timestamp(now),
        )
        .await?;
    }
    Ok(mails.len())
}

/// Of the notifications `ids`, those of `agent` still unread, oldest first: what the
/// email sender mails (one read since it was queued is left out).
pub async fn unread_of(
    conn: &mut dyn Conn,
    agent: AgentId,
    ids: &[NotificationId],
) -> Result<Vec<Notification>> {
    let mut out = Vec::new();
    for id in ids {
        let row = conn
            .query_opt(
                "SELECT id, conversation_id, kind, text, created_at, read_at FROM notifications \
                 WHERE id = $1 AND agent_id = $2 AND read_at IS NULL",
                args![id.to_string(), agent.to_string()],
            )
            .await?;
        if let Some(r) = row {
            out.push(decode(&r)?);
        }
    }
    out.sort_by_key(|n| n.created_at);
    Ok(out)
}

fn decode(r: &crate::Row) -> Result<Notification> {
    Ok(Notification {
        id: r.parse(0)?,
        conversation_id: r.opt_parse(1)?,
        kind: r.text(2)?,
        text: r.text(3)?,
        created_at: Timestamp(r.int(4)?),
        read_at: r.opt_int(5)?.map(Timestamp),
    })
}
