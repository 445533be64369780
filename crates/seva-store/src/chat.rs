//! Live chat: visitors of a chat inbox, the messages they send (stored before they are
//! acknowledged, once per client id), what they missed since a sequence number, and their
//! honest place in the queue.

use serde::Serialize;
use seva_core::contact::{Email, IdentityKind};
use seva_core::conversation::{Channel, Priority};
use seva_core::time::Timestamp;
use seva_core::{ContactId, ConversationId, InboxId, MessageId};

use crate::conversations::Arrival;
use crate::db::Conn;
use crate::{Error, Result, args};

/// A visitor with an open session.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub id: String,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub conversation_id: Option<ConversationId>,
}

const COLUMNS: &str = "id, inbox_id, contact_id, name, email, conversation_id";

fn decode(r: &crate::Row) -> Result<Visitor> {
    Ok(Visitor {
        id: r.text(0)?,
        inbox_id: r.parse(1)?,
        contact_id: r.parse(2)?,
        name: r.opt_text(3)?,
        email: r.opt_text(4)?,
        conversation_id: r.opt_parse(5)?,
    })
}

/// Makes a new visitor of a chat inbox, known by a token whose hash is given. With an
/// email address the visitor is the contact who has it (a returning customer).
pub async fn new_visitor(
    conn: &mut dyn Conn,
    inbox: InboxId,
    token_hash: &str,
    name: Option<&str>,
    email: Option<&str>,
) -> Result<Visitor> {
    let id = uuid::Uuid::now_v7().to_string();
    let email = email
        .map(|e| Email::parse(e).map_err(|_| Error::invalid("email", "not an email address")))
        .transpose()?
        .map(|e| e.identity_key());
    let contact = match &email {
        Some(e) => crate::contacts::resolve(conn, IdentityKind::Email, e, name).await?,
        None => crate::contacts::resolve(conn, IdentityKind::ChatVisitor, &id, name).await?,
    }
    .id;
    conn.execute(
        "INSERT INTO chat_visitors (id, inbox_id, contact_id, name, email, token_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            id.as_str(),
            inbox.to_string(),
            contact.to_string(),
            name,
            email.as_deref(),
            token_hash,
            crate::now().micros()
        ],
    )
    .await?;
    Ok(Visitor {
        id,
        inbox_id: inbox,
        contact_id: contact,
        name: name.map(str::to_string),
        email,
        conversation_id: None,
    })
}

/// Records the name and email address a visitor gives during the chat (so that answers
/// they do not read here can reach them by email). The visitor becomes the contact known
/// by that address, as a new visitor who gave it in their hello would: a contact made
/// only for this chat is merged into that one, with its conversations.
pub async fn give_contact(
    conn: &mut dyn Conn,
    visitor: &Visitor,
    name: Option<&str>,
    email: &str,
) -> Result<Visitor> {
    let email = Email::parse(email)
        .map_err(|_| Error::invalid("email", "not an email address"))?
        .identity_key();
    let owner = conn
        .query_opt(
            "SELECT contact_id FROM contact_identities WHERE kind = 'email' AND value = $1",
            args![email.as_str()],
        )
        .await?
        .map(|r| r.parse::<ContactId>(0))
        .transpose()?;
    let contact = match owner {
        Some(owner) if owner == visitor.contact_id => owner,
        Some(owner) => {
            crate::contacts::merge(conn, visitor.contact_id, owner, "system:chat").await?;
            owner
        }
        None => {
            conn.execute(
                "INSERT INTO contact_identities (kind, value, contact_id, created_at) VALUES ('email', $1, $2, $3)",
                args![email.as_str(), visitor.contact_id.to_string(), crate::now().micros()],
            )
            .await?;
            visitor.contact_id
        }
    };
    let name = name
        .and_then(seva_core::contact::clean_name)
        .or_else(|| visitor.name.clone());
    conn.execute(
        "UPDATE chat_visitors SET contact_id = $1, email = $2, name = $3 WHERE id = $4",
        args![
            contact.to_string(),
            email.as_str(),
            name.as_deref(),
            visitor.id.as_str()
        ],
    )
    .await?;
    Ok(Visitor {
        contact_id: contact,
        email: Some(email),
        name,
        ..visitor.clone()
    })
}

/// The agents' answers in this conversation that the visitor has neither read in the chat
/// nor been sent by email, oldest first. The bot's lines are not among them: they offered
/// articles to a visitor who was there.
pub async fn unread_answers(
    conn: &mut dyn Conn,
    conversation: ConversationId,
) -> Result<Vec<MessageId>> {
    conn.query(
        "SELECT id FROM messages WHERE conversation_id = $1 AND kind = 'outbound' \
         AND channel = 'chat' AND author_agent_id IS NOT NULL \
         AND delivery IN ('queued', 'delivered') ORDER BY seq",
        args![conversation.to_string()],
    )
    .await?
    .iter()
    .map(|r| r.parse(0))
    .collect()
}

/// The sequence number of the conversation's latest message (0 for none).
pub async fn last_seq(conn: &mut dyn Conn, conversation: ConversationId) -> Result<i64> {
    conn.query_one(
        "SELECT coalesce(max(seq), 0) FROM messages WHERE conversation_id = $1",
        args![conversation.to_string()],
    )
    .await?
    .int(0)
}

/// The visitor holding this token in this inbox; none for an unknown or revoked token,
/// or one of another inbox.
pub async fn visitor(
    conn: &mut dyn Conn,
    inbox: InboxId,
    token_hash: &str,
) -> Result<Option<Visitor>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM chat_visitors WHERE token_hash = $1 AND inbox_id = $2 AND revoked_at IS NULL"
    );
    conn.query_opt(&sql, args![token_hash, inbox.to_string()])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// Revokes the tokens of the visitors of a conversation: their browsers open no session
/// any more. Returns how many.
pub async fn revoke(conn: &mut dyn Conn, conversation: ConversationId) -> Result<u64> {
    conn.execute(
        "UPDATE chat_visitors SET revoked_at = $1 WHERE conversation_id = $2 AND revoked_at IS NULL",
        args![crate::now().micros(), conversation.to_string()],
    )
    .await
}

/// A line of the chat as the visitor sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// Increases along the conversation: a client that reconnects asks for what came
    /// after the last one it has.
    pub seq: i64,
    pub id: MessageId,
    /// `visitor`, `agent`, or `bot` (the answering bot).
    pub from: &'static str,
    pub name: Option<String>,
    pub text: String,
    pub at: Timestamp,
    /// Files sent with it.
    pub files: Vec<crate::messages::Attachment>,
    /// The client's own id for a visitor's line, so that a client that sees the line
    /// before the ack knows it arrived.
    pub client_id: Option<String>,
}

/// What the visitor has sent and been answered after `after`, oldest first (no internal
/// notes, no system lines).
pub async fn since(
    conn: &mut dyn Conn,
    conversation: ConversationId,
    after: i64,
) -> Result<Vec<Line>> {
    let mut lines = conn.query(
        "SELECT m.seq, m.id, m.kind, a.name, m.text, m.created_at, m.provider_id FROM messages m \
         LEFT JOIN agents a ON a.id = m.author_agent_id \
         WHERE m.conversation_id = $1 AND m.seq > $2 AND m.kind IN ('inbound', 'outbound') ORDER BY m.seq LIMIT 500",
        args![conversation.to_string(), after],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Line {
            seq: r.int(0)?,
            id: r.parse(1)?,
            from: match (r.text(2)?.as_str(), r.is_null(3)?) {
                ("inbound", _) => "visitor",
                (_, true) => "bot",
                _ => "agent",
            },
            name: r.opt_text(3)?,
            text: r.text(4)?,
            at: Timestamp(r.int(5)?),
            files: Vec::new(),
            client_id: r
                .opt_text(6)?
                .and_then(|p| p.split_once(':').map(|(_, c)| c.to_string())),
        })
    })
    .collect::<Result<Vec<Line>>>()?;
    if !lines.is_empty() {
        for (message, file) in crate::attachments::for_conversation(conn, conversation).await? {
            if let Some(line) = lines.iter_mut().find(|l| l.id == message) {
                line.files.push(file);
            }
        }
    }
    Ok(lines)
}

/// What the server answers for a message it stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub conversation_id: ConversationId,
    pub line: Line,
    /// It had been stored before under the same client id: nothing new was written.
    pub duplicate: bool,
}

/// Stores a visitor's message, once per client id: in their current conversation while it
/// is active, else in a new one for `team` (the inbox's, which the session knows), which
/// the inbox's answering bot takes first when `bot` is on.
#[allow(clippy::too_many_arguments)]
pub async fn post(
    conn: &mut dyn Conn,
    visitor: &Visitor,
    team: Option<seva_core::TeamId>,
    bot: bool,
    client_id: &str,
    text: &str,
    files: &[crate::attachments::StoredFile],
) -> Result<Stored> {
    let provider_id = format!("{}:{client_id}", visitor.id);
    let continues = match visitor.conversation_id {
        Some(c) if is_active(conn, c).await? => Some(c),
        _ => None,
    };
    let identity = match &visitor.email {
        Some(e) => (IdentityKind::Email, e.as_str()),
        None => (IdentityKind::ChatVisitor, visitor.id.as_str()),
    };
    let subject: String = seva_core::text::preview(text, 60);
    let received = crate::conversations::ingest(
        conn,
        Arrival {
            channel: Channel::Chat,
            identity,
            name: visitor.name.as_deref(),
            subject: &subject,
            text,
            files,
            provider_id: Some(&provider_id),
            continues,
            inbox_id: Some(visitor.inbox_id),
            team_id: team,
            customer_key_hash: None,
            priority: Priority::Normal,
            recorded_by: None,
            owner: None,
            email: Default::default(),
            bot,
        },
    )
    .await?;
    if Some(received.conversation_id) != visitor.conversation_id {
        conn.execute(
            "UPDATE chat_visitors SET conversation_id = $1 WHERE id = $2",
            args![received.conversation_id.to_string(), visitor.id.as_str()],
        )
        .await?;
    }
    let row = conn
        .query_one(
            "SELECT seq, id, text, created_at FROM messages WHERE channel = 'chat' AND provider_id = $1",
            args![provider_id.as_str()],
        )
        .await?;
    Ok(Stored {
        conversation_id: received.conversation_id,
        line: Line {
            seq: row.int(0)?,
            id: row.parse(1)?,
            from: "visitor",
            name: visitor.name.clone(),
            text: row.text(2)?,
            at: Timestamp(row.int(3)?),
            files: Vec::new(),
            client_id: Some(client_id.to_string()),
        },
        duplicate: received.duplicate,
    })
}

/// Where a waiting chat stands: its place in its team's queue (1 is next) and the wait
/// to expect, from how long the team's last chats waited to be picked up.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Place {
    pub position: i64,
    /// Seconds; none while the team has no picked-up chat to learn from.
    pub estimated_wait: Option<i64>,
}

/// How a chat stands for its visitor: still going or ended, and its place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub active: bool,
    /// None when an agent has it (or it has no team, or has ended).
    pub place: Option<Place>,
}

/// Whether a conversation is still going and, while it waits unowned in its team's queue,
/// its place there.
pub async fn standing(conn: &mut dyn Conn, conversation: ConversationId) -> Result<Standing> {
    let c = crate::conversations::get(conn, conversation).await?;
    let active = c.status.is_active();
    Ok(Standing {
        active,
        place: match (c.team_id, c.owner_id, active) {
            (Some(team), None, true) => Some(place(conn, &c, team).await?),
            _ => None,
        },
    })
}

/// The place of a conversation that waits unowned in `team`'s queue.
async fn place(
    conn: &mut dyn Conn,
    c: &crate::conversations::Conversation,
    team: seva_core::TeamId,
) -> Result<Place> {
    let conversation = c.id;
    // Ahead: more urgent, or as urgent and older (the order routing hands them out in).
    let rank = |p: &str| match p {
        "urgent" => 0,
        "high" => 1,
        "normal" => 2,
        _ => 3,
    };
    let mine = rank(c.priority.as_str());
    let ahead = conn
        .query(
            "SELECT priority, created_at, seq FROM conversations \
             WHERE team_id = $1 AND active = 1 AND owner_id IS NULL AND id <> $2",
            args![team.to_string(), conversation.to_string()],
        )
        .await?
        .iter()
        .map(|r| Ok((rank(&r.text(0)?), r.int(1)?, r.int(2)?)))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|(p, created, seq)| {
            *p < mine || (*p == mine && (*created, *seq) < (c.created_at.micros(), c.reference))
        })
        .count() as i64;
    let position = ahead + 1;
    // The mean wait of the team's last 20 chats that someone picked up.
    let waits = conn
        .query(
            "SELECT c.created_at, min(e.created_at) FROM conversations c JOIN events e ON e.conversation_id = c.id \
             WHERE c.team_id = $1 AND c.channel = 'chat' AND e.kind = 'conversation.assigned' \
             GROUP BY c.id, c.created_at ORDER BY c.created_at DESC LIMIT 20",
            args![team.to_string()],
        )
        .await?
        .iter()
        .map(|r| Ok((r.int(1)? - r.int(0)?).max(0)))
        .collect::<Result<Vec<i64>>>()?;
    let estimated_wait = (!waits.is_empty())
        .then(|| waits.iter().sum::<i64>() / waits.len() as i64 * position / 1_000_000);
    Ok(Place {
        position,
        estimated_wait,
    })
}

/// Records that the visitor has read the agents' answers up to `seq`. Returns how many
/// answers became read.
pub async fn read(conn: &mut dyn Conn, conversation: ConversationId, seq: i64) -> Result<u64> {
    let n = conn
        .execute(
            "UPDATE messages SET delivery = 'read' WHERE conversation_id = $1 AND kind = 'outbound' \
             AND seq <= $2 AND delivery IN ('queued', 'sent', 'delivered')",
            args![conversation.to_string(), seq],
        )
        .await?;
    if n > 0 {
        crate::events::append(
            conn,
            "chat.read",
            Some(conversation),
            "system:chat",
            serde_json::json!({"seq": seq}),
        )
        .await?;
    }
    Ok(n)
}

/// Records that the visitor left before anyone answered (once).
pub async fn abandoned(conn: &mut dyn Conn, conversation: ConversationId) -> Result<bool> {
    let c = crate::conversations::get(conn, conversation).await?;
    if c.owner_id.is_some() || !c.status.is_active() {
        return Ok(false);
    }
    let changed = conn
        .execute(
            "UPDATE conversations SET abandoned_at = $1 WHERE id = $2 AND abandoned_at IS NULL",
            args![crate::now().micros(), conversation.to_string()],
        )
        .await?;
    if changed > 0 {
        crate::events::append(
            conn,
            "chat.abandoned",
            Some(conversation),
            "system:chat",
            serde_json::json!({}),
        )
        .await?;
    }
    Ok(changed > 0)
}

/// Whether the conversation is still going (not solved or closed).
async fn is_active(conn: &mut dyn Conn, conversation: ConversationId) -> Result<bool> {
    conn.query_one(
        "SELECT active FROM conversations WHERE id = $1",
        args![conversation.to_string()],
    )
    .await?
    .bool(0)
}

/// Whether an available agent of the team (any agent, without a team) has a desk open.
pub async fn anyone_online(conn: &mut dyn Conn, team: Option<seva_core::TeamId>) -> Result<bool> {
    let since = crate::now().micros() - crate::routing::ONLINE_WITHIN;
    let row = match team {
        Some(team) => {
            conn.query_opt(
                "SELECT 1 FROM team_members m JOIN agents a ON a.id = m.agent_id \
                 JOIN agent_routing r ON r.agent_id = m.agent_id \
                 WHERE m.team_id = $1 AND a.disabled = 0 AND r.available = 1 AND r.seen_at >= $2 LIMIT 1",
                args![team.to_string(), since],
            )
            .await?
        }
        None => {
            conn.query_opt(
                "SELECT 1 FROM agents a JOIN agent_routing r ON r.agent_id = a.id \
                 WHERE a.disabled = 0 AND r.available = 1 AND r.seen_at >= $1 LIMIT 1",
                args![since],
            )
            .await?
        }
    };
    Ok(row.is_some())
}
