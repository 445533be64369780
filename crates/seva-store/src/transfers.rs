//! Ownership that survives a transfer. When the owner hands a conversation to another
//! team, the owner stays accountable: the conversation goes on hold for them and into the
//! other team's queue, with a note to that team. When the other team marks its part done,
//! the conversation comes back and the owner gets one follow-up task: confirm with the
//! customer that it is solved. The customer sees one conversation and one thread all
//! along; the transfer, the notes and the follow-up are internal.

use serde::Serialize;
use seva_core::conversation::{MessageKind, Status};
use seva_core::time::Timestamp;
use seva_core::{AgentId, ConversationId, TaskId, TeamId, TransferId};

use crate::conversations::{self, Reply, Viewer};
use crate::db::Conn;
use crate::{Error, Result, args};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transfer {
    pub id: TransferId,
    pub conversation_id: ConversationId,
    pub from_team_id: Option<TeamId>,
    pub to_team_id: TeamId,
    /// Who stays accountable and gets the follow-up.
    pub owner_id: Option<AgentId>,
    pub note: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub done_at: Option<Timestamp>,
    pub done_note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    pub id: TaskId,
    pub conversation_id: ConversationId,
    pub agent_id: AgentId,
    /// `follow_up`.
    pub kind: String,
    pub text: String,
    pub transfer_id: Option<TransferId>,
    pub created_at: Timestamp,
    pub done_at: Option<Timestamp>,
    /// The conversation's reference and subject, for lists.
    pub reference: i64,
    pub subject: String,
}

const TRANSFER_COLUMNS: &str = "id, conversation_id, from_team_id, to_team_id, owner_id, note, created_by, created_at, done_at, done_note";

fn decode_transfer(r: &crate::Row) -> Result<Transfer> {
    Ok(Transfer {
        id: r.parse(0)?,
        conversation_id: r.parse(1)?,
        from_team_id: r.opt_parse(2)?,
        to_team_id: r.parse(3)?,
        owner_id: r.opt_parse(4)?,
        note: r.text(5)?,
        created_by: r.text(6)?,
        created_at: Timestamp(r.int(7)?),
        done_at: r.opt_int(8)?.map(Timestamp),
        done_note: r.opt_text(9)?,
    })
}

/// A conversation's transfers, oldest first.
pub async fn of_conversation(conn: &mut dyn Conn, id: ConversationId) -> Result<Vec<Transfer>> {
    let sql = format!(
        "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE conversation_id = $1 ORDER BY created_at"
    );
    conn.query(&sql, args![id.to_string()])
        .await?
        .iter()
        .map(decode_transfer)
        .collect()
}

async fn under_way(conn: &mut dyn Conn, id: ConversationId) -> Result<Option<Transfer>> {
    let sql = format!(
        "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE conversation_id = $1 AND done_at IS NULL"
    );
    conn.query_opt(&sql, args![id.to_string()])
        .await?
        .as_ref()
        .map(decode_transfer)
        .transpose()
}

/// Hands the conversation to `to_team` with a note to them. The owner (or, if there is
/// none yet, the agent transferring) stays accountable.
pub async fn start(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    to_team: TeamId,
    note: &str,
) -> Result<Transfer> {
    let c = conversations::get_for(conn, viewer, id).await?;
    let note = note.trim();
    if note.is_empty() {
        return Err(Error::invalid(
            "note",
            "tell the other team what they should do",
        ));
    }
    let team = crate::teams::get(conn, to_team)
        .await
        .map_err(|e| match e {
            Error::NotFound => Error::invalid("team_id", "no such team"),
            e => e,
        })?;
    if c.team_id == Some(to_team) {
        return Err(Error::invalid(
            "team_id",
            "the conversation is already with that team",
        ));
    }
    if !c.status.is_active() {
        return Err(Error::Conflict(format!(
            "the conversation is {}; reopen it before transferring it",
            c.status
        )));
    }
    if under_way(conn, id).await?.is_some() {
        return Err(Error::Conflict(
            "the conversation is already with another team; that team marks its part done first"
                .into(),
        ));
    }
    let actor = viewer.actor();
    let owner = match c.owner_id {
        Some(o) => o,
        None => {
            conversations::set_owner(conn, &c, Some(viewer.agent_id), &actor).await?;
            viewer.agent_id
        }
    };
    conversations::reply(
        conn,
        viewer,
        id,
        Reply {
            text: &format!("→ {}: {note}", team.name),
            kind: MessageKind::Note,
            files: &[],
            then: None,
        },
    )
    .await?;
    let transfer = TransferId::new();
    let now = crate::now().micros();
    conn.execute(
        "INSERT INTO transfers (id, conversation_id, from_team_id, to_team_id, owner_id, note, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            transfer.to_string(),
            id.to_string(),
            c.team_id.map(|t| t.to_string()),
            to_team.to_string(),
            owner.to_string(),
            note,
            actor.as_str(),
            now
        ],
    )
    .await
    .map_err(|e| {
        if e.is_unique_violation() {
            Error::Conflict("the conversation is already with another team".into())
        } else {
            e
        }
    })?;
    let c = conversations::get(conn, id).await?;
    conversations::apply_team(conn, &c, Some(to_team), &actor).await?;
    if c.status != Status::OnHold {
        conversations::change_status(conn, &c, Status::OnHold, &actor).await?;
    }
    crate::events::append(
        conn,
        "conversation.transferred",
        Some(id),
        &actor,
        serde_json::json!({"transfer_id": transfer, "from_team_id": c.team_id, "to_team_id": to_team, "owner_id": owner}),
    )
    .await?;
    let c = conversations::get(conn, id).await?;
    let text = format!("#{} {} — {note}", c.reference, c.subject);
    crate::notifications::notify(conn, &c, "team", "transfer", &text).await?;
    under_way(conn, id).await?.ok_or(Error::NotFound)
}

/// The other team marks its part done: the conversation goes back to the team it came
/// from, opens again, and its owner gets one follow-up task. A second "done" (a double
/// click, two colleagues at once) finds no transfer under way and changes nothing.
pub async fn finish(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    note: &str,
) -> Result<Task> {
    let c = conversations::get_for(conn, viewer, id).await?;
    let t = under_way(conn, id)
        .await?
        .ok_or_else(|| Error::Conflict("no transfer of this conversation is under way".into()))?;
    if !viewer.role.sees_every_team() && !viewer.teams.contains(&t.to_team_id) {
        return Err(Error::Conflict(
            "only the team the conversation was transferred to (or a supervisor) marks it done"
                .into(),
        ));
    }
    let now = crate::now().micros();
    let note = note.trim();
    let closed = conn
        .execute(
            "UPDATE transfers SET done_at = $1, done_note = $2 WHERE id = $3 AND done_at IS NULL",
            args![now, note, t.id.to_string()],
        )
        .await?;
    if closed == 0 {
        return Err(Error::Conflict(
            "that transfer was already marked done".into(),
        ));
    }
    let actor = viewer.actor();
    if !note.is_empty() {
        conversations::reply(
            conn,
            viewer,
            id,
            Reply {
                text: note,
                kind: MessageKind::Note,
                files: &[],
                then: None,
            },
        )
        .await?;
    }
    conversations::apply_team(conn, &c, t.from_team_id, &actor).await?;
    let c = conversations::get(conn, id).await?;
    if c.status == Status::OnHold {
        conversations::change_status(conn, &c, Status::Open, &actor).await?;
    }
    let owner = t
        .owner_id
        .ok_or_else(|| Error::Conflict("the transfer has no owner to follow up".into()))?;
    let task = TaskId::new();
    let text = if note.is_empty() {
        "Confirm with the customer that it is solved".to_string()
    } else {
        format!("Confirm with the customer that it is solved. {note}")
    };
    conn.execute(
        "INSERT INTO tasks (id, conversation_id, agent_id, kind, text, transfer_id, created_at) VALUES ($1, $2, $3, 'follow_up', $4, $5, $6)",
        args![task.to_string(), id.to_string(), owner.to_string(), text.as_str(), t.id.to_string(), now],
    )
    .await?;
    crate::events::append(
        conn,
        "conversation.transfer_done",
        Some(id),
        &actor,
        serde_json::json!({"transfer_id": t.id, "task_id": task, "owner_id": owner}),
    )
    .await?;
    let c = conversations::get(conn, id).await?;
    crate::notifications::to_agent(
        conn,
        owner,
        Some(id),
        "follow_up",
        &format!("#{} {} — {text}", c.reference, c.subject),
    )
    .await?;
    task_by_id(conn, task).await
}

const TASK_COLUMNS: &str = "t.id, t.conversation_id, t.agent_id, t.kind, t.text, t.transfer_id, t.created_at, t.done_at, c.seq, c.subject";

fn decode_task(r: &crate::Row) -> Result<Task> {
    Ok(Task {
        id: r.parse(0)?,
        conversation_id: r.parse(1)?,
        agent_id: r.parse(2)?,
        kind: r.text(3)?,
        text: r.text(4)?,
        transfer_id: r.opt_parse(5)?,
        created_at: Timestamp(r.int(6)?),
        done_at: r.opt_int(7)?.map(Timestamp),
        reference: r.int(8)?,
        subject: r.text(9)?,
    })
}

async fn task_by_id(conn: &mut dyn Conn, id: TaskId) -> Result<Task> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks t JOIN conversations c ON c.id = t.conversation_id WHERE t.id = $1"
    );
    decode_task(
        &conn
            .query_opt(&sql, args![id.to_string()])
            .await?
            .ok_or(Error::NotFound)?,
    )
}

/// Tasks, oldest first: an agent's (open ones only, or all) or a conversation's.
pub async fn tasks(
    conn: &mut dyn Conn,
    agent: Option<AgentId>,
    conversation: Option<ConversationId>,
    open_only: bool,
) -> Result<Vec<Task>> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks t JOIN conversations c ON c.id = t.conversation_id \
         WHERE ($1 = '' OR t.agent_id = $1) AND ($2 = '' OR t.conversation_id = $2) AND ($3 = 0 OR t.done_at IS NULL) \
         ORDER BY t.created_at LIMIT 500"
    );
    conn.query(
        &sql,
        args![
            agent.map(|a| a.to_string()).unwrap_or_default(),
            conversation.map(|c| c.to_string()).unwrap_or_default(),
            open_only
        ],
    )
    .await?
    .iter()
    .map(decode_task)
    .collect()
}

/// Marks a task done; only its agent (or a supervisor) may.
pub async fn complete(conn: &mut dyn Conn, viewer: &Viewer, id: TaskId) -> Result<Task> {
    let t = task_by_id(conn, id).await?;
    if t.agent_id != viewer.agent_id && !viewer.role.sees_every_team() {
        return Err(Error::NotFound);
    }
    if t.done_at.is_none() {
        conn.execute(
            "UPDATE tasks SET done_at = $1 WHERE id = $2 AND done_at IS NULL",
            args![crate::now().micros(), id.to_string()],
        )
        .await?;
        crate::events::append(
            conn,
            "task.done",
            Some(t.conversation_id),
            &viewer.actor(),
            serde_json::json!({"task_id": id}),
        )
        .await?;
    }
    task_by_id(conn, id).await
}
