//! Conversations: the one ingestion path every channel uses, and everything an agent does
//! to a conversation (reply, note, assign, change status and priority, tag, follow). Each
//! change writes its event in the same transaction.

use serde::Serialize;
use seva_core::agent::{ConversationScope, Role, may_see};
use seva_core::contact::IdentityKind;
use seva_core::conversation::{
    Channel, Delivery, MessageKind, Priority, Sort, Status, check_transition, normalise_tag,
};
use seva_core::inbound::Received;
use seva_core::time::Timestamp;
use seva_core::{AgentId, ContactId, ConversationId, InboxId, MessageId, OrganizationId, TeamId};

use crate::attachments::StoredFile;
use crate::db::{Conn, Value};
use crate::messages::NewMessage;
use crate::{Error, Result, args};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    pub id: ConversationId,
    /// The short number customers quote ("#1042").
    pub reference: i64,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    pub channel: Channel,
    pub contact_id: ContactId,
    pub contact_name: String,
    pub inbox_id: Option<InboxId>,
    pub team_id: Option<TeamId>,
    pub owner_id: Option<AgentId>,
    pub language: Option<String>,
    pub tags: Vec<String>,
    pub followers: Vec<AgentId>,
    pub custom_fields: serde_json::Value,
    pub preview: String,
    pub message_count: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub first_response_at: Option<Timestamp>,
    pub solved_at: Option<Timestamp>,
    /// Pending until then (or until the customer writes).
    pub snoozed_until: Option<Timestamp>,
    #[serde(skip)]
    pub team_private: bool,
}

/// Who is asking, for the visibility rule.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub agent_id: AgentId,
    pub role: Role,
    pub teams: Vec<TeamId>,
}

impl Viewer {
    pub fn may_see(&self, c: &Conversation) -> bool {
        may_see(
            self.role,
            &self.teams,
            ConversationScope {
                team: c.team_id.as_ref(),
                team_is_private: c.team_private,
                owner_is_viewer: c.owner_id == Some(self.agent_id),
            },
        )
    }

    pub fn actor(&self) -> String {
        format!("agent:{}", self.agent_id)
    }
}

const COLUMNS: &str = "c.id, c.seq, c.subject, c.status, c.priority, c.channel, c.contact_id, ct.name, c.inbox_id, \
    c.team_id, c.owner_id, c.language, c.custom_fields, c.preview, c.message_count, c.created_at, c.updated_at, \
    c.first_response_at, c.solved_at, coalesce(t.private, 0), c.snoozed_until";
const FROM: &str = "FROM conversations c JOIN contacts ct ON ct.id = c.contact_id LEFT JOIN teams t ON t.id = c.team_id";

fn decode(mut row: crate::Row) -> Result<Conversation> {
    Ok(Conversation {
        id: row.parse(0)?,
        reference: row.int(1)?,
        subject: row.take_text(2)?,
        status: row.parse(3)?,
        priority: row.parse(4)?,
        channel: row.parse(5)?,
        contact_id: row.parse(6)?,
        contact_name: row.take_text(7)?,
        inbox_id: row.opt_parse(8)?,
        team_id: row.opt_parse(9)?,
        owner_id: row.opt_parse(10)?,
        language: row.opt_take_text(11)?,
        custom_fields: serde_json::from_str(row.str(12)?).unwrap_or_default(),
        preview: row.take_text(13)?,
        message_count: row.int(14)?,
        created_at: Timestamp(row.int(15)?),
        updated_at: Timestamp(row.int(16)?),
        first_response_at: row.opt_int(17)?.map(Timestamp),
        solved_at: row.opt_int(18)?.map(Timestamp),
        team_private: row.bool(19)?,
        snoozed_until: row.opt_int(20)?.map(Timestamp),
        tags: Vec::new(),
        followers: Vec::new(),
    })
}

/// A conversation as stored, whoever asks. Use [`get_for`] on behalf of an agent.
pub async fn get(conn: &mut dyn Conn, id: ConversationId) -> Result<Conversation> {
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE c.id = $1");
    let row = conn
        .query_opt(&sql, args![id.to_string()])
        .await?
        .ok_or(Error::NotFound)?;
    let mut c = decode(row)?;
    c.tags = conn
        .query(
            "SELECT tag FROM conversation_tags WHERE conversation_id = $1 ORDER BY tag",
            args![id.to_string()],
        )
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<_>>()?;
    c.followers = conn
        .query("SELECT agent_id FROM conversation_followers WHERE conversation_id = $1 ORDER BY agent_id", args![id.to_string()])
        .await?
        .iter()
        .map(|r| r.parse(0))
        .collect::<Result<_>>()?;
    Ok(c)
}

/// The conversations with these ids that exist, in one read, without their tags and
/// followers (for lists and checks that do not show them).
pub async fn get_many(conn: &mut dyn Conn, ids: &[ConversationId]) -> Result<Vec<Conversation>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT {COLUMNS} {FROM} WHERE c.id IN ({})",
        marks.join(", ")
    );
    let args: Vec<crate::db::Value> = ids.iter().map(|id| id.to_string().into()).collect();
    conn.query(&sql, &args)
        .await?
        .into_iter()
        .map(decode)
        .collect()
}

/// A conversation on behalf of `viewer`: one they may not see is "not found", so that
/// its existence does not leak.
pub async fn get_for(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
) -> Result<Conversation> {
    let c = get(conn, id).await?;
    if viewer.may_see(&c) {
        Ok(c)
    } else {
        Err(Error::NotFound)
    }
}

/// The conversation with this reference number (the `#123` agents and customers quote).
pub async fn by_reference(conn: &mut dyn Conn, reference: i64) -> Result<Conversation> {
    let row = conn
        .query_opt(
            "SELECT id FROM conversations WHERE seq = $1",
            args![reference],
        )
        .await?
        .ok_or(Error::NotFound)?;
    get(conn, row.parse(0)?).await
}

pub async fn by_customer_key(conn: &mut dyn Conn, key_hash: &str) -> Result<Conversation> {
    let row = conn
        .query_opt(
            "SELECT id FROM conversations WHERE customer_key_hash = $1",
            args![key_hash],
        )
        .await?
        .ok_or(Error::NotFound)?;
    get(conn, row.parse(0)?).await
}

/// What a customer sent, in the shape every channel produces.
pub struct Arrival<'a> {
    pub channel: Channel,
    pub identity: (IdentityKind, &'a str),
    pub name: Option<&'a str>,
    pub subject: &'a str,
    pub text: &'a str,
    pub files: &'a [StoredFile],
    pub provider_id: Option<&'a str>,
    pub continues: Option<ConversationId>,
    pub inbox_id: Option<InboxId>,
    pub team_id: Option<TeamId>,
    /// The hash of the key that lets the customer follow this conversation on the web.
    pub customer_key_hash: Option<&'a str>,
    pub priority: Priority,
    /// Who made the store record it: the contact itself, or an agent/integrator via API.
    pub recorded_by: Option<AgentId>,
    /// The agent a new conversation belongs to from the start (no routing then).
    pub owner: Option<AgentId>,
    pub email: EmailArrival<'a>,
    /// The inbox's answering bot takes a new conversation before a person does.
    pub bot: bool,
}

/// What only email brings to an arrival.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmailArrival<'a> {
    pub parts: crate::messages::EmailParts<'a>,
    /// The people on the mail other than us (the sender included): all but the requester
    /// are kept in copy on our replies.
    pub participants: &'a [(String, Option<String>)],
    /// A solved conversation solved longer ago than this (microseconds) is not reopened by
    /// a reply: a new conversation starts.
    pub reopen_within: Option<i64>,
}

/// A new conversation's row, as the ingestion path and an agent's start write it.
struct NewRow<'a> {
    id: ConversationId,
    subject: &'a str,
    priority: Priority,
    channel: Channel,
    contact_id: ContactId,
    inbox_id: Option<InboxId>,
    team_id: Option<TeamId>,
    preview: &'a str,
    customer_key_hash: Option<&'a str>,
    message_count: i64,
    now: i64,
    language: Option<&'static str>,
}

/// Writes a new open conversation and returns its reference number. It is written without
/// an owner: routing or an agent sets one by an update, which the agent-load trigger
/// counts (migration 0011).
async fn insert_row(conn: &mut dyn Conn, r: &NewRow<'_>) -> Result<i64> {
    conn.query_one(
        "INSERT INTO conversations (id, subject, status, priority, channel, contact_id, inbox_id, team_id, preview, \
         customer_key_hash, message_count, created_at, updated_at, language) \
         VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12) RETURNING seq",
        args![
            r.id.to_string(),
            r.subject,
            r.priority.as_str(),
            r.channel.as_str(),
            r.contact_id.to_string(),
            r.inbox_id.map(|i| i.to_string()),
            r.team_id.map(|t| t.to_string()),
            r.preview,
            r.customer_key_hash,
            r.message_count,
            r.now,
            r.language
        ],
    )
    .await?
    .int(0)
}

/// The one ingestion path: resolves the contact, opens or continues the conversation,
/// appends the message and its attachments and the event, all in the caller's
/// transaction. A message whose provider id was already stored is not stored again.
pub async fn ingest(conn: &mut dyn Conn, a: Arrival<'_>) -> Result<Received> {
    if let Some(pid) = a.provider_id
        && let Some(row) = conn
            .query_opt(
                "SELECT m.conversation_id, c.seq FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                 WHERE m.channel = $1 AND m.provider_id = $2",
                args![a.channel.as_str(), pid],
            )
            .await?
    {
        return Ok(Received { conversation_id: row.parse(0)?, reference: row.int(1)?, duplicate: true, created: false, blocked: false });
    }
    let subject = seva_core::text::truncate_graphemes(
        &seva_core::text::nfc(a.subject.trim()),
        seva_core::conversation::MAX_SUBJECT_CHARS,
    );
    // An email may be only a subject; its original is kept, so it is not empty.
    if a.text.trim().is_empty() && a.files.is_empty() && a.email.parts.source_sha256.is_none() {
        return Err(Error::invalid(
            "text",
            "a message needs some text or a file",
        ));
    }
    let found = crate::contacts::resolve(conn, a.identity.0, a.identity.1, a.name).await?;
    let (contact_id, blocked) = (found.id, found.blocked);
    let now = crate::now().micros();
    let preview = seva_core::text::preview(a.text, 140);
    let actor = match a.recorded_by {
        Some(agent) => format!("agent:{agent}"),
        None => format!("contact:{contact_id}"),
    };

    let continued = match a.continues {
        Some(id) => Some(get(conn, id).await?),
        None => None,
    };
    let reopens = |c: &Conversation| match (c.status, a.email.reopen_within, c.solved_at) {
        (Status::Closed, _, _) => false,
        (Status::Solved, Some(window), Some(at)) => now - at.micros() <= window,
        _ => true,
    };
    let (id, reference, created, language, subject) = match continued {
        // A blocked contact's message is kept in its conversation, which stays as it is:
        // nobody is told, nothing reopens.
        Some(c) if blocked && c.status != Status::Closed => {
            conn.execute(
                "UPDATE conversations SET message_count = message_count + 1, updated_at = $1 WHERE id = $2",
                args![now, c.id.to_string()],
            )
            .await?;
            (c.id, c.reference, false, None, c.subject)
        }
        Some(c) if reopens(&c) => {
            let status = c.status.after_customer_message();
            conn.execute(
                "UPDATE conversations SET status = $1, active = $5, preview = $2, message_count = message_count + 1, updated_at = $3, \
                 solved_at = CASE WHEN $1 = 'solved' THEN solved_at ELSE NULL END, snoozed_until = NULL WHERE id = $4",
                args![status.as_str(), &preview, now, c.id.to_string(), status.is_active()],
            )
            .await?;
            if status != c.status {
                crate::sla::on_status(conn, c.id, status).await?;
            }
            if c.first_response_at.is_some() {
                crate::sla::on_customer_message(conn, c.id).await?;
            }
            notify_followers_of_message(conn, &c, None, a.text).await?;
            (c.id, c.reference, false, None, c.subject)
        }
        _ => {
            let id = ConversationId::new();
            // The language the customer wrote in, for routing and automatic texts.
            let language = seva_core::text::guess_language(a.text);
            let subject = if subject.is_empty() {
                seva_core::text::preview(a.text, 80)
            } else {
                subject
            };
            let reference = insert_row(
                conn,
                &NewRow {
                    id,
                    subject: &subject,
                    priority: a.priority,
                    channel: a.channel,
                    contact_id,
                    inbox_id: a.inbox_id,
                    team_id: a.team_id,
                    preview: &preview,
                    customer_key_hash: a.customer_key_hash,
                    message_count: 1,
                    now,
                    language,
                },
            )
            .await?;
            (id, reference, true, language, subject)
        }
    };
    let inserted = crate::messages::insert(
        conn,
        NewMessage {
            conversation_id: id,
            kind: MessageKind::Inbound,
            channel: a.channel,
            author_agent_id: None,
            author_contact_id: Some(contact_id),
            text: a.text,
            delivery: Delivery::Received,
            provider_id: a.provider_id,
            email: a.email.parts,
        },
    )
    .await?;
    let message_id = inserted.id;
    crate::email::add_participants(conn, id, a.email.participants).await?;
    if created && !blocked {
        // Rules first: they may set the team, the owner or the priority, which decide
        // the queue and the SLA targets.
        let (mut priority, mut team, mut owner) = (a.priority, a.team_id, a.owner);
        if let Some(agent) = a.owner {
            check_owner(conn, agent).await?;
            let c = get(conn, id).await?;
            set_owner(conn, &c, Some(agent), &actor).await?;
        }
        if crate::rules::run_created(conn, id).await? {
            let c = get(conn, id).await?;
            (priority, team, owner) = (c.priority, c.team_id, c.owner_id);
        }
        crate::sla::start(conn, id, priority, a.channel, a.inbox_id).await?;
        if a.bot && owner.is_none() {
            crate::bot::begin(conn, id, team, language).await?;
        } else if let (Some(team), None) = (team, owner) {
            crate::routing::route(conn, id, team, language).await?;
        }
    }
    for file in a.files {
        crate::attachments::insert(conn, message_id, file).await?;
    }
    let kind = if created {
        "conversation.created"
    } else {
        "message.created"
    };
    crate::events::append_message(
        conn,
        kind,
        Some(id),
        &actor,
        serde_json::json!({
            "reference": reference,
            "message_id": message_id,
            "kind": "inbound",
            "channel": a.channel,
            "contact_id": contact_id,
            "attachments": a.files.len(),
        }),
        inserted.searchable(id, reference, &subject, false),
    )
    .await?;
    let conversational = matches!(
        a.channel,
        Channel::Chat | Channel::Sms | Channel::Whatsapp | Channel::Telegram
    );
    if blocked {
        if created {
            // Kept, but filed as spam: solved at once, nobody told, no clock running.
            apply_tags(conn, id, &[SPAM.to_string()], &[], "system:spam").await?;
            let c = get(conn, id).await?;
            change_status(conn, &c, Status::Solved, "system:spam").await?;
        }
    } else if (created && a.bot) || (!created && conversational) {
        crate::bot::heard(conn, id, message_id).await?;
    }
    Ok(Received {
        conversation_id: id,
        reference,
        duplicate: false,
        created,
        blocked,
    })
}

/// The tag of conversations filed as spam.
pub const SPAM: &str = "spam";

/// Marks a conversation as spam: its contact is blocked (what they send from now on is
/// filed as spam), and it is tagged `spam` and solved, in one write. With `spam` false,
/// undoes that: the contact may write again, the tag goes, and a solved conversation
/// opens again.
pub async fn set_spam(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    spam: bool,
) -> Result<Conversation> {
    let c = get_for(conn, viewer, id).await?;
    let actor = viewer.actor();
    crate::contacts::set_blocked(conn, c.contact_id, spam, &actor).await?;
    let tag = [SPAM.to_string()];
    let (add, remove, to): (&[String], &[String], _) = if spam {
        (&tag, &[], c.status.is_active().then_some(Status::Solved))
    } else {
        (
            &[],
            &tag,
            (c.status == Status::Solved).then_some(Status::Open),
        )
    };
    apply_tags(conn, id, add, remove, &actor).await?;
    if let Some(to) = to {
        change_status(conn, &c, to, &actor).await?;
    }
    get(conn, id).await
}

/// A conversation an agent starts, from the desk or the API.
pub struct Start<'a> {
    pub identity: (IdentityKind, &'a str),
    pub name: Option<&'a str>,
    pub subject: &'a str,
    pub text: &'a str,
    pub files: &'a [StoredFile],
    /// `Inbound`: the customer's request as the agent took it (on the phone, at the
    /// counter, from an integration), recorded in the customer's name. `Outbound`: the
    /// agent writes first.
    pub first: MessageKind,
    /// How the customer is answered: `Email` (from `inbox_id`, which must be an email
    /// inbox), `Voice` for a call, `Api` for an integration. Writing first needs `Email`.
    pub channel: Channel,
    pub inbox_id: Option<InboxId>,
    pub team_id: Option<TeamId>,
    pub priority: Priority,
    pub owner: Option<AgentId>,
    /// Where it stands once written: solved, for a call that settled the matter.
    pub status: Status,
    /// Email addresses put in copy from the start (email conversations): they receive the
    /// first message when the agent writes first, and every reply.
    pub copy: &'a [String],
}

/// Opens a conversation on an agent's word, in one transaction: the contact (found or
/// made), the conversation, its first message, its owner, and its status.
pub async fn start(conn: &mut dyn Conn, viewer: &Viewer, s: Start<'_>) -> Result<Received> {
    if s.status == Status::Closed {
        return Err(Error::invalid(
            "status",
            "a new conversation cannot start closed; solve it instead",
        ));
    }
    if s.channel == Channel::Email {
        let Some(inbox) = s.inbox_id else {
            return Err(Error::invalid(
                "inbox_id",
                "choose the email inbox to answer from",
            ));
        };
        let i = crate::inboxes::get(conn, inbox)
            .await
            .map_err(|e| match e {
                Error::NotFound => Error::invalid("inbox_id", "no such inbox"),
                e => e,
            })?;
        if i.channel != Channel::Email {
            return Err(Error::invalid("inbox_id", "not an email inbox"));
        }
    }
    if let Some(team) = s.team_id {
        check_team(conn, team).await?;
    }
    if !s.copy.is_empty() && s.channel != Channel::Email {
        return Err(Error::invalid(
            "copy",
            "only an email conversation has people in copy",
        ));
    }
    let received = match s.first {
        MessageKind::Inbound => {
            ingest(
                conn,
                Arrival {
                    channel: s.channel,
                    identity: s.identity,
                    name: s.name,
                    subject: s.subject,
                    text: s.text,
                    files: s.files,
                    provider_id: None,
                    continues: None,
                    inbox_id: s.inbox_id,
                    team_id: s.team_id,
                    customer_key_hash: None,
                    priority: s.priority,
                    recorded_by: Some(viewer.agent_id),
                    owner: s.owner,
                    email: Default::default(),
                    bot: false,
                },
            )
            .await?
        }
        MessageKind::Outbound => write_first(conn, viewer, &s).await?,
        _ => {
            return Err(Error::invalid(
                "direction",
                "a conversation starts with the customer's words or the agent's",
            ));
        }
    };
    if !s.copy.is_empty() {
        // The first message's mail is made after the commit, with whoever is in copy then.
        crate::email::set_copy(conn, viewer, received.conversation_id, s.copy, &[])
            .await
            .map_err(|e| match e {
                Error::Invalid { message, .. } => Error::invalid("copy", message),
                e => e,
            })?;
    }
    if s.status != Status::Open {
        let c = get(conn, received.conversation_id).await?;
        if c.status != s.status {
            change_status(conn, &c, s.status, &viewer.actor()).await?;
        }
    }
    Ok(received)
}

/// A conversation whose first message is the agent's, sent by email from its inbox.
async fn write_first(conn: &mut dyn Conn, viewer: &Viewer, s: &Start<'_>) -> Result<Received> {
    if s.channel != Channel::Email {
        return Err(Error::invalid(
            "inbox_id",
            "writing first needs an email inbox to write from",
        ));
    }
    if s.identity.0 != IdentityKind::Email {
        return Err(Error::invalid(
            "contact.email",
            "writing first needs the customer's email address",
        ));
    }
    if s.text.trim().is_empty() && s.files.is_empty() {
        return Err(Error::invalid(
            "text",
            "a message needs some text or a file",
        ));
    }
    let subject = typed_subject(s.subject)?;
    if let Some(agent) = s.owner {
        check_owner(conn, agent).await?;
    }
    let contact_id = crate::contacts::resolve(conn, s.identity.0, s.identity.1, s.name)
        .await?
        .id;
    let id = ConversationId::new();
    let reference = insert_row(
        conn,
        &NewRow {
            id,
            subject: &subject,
            priority: s.priority,
            channel: Channel::Email,
            contact_id,
            inbox_id: s.inbox_id,
            team_id: s.team_id,
            preview: "",
            customer_key_hash: None,
            message_count: 0,
            now: crate::now().micros(),
            language: seva_core::text::guess_language(s.text),
        },
    )
    .await?;
    let actor = viewer.actor();
    crate::events::append(
        conn,
        "conversation.created",
        Some(id),
        &actor,
        serde_json::json!({
            "reference": reference,
            "kind": "outbound",
            "channel": Channel::Email,
            "contact_id": contact_id,
        }),
    )
    .await?;
    if s.owner.is_some() {
        let c = get(conn, id).await?;
        set_owner(conn, &c, s.owner, &actor).await?;
    }
    crate::rules::run_created(conn, id).await?;
    let c = get(conn, id).await?;
    crate::sla::start(conn, id, c.priority, c.channel, c.inbox_id).await?;
    if !viewer.may_see(&c) {
        return Err(Error::invalid(
            "team_id",
            "you could not see that team's conversation to write in it",
        ));
    }
    // The reply queues the mail, stops the first-response clock, and makes the writer
    // the owner when no one else is.
    reply(
        conn,
        viewer,
        id,
        Reply {
            text: s.text,
            kind: MessageKind::Outbound,
            files: s.files,
            then: None,
        },
    )
    .await?;
    Ok(Received {
        conversation_id: id,
        reference,
        duplicate: false,
        created: true,
        blocked: false,
    })
}

/// Tells the conversation's followers of a new message in it, written by the agent
/// `author` (or, with `None`, by the customer).
async fn notify_followers_of_message(
    conn: &mut dyn Conn,
    c: &Conversation,
    author: Option<AgentId>,
    text: &str,
) -> Result<()> {
    if c.followers.iter().all(|f| Some(*f) == author) {
        return Ok(());
    }
    let who = match author {
        Some(a) => crate::agents::get(conn, a).await?.name,
        None => c.contact_name.clone(),
    };
    let line = format!(
        "#{} {} — {who}: {}",
        c.reference,
        c.subject,
        seva_core::text::preview(text, 140)
    );
    notify_followers(conn, c, author.as_slice(), "followed", &line).await
}

/// Tells each follower of `c` but those in `skip` (who made the change, or were told
/// otherwise) who is not disabled and may still see the conversation.
async fn notify_followers(
    conn: &mut dyn Conn,
    c: &Conversation,
    skip: &[AgentId],
    kind: &str,
    line: &str,
) -> Result<()> {
    for id in c.followers.iter().copied().filter(|f| !skip.contains(f)) {
        let agent = crate::agents::get(conn, id).await?;
        let them = agent.viewer();
        if agent.disabled || !them.may_see(c) {
            continue;
        }
        crate::notifications::to_agent(conn, id, Some(c.id), kind, line).await?;
    }
    Ok(())
}

/// A notification's line about a change to `c`: its number and subject, and who made
/// the change when that is a person or a rule.
async fn headline(conn: &mut dyn Conn, c: &Conversation, actor: &str) -> Result<String> {
    Ok(match actor_name(conn, actor).await? {
        Some(by) => format!("#{} {} — {by}", c.reference, c.subject),
        None => format!("#{} {}", c.reference, c.subject),
    })
}

/// The agent an event's actor names (`agent:<id>`), if it names one.
fn agent_of(actor: &str) -> Option<AgentId> {
    actor.strip_prefix("agent:")?.parse().ok()
}

/// Who an event's actor is, for a person to read: an agent's or a rule's name (`None`
/// for Seva itself, or a customer).
async fn actor_name(conn: &mut dyn Conn, actor: &str) -> Result<Option<String>> {
    let (sql, id) = if let Some(id) = actor.strip_prefix("agent:") {
        ("SELECT name FROM agents WHERE id = $1", id)
    } else if let Some(id) = actor.strip_prefix("rule:") {
        ("SELECT name FROM rules WHERE id = $1", id)
    } else {
        return Ok(None);
    };
    conn.query_opt(sql, args![id])
        .await?
        .map(|r| r.text(0))
        .transpose()
}

/// Tells the agents an internal note mentions (`@maria`, by the part of their email
/// address before the @ or by their name without spaces, in any case) and makes them
/// followers of the conversation. Someone mentioned who may not see it is not told.
async fn notify_mentions(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    c: &Conversation,
    text: &str,
) -> Result<()> {
    let handles = seva_core::text::mentions(text);
    if handles.is_empty() {
        return Ok(());
    }
    let agents = conn
        .query(
            "SELECT id, email, name FROM agents WHERE disabled = 0",
            args![],
        )
        .await?;
    let author = conn
        .query_opt(
            "SELECT name FROM agents WHERE id = $1",
            args![viewer.agent_id.to_string()],
        )
        .await?
        .map(|r| r.text(0))
        .transpose()?
        .unwrap_or_default();
    for row in &agents {
        let (id, email, name): (AgentId, String, String) =
            (row.parse(0)?, row.text(1)?, row.text(2)?);
        let local = seva_core::text::fold(email.split('@').next().unwrap_or(""));
        let compact = seva_core::text::fold(&name.split_whitespace().collect::<String>());
        if id == viewer.agent_id || !handles.iter().any(|h| *h == local || *h == compact) {
            continue;
        }
        let agent = crate::agents::get(conn, id).await?;
        let them = agent.viewer();
        if !them.may_see(c) {
            continue;
        }
        conn.execute(
            "INSERT INTO conversation_followers (conversation_id, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            args![c.id.to_string(), id.to_string()],
        )
        .await?;
        let note = seva_core::text::preview(text, 140);
        crate::notifications::to_agent(
            conn,
            id,
            Some(c.id),
            "mention",
            &format!("#{} {} — {author}: {note}", c.reference, c.subject),
        )
        .await?;
    }
    Ok(())
}

/// A note or system entry written by Seva itself (a rule, a transfer), not by an agent.
pub(crate) async fn system_note(
    conn: &mut dyn Conn,
    c: &Conversation,
    kind: MessageKind,
    text: &str,
    actor: &str,
) -> Result<MessageId> {
    let message_id = crate::messages::insert(
        conn,
        NewMessage {
            conversation_id: c.id,
            kind,
            channel: c.channel,
            author_agent_id: None,
            author_contact_id: None,
            text,
            delivery: Delivery::Internal,
            provider_id: None,
            email: Default::default(),
        },
    )
    .await?
    .id;
    conn.execute(
        "UPDATE conversations SET message_count = message_count + 1, updated_at = $1 WHERE id = $2",
        args![crate::now().micros(), c.id.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "message.created",
        Some(c.id),
        actor,
        serde_json::json!({"message_id": message_id, "kind": kind, "attachments": 0}),
    )
    .await?;
    Ok(message_id)
}

/// What an agent writes into a conversation.
pub struct Reply<'a> {
    pub text: &'a str,
    /// `Outbound` goes to the customer; `Note` stays inside the desk.
    pub kind: MessageKind,
    pub files: &'a [StoredFile],
    /// Status to set with the reply ("send and mark pending"), if any.
    pub then: Option<Status>,
}

/// Records an agent's reply or note. A reply to the customer is also queued for delivery
/// as a job, and the first agent to answer becomes the owner when there is none.
pub async fn reply(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    r: Reply<'_>,
) -> Result<MessageId> {
    if !matches!(r.kind, MessageKind::Outbound | MessageKind::Note) {
        return Err(Error::invalid("kind", "an agent writes a reply or a note"));
    }
    if r.text.trim().is_empty() && r.files.is_empty() {
        return Err(Error::invalid("text", "a reply needs some text or a file"));
    }
    let mut c = get_for(conn, viewer, id).await?;
    if c.status == Status::Closed && r.kind == MessageKind::Outbound {
        return Err(Error::Conflict(
            "the conversation is closed; open a new one to write to the customer".into(),
        ));
    }
    let outbound = r.kind == MessageKind::Outbound;
    if outbound && c.channel == Channel::Voice {
        crate::email::move_phone_to_email(conn, &c, &viewer.actor()).await?;
        c = get(conn, id).await?;
    }
    let inserted = crate::messages::insert(
        conn,
        NewMessage {
            conversation_id: id,
            kind: r.kind,
            channel: c.channel,
            author_agent_id: Some(viewer.agent_id),
            author_contact_id: None,
            text: r.text,
            delivery: if outbound {
                Delivery::Queued
            } else {
                Delivery::Internal
            },
            provider_id: None,
            email: Default::default(),
        },
    )
    .await?;
    let message_id = inserted.id;
    if outbound && c.channel == Channel::Email {
        crate::email::assign_message_id(conn, &c, message_id).await?;
    }
    for file in r.files {
        crate::attachments::insert(conn, message_id, file).await?;
    }
    let now = crate::now().micros();
    let actor = viewer.actor();
    if outbound {
        conn.execute(
            "UPDATE conversations SET preview = $1, message_count = message_count + 1, updated_at = $2, \
             first_response_at = coalesce(first_response_at, $2) WHERE id = $3",
            args![seva_core::text::preview(r.text, 140), now, id.to_string()],
        )
        .await?;
        crate::jobs::enqueue(
            conn,
            crate::jobs::DELIVER,
            serde_json::json!({"message_id": message_id, "conversation_id": id, "channel": c.channel}),
            crate::now(),
        )
        .await?;
    } else {
        conn.execute(
            "UPDATE conversations SET message_count = message_count + 1, updated_at = $1 WHERE id = $2",
            args![now, id.to_string()],
        )
        .await?;
    }
    crate::events::append_message(
        conn,
        "message.created",
        Some(id),
        &actor,
        serde_json::json!({"message_id": message_id, "kind": r.kind, "attachments": r.files.len()}),
        inserted.searchable(id, c.reference, &c.subject, r.kind == MessageKind::Note),
    )
    .await?;
    if outbound {
        let metric = if c.first_response_at.is_none() {
            crate::sla::FIRST_RESPONSE
        } else {
            crate::sla::NEXT_RESPONSE
        };
        crate::sla::stop(conn, id, metric).await?;
    }
    if outbound {
        crate::bot::agent_joined(conn, id).await?;
    }
    if outbound && c.owner_id.is_none() {
        set_owner(conn, &c, Some(viewer.agent_id), &actor).await?;
    }
    notify_followers_of_message(conn, &c, Some(viewer.agent_id), r.text).await?;
    if r.kind == MessageKind::Note {
        notify_mentions(conn, viewer, &c, r.text).await?;
    }
    if let Some(status) = r.then
        && status != c.status
    {
        change_status(conn, &c, status, &actor).await?;
    }
    Ok(message_id)
}

pub(crate) async fn set_owner(
    conn: &mut dyn Conn,
    c: &Conversation,
    owner: Option<AgentId>,
    actor: &str,
) -> Result<()> {
    conn.execute(
        "UPDATE conversations SET owner_id = $1, updated_at = $2 WHERE id = $3",
        args![
            owner.map(|o| o.to_string()),
            crate::now().micros(),
            c.id.to_string()
        ],
    )
    .await?;
    crate::events::append(
        conn,
        "conversation.assigned",
        Some(c.id),
        actor,
        serde_json::json!({"owner_id": owner, "previous_owner_id": c.owner_id}),
    )
    .await?;
    let by_agent = agent_of(actor);
    let Some(agent) = owner else {
        return Ok(());
    };
    if by_agent != Some(agent) {
        tell_new_owner(conn, c, agent, actor).await?;
    }
    if !c.followers.is_empty() {
        let name = crate::agents::get(conn, agent).await?.name;
        let line = format!("{} → {name}", headline(conn, c, actor).await?);
        let skip: Vec<AgentId> = by_agent.into_iter().chain([agent]).collect();
        notify_followers(conn, c, &skip, "followed_owner", &line).await?;
    }
    Ok(())
}

/// Tells an agent that someone else (another agent, or a rule) gave them the
/// conversation. Routing's own hand-outs (`routing::route`) are the agent's usual
/// stream, shown in their queue, and tell nothing.
async fn tell_new_owner(
    conn: &mut dyn Conn,
    c: &Conversation,
    agent: AgentId,
    actor: &str,
) -> Result<()> {
    let line = headline(conn, c, actor).await?;
    crate::notifications::to_agent(conn, agent, Some(c.id), "assigned", &line).await
}

pub(crate) async fn change_status(
    conn: &mut dyn Conn,
    c: &Conversation,
    to: Status,
    actor: &str,
) -> Result<()> {
    check_transition(c.status, to).map_err(|e| Error::invalid("status", e.to_string()))?;
    let now = crate::now().micros();
    conn.execute(
        "UPDATE conversations SET status = $1, active = $4, updated_at = $2, solved_at = CASE WHEN $1 = 'solved' THEN $2 ELSE solved_at END, \
         snoozed_until = CASE WHEN $1 = 'pending' THEN snoozed_until ELSE NULL END WHERE id = $3",
        args![to.as_str(), now, c.id.to_string(), to.is_active()],
    )
    .await?;
    crate::events::append(
        conn,
        "conversation.status_changed",
        Some(c.id),
        actor,
        serde_json::json!({"from": c.status, "to": to}),
    )
    .await?;
    crate::sla::on_status(conn, c.id, to).await?;
    let told = match (c.status, to) {
        (_, Status::Solved) => Some("followed_solved"),
        (Status::Solved, to) if to.is_active() => Some("followed_reopened"),
        _ => None,
    };
    if let Some(kind) = told
        && !c.followers.is_empty()
    {
        let line = headline(conn, c, actor).await?;
        let by_agent = agent_of(actor);
        notify_followers(conn, c, by_agent.as_slice(), kind, &line).await?;
    }
    // Its owner has room again: the team's queue moves, most urgent first.
    if c.status.is_active()
        && !to.is_active()
        && c.owner_id.is_some()
        && let Some(team) = c.team_id
    {
        crate::routing::drain(conn, team).await?;
    }
    Ok(())
}

pub async fn set_status(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    to: Status,
) -> Result<Conversation> {
    let c = get_for(conn, viewer, id).await?;
    change_status(conn, &c, to, &viewer.actor()).await?;
    get(conn, id).await
}

/// Snoozes a conversation: it waits as pending until `until`, or (with `None`) until the
/// customer writes; a customer message wakes it either way.
pub async fn snooze(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    until: Option<Timestamp>,
) -> Result<Conversation> {
    let c = get_for(conn, viewer, id).await?;
    if !c.status.is_active() {
        return Err(Error::invalid(
            "status",
            "only an open conversation can be snoozed",
        ));
    }
    let now = crate::now();
    if until.is_some_and(|u| u <= now) {
        return Err(Error::invalid("until", "a time in the future"));
    }
    if c.status != Status::Pending {
        change_status(conn, &c, Status::Pending, &viewer.actor()).await?;
    }
    conn.execute(
        "UPDATE conversations SET snoozed_until = $1 WHERE id = $2",
        args![until.map(|u| u.micros()), id.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "conversation.snoozed",
        Some(id),
        &viewer.actor(),
        serde_json::json!({"until": until}),
    )
    .await?;
    get(conn, id).await
}

/// Whether a snoozed conversation is due to wake (a cheap read).
pub async fn anything_to_wake(conn: &mut dyn Conn, now: Timestamp) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM conversations WHERE snoozed_until IS NOT NULL AND snoozed_until <= $1 LIMIT 1",
            args![now.micros()],
        )
        .await?
        .is_some())
}

/// Opens the snoozed conversations whose time has come and tells their owners.
pub async fn wake_due(conn: &mut dyn Conn, now: Timestamp, limit: i64) -> Result<usize> {
    let rows = conn
        .query(
            "SELECT id FROM conversations WHERE snoozed_until IS NOT NULL AND snoozed_until <= $1 ORDER BY snoozed_until LIMIT $2",
            args![now.micros(), limit],
        )
        .await?;
    for r in &rows {
        let c = get(conn, r.parse(0)?).await?;
        if c.status == Status::Pending {
            change_status(conn, &c, Status::Open, "system:snooze").await?;
        } else {
            conn.execute(
                "UPDATE conversations SET snoozed_until = NULL WHERE id = $1",
                args![c.id.to_string()],
            )
            .await?;
        }
        crate::events::append(
            conn,
            "conversation.woke",
            Some(c.id),
            "system:snooze",
            serde_json::json!({}),
        )
        .await?;
        let text = format!("#{} {}", c.reference, c.subject);
        crate::notifications::notify(conn, &c, "owner", "snooze", &text).await?;
    }
    Ok(rows.len())
}

/// Whether a conversation has stayed solved since before `cutoff`.
pub async fn anything_to_close(conn: &mut dyn Conn, cutoff: Timestamp) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM conversations WHERE status = 'solved' AND solved_at < $1 LIMIT 1",
            args![cutoff.micros()],
        )
        .await?
        .is_some())
}

/// Closes up to `limit` conversations that have stayed solved since before `cutoff`,
/// oldest first. What their customer writes afterwards starts a new conversation; a
/// closed one is no longer reopened, so reports on finished work stay as they were.
pub async fn close_solved(conn: &mut dyn Conn, cutoff: Timestamp, limit: i64) -> Result<usize> {
    let rows = conn
        .query(
            "SELECT id FROM conversations WHERE status = 'solved' AND solved_at < $1 \
             ORDER BY solved_at LIMIT $2",
            args![cutoff.micros(), limit],
        )
        .await?;
    for r in &rows {
        let c = get(conn, r.parse(0)?).await?;
        change_status(conn, &c, Status::Closed, "system:close").await?;
    }
    Ok(rows.len())
}

pub async fn set_priority(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    to: Priority,
) -> Result<Conversation> {
    let c = get_for(conn, viewer, id).await?;
    apply_priority(conn, &c, to, &viewer.actor()).await?;
    get(conn, id).await
}

/// A subject an agent typed, as stored: trimmed, in NFC, cut to
/// `MAX_SUBJECT_CHARS` characters. Refused (naming `subject`) when empty, or longer than
/// 4 KiB as typed. (A customer's subject is never refused: mail must be stored.)
fn typed_subject(raw: &str) -> Result<String> {
    if raw.len() > 4096 {
        return Err(Error::invalid("subject", "a subject has at most 4 KiB"));
    }
    let subject = seva_core::text::truncate_graphemes(
        &seva_core::text::nfc(raw.trim()),
        seva_core::conversation::MAX_SUBJECT_CHARS,
    );
    if subject.is_empty() {
        return Err(Error::invalid("subject", "a conversation needs a subject"));
    }
    Ok(subject)
}

/// Renames a conversation. The search index re-reads its messages under the new subject
/// (event `conversation.subject`).
pub async fn set_subject(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    subject: &str,
) -> Result<Conversation> {
    let c = get_for(conn, viewer, id).await?;
    let subject = typed_subject(subject)?;
    if subject != c.subject {
        conn.execute(
            "UPDATE conversations SET subject = $1, updated_at = $2 WHERE id = $3",
            args![&subject, crate::now().micros(), id.to_string()],
        )
        .await?;
        crate::events::append(
            conn,
            "conversation.subject",
            Some(id),
            &viewer.actor(),
            serde_json::json!({"from": c.subject, "to": subject}),
        )
        .await?;
    }
    get(conn, id).await
}

/// Sets the priority (if it changes), whoever asks: an agent, a rule.
pub(crate) async fn apply_priority(
    conn: &mut dyn Conn,
    c: &Conversation,
    to: Priority,
    actor: &str,
) -> Result<()> {
    if c.priority == to {
        return Ok(());
    }
    conn.execute(
        "UPDATE conversations SET priority = $1, updated_at = $2 WHERE id = $3",
        args![to.as_str(), crate::now().micros(), c.id.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "conversation.priority_changed",
        Some(c.id),
        actor,
        serde_json::json!({"from": c.priority, "to": to}),
    )
    .await?;
    crate::sla::on_priority(conn, c.id).await
}

/// Where a conversation should go; `None` leaves that part unchanged, `Some(None)` clears it.
pub struct Assignment {
    pub owner: Option<Option<AgentId>>,
    pub team: Option<Option<TeamId>>,
}

pub async fn assign(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    to: Assignment,
) -> Result<Conversation> {
    let c = get_for(conn, viewer, id).await?;
    let actor = viewer.actor();
    if let Some(owner) = to.owner {
        if let Some(agent) = owner {
            check_owner(conn, agent).await?;
        }
        if owner != c.owner_id {
            set_owner(conn, &c, owner, &actor).await?;
        }
    }
    if let Some(team) = to.team {
        if let Some(t) = team {
            check_team(conn, t).await?;
        }
        apply_team(conn, &c, team, &actor).await?;
    }
    get(conn, id).await
}

/// Refuses an owner who is not an agent, or one who is disabled.
async fn check_owner(conn: &mut dyn Conn, agent: AgentId) -> Result<()> {
    let a = crate::agents::get(conn, agent).await.map_err(|e| match e {
        Error::NotFound => Error::invalid("owner_id", "no such agent"),
        e => e,
    })?;
    if a.disabled {
        return Err(Error::invalid("owner_id", "that agent is disabled"));
    }
    Ok(())
}

/// Refuses a team that does not exist, naming the field.
async fn check_team(conn: &mut dyn Conn, team: TeamId) -> Result<()> {
    crate::teams::get(conn, team).await.map_err(|e| match e {
        Error::NotFound => Error::invalid("team_id", "no such team"),
        e => e,
    })?;
    Ok(())
}

/// Moves the conversation to a team (if it changes), whoever asks.
pub(crate) async fn apply_team(
    conn: &mut dyn Conn,
    c: &Conversation,
    team: Option<TeamId>,
    actor: &str,
) -> Result<()> {
    if team == c.team_id {
        return Ok(());
    }
    conn.execute(
        "UPDATE conversations SET team_id = $1, updated_at = $2 WHERE id = $3",
        args![
            team.map(|t| t.to_string()),
            crate::now().micros(),
            c.id.to_string()
        ],
    )
    .await?;
    crate::events::append(
        conn,
        "conversation.team_changed",
        Some(c.id),
        actor,
        serde_json::json!({"team_id": team, "previous_team_id": c.team_id}),
    )
    .await
}

pub async fn set_tags(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    add: &[String],
    remove: &[String],
) -> Result<Conversation> {
    get_for(conn, viewer, id).await?;
    apply_tags(conn, id, add, remove, &viewer.actor()).await?;
    get(conn, id).await
}

/// Adds and removes tags, whoever asks.
pub(crate) async fn apply_tags(
    conn: &mut dyn Conn,
    id: ConversationId,
    add: &[String],
    remove: &[String],
    actor: &str,
) -> Result<()> {
    let norm = |tags: &[String]| -> Result<Vec<String>> {
        tags.iter()
            .map(|t| normalise_tag(t).map_err(|m| Error::invalid("tags", m)))
            .collect()
    };
    let (add, remove) = (norm(add)?, norm(remove)?);
    for tag in &add {
        conn.execute(
            "INSERT INTO conversation_tags (conversation_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            args![id.to_string(), tag],
        )
        .await?;
    }
    for tag in &remove {
        conn.execute(
            "DELETE FROM conversation_tags WHERE conversation_id = $1 AND tag = $2",
            args![id.to_string(), tag],
        )
        .await?;
    }
    conn.execute(
        "UPDATE conversations SET updated_at = $1 WHERE id = $2",
        args![crate::now().micros(), id.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "conversation.tagged",
        Some(id),
        actor,
        serde_json::json!({"added": add, "removed": remove}),
    )
    .await
}

pub async fn set_following(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    agent: AgentId,
    follow: bool,
) -> Result<Conversation> {
    get_for(conn, viewer, id).await?;
    crate::agents::get(conn, agent)
        .await
        .map_err(|_| Error::invalid("agent_id", "no such agent"))?;
    if follow {
        conn.execute(
            "INSERT INTO conversation_followers (conversation_id, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            args![id.to_string(), agent.to_string()],
        )
        .await?;
    } else {
        conn.execute(
            "DELETE FROM conversation_followers WHERE conversation_id = $1 AND agent_id = $2",
            args![id.to_string(), agent.to_string()],
        )
        .await?;
    }
    crate::events::append(
        conn,
        "conversation.followers_changed",
        Some(id),
        &viewer.actor(),
        serde_json::json!({"agent_id": agent, "following": follow}),
    )
    .await?;
    get(conn, id).await
}

pub async fn set_custom_fields(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    fields: serde_json::Map<String, serde_json::Value>,
) -> Result<Conversation> {
    let c = get_for(conn, viewer, id).await?;
    let defs = crate::fields::list(conn, Some(c.team_id)).await?;
    let mut merged = match c.custom_fields {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    for (k, v) in fields {
        if k.is_empty() || k.len() > 64 {
            return Err(Error::invalid(
                "custom_fields",
                "field names have 1 to 64 characters",
            ));
        }
        crate::fields::check(&defs, &k, &v)?;
        if v.is_null() {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    let text = serde_json::Value::Object(merged).to_string();
    if text.len() > 64 * 1024 {
        return Err(Error::invalid(
            "custom_fields",
            "custom fields hold at most 64 KiB",
        ));
    }
    conn.execute(
        "UPDATE conversations SET custom_fields = $1, updated_at = $2 WHERE id = $3",
        args![text, crate::now().micros(), id.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "conversation.fields_changed",
        Some(id),
        &viewer.actor(),
        serde_json::json!({}),
    )
    .await?;
    get(conn, id).await
}

/// The filters of the conversation list; every one is optional.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub statuses: Vec<Status>,
    /// Any of these priorities.
    pub priorities: Vec<Priority>,
    /// `Some(None)`: unassigned only.
    pub owner: Option<Option<AgentId>>,
    /// `Some(None)`: no team only.
    pub team: Option<Option<TeamId>>,
    /// Any of these teams (the "my teams" view).
    pub teams_any: Option<Vec<TeamId>>,
    pub tag: Option<String>,
    pub inbox: Option<InboxId>,
    pub contact: Option<ContactId>,
    /// The conversations of this organization's people.
    pub organization: Option<OrganizationId>,
    /// The conversations this agent follows.
    pub followed_by: Option<AgentId>,
    pub updated_since: Option<Timestamp>,
    pub sort: Sort,
}

/// A page position: after the conversation whose sort key (see [`sort_key`]) is `.0`,
/// with seq `.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub i64, pub i64);

impl Cursor {
    pub fn encode(self) -> String {
        format!("{}.{}", self.0, self.1)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (a, b) = text.split_once('.')?;
        Some(Self(a.parse().ok()?, b.parse().ok()?))
    }
}

struct Query {
    sql: String,
    args: Vec<Value>,
}

impl Query {
    fn arg(&mut self, v: impl Into<Value>) -> String {
        self.args.push(v.into());
        format!("${}", self.args.len())
    }
}

/// The priority order's key: the priority's rank above the last update, so that one
/// number orders by both (timestamps stay below 2^52 µs until the year 2112).
const PRIORITY_KEY: &str = "((CASE c.priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 \
    WHEN 'normal' THEN 1 ELSE 0 END) * 4503599627370496 + c.updated_at)";

/// A conversation's key in `sort`, as the list's SQL orders by it: the page cursor's
/// first part.
fn sort_key(sort: Sort, c: &Conversation) -> i64 {
    match sort {
        Sort::Updated => c.updated_at.micros(),
        Sort::Newest | Sort::Oldest => c.reference,
        Sort::Priority => (3 - i64::from(c.priority.rank())) * (1 << 52) + c.updated_at.micros(),
    }
}

/// Conversations in `filter.sort`'s order (latest activity first by default), as `viewer`
/// may see them. Returns the page and the cursor of the next one.
pub async fn list(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    filter: &Filter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<(Vec<Conversation>, Option<Cursor>)> {
    // The conditions first; the statement around them depends on the order.
    let mut q = Query {
        sql: String::new(),
        args: Vec::new(),
    };
    // The usual views ask for all active or all finished statuses: those use the `active`
    // flag, whose indexes return rows already in update order. In creation order, the
    // table itself is in that order: `+ 0` keeps SQLite from reading the whole flag's
    // index range and sorting it, so that it walks the table and stops at the page's end.
    let wanted = |set: &[Status]| {
        filter.statuses.len() == set.len() && set.iter().all(|s| filter.statuses.contains(s))
    };
    let flag = match filter.sort {
        Sort::Newest | Sort::Oldest => "c.active + 0",
        Sort::Updated | Sort::Priority => "c.active",
    };
    if wanted(&[Status::Open, Status::Pending, Status::OnHold]) {
        q.sql += &format!(" AND {flag} = 1");
    } else if wanted(&[Status::Solved, Status::Closed]) {
        q.sql += &format!(" AND {flag} = 0");
    } else if !filter.statuses.is_empty() {
        let list: Vec<String> = filter.statuses.iter().map(|s| q.arg(s.as_str())).collect();
        q.sql += &format!(" AND c.status IN ({})", list.join(", "));
    }
    if !filter.priorities.is_empty() {
        let list: Vec<String> = filter
            .priorities
            .iter()
            .map(|p| q.arg(p.as_str()))
            .collect();
        q.sql += &format!(" AND c.priority IN ({})", list.join(", "));
    }
    match filter.owner {
        Some(Some(owner)) => {
            let p = q.arg(owner.to_string());
            q.sql += &format!(" AND c.owner_id = {p}");
        }
        Some(None) => q.sql += " AND c.owner_id IS NULL",
        None => {}
    }
    match filter.team {
        Some(Some(team)) => {
            let p = q.arg(team.to_string());
            q.sql += &format!(" AND c.team_id = {p}");
        }
        Some(None) => q.sql += " AND c.team_id IS NULL",
        None => {}
    }
    if let Some(teams) = &filter.teams_any {
        if teams.is_empty() {
            q.sql += " AND 1 = 0";
        } else {
            let list: Vec<String> = teams.iter().map(|t| q.arg(t.to_string())).collect();
            q.sql += &format!(" AND c.team_id IN ({})", list.join(", "));
        }
    }
    if let Some(tag) = &filter.tag {
        let p = q.arg(tag.trim().to_lowercase());
        q.sql += &format!(
            " AND EXISTS (SELECT 1 FROM conversation_tags g WHERE g.conversation_id = c.id AND g.tag = {p})"
        );
    }
    if let Some(inbox) = filter.inbox {
        let p = q.arg(inbox.to_string());
        q.sql += &format!(" AND c.inbox_id = {p}");
    }
    if let Some(contact) = filter.contact {
        let p = q.arg(contact.to_string());
        q.sql += &format!(" AND c.contact_id = {p}");
    }
    if let Some(org) = filter.organization {
        let p = q.arg(org.to_string());
        q.sql +=
            &format!(" AND c.contact_id IN (SELECT id FROM contacts WHERE organization_id = {p})");
    }
    if let Some(agent) = filter.followed_by {
        let p = q.arg(agent.to_string());
        q.sql += &format!(
            " AND c.id IN (SELECT conversation_id FROM conversation_followers WHERE agent_id = {p})"
        );
    }
    if let Some(since) = filter.updated_since {
        let p = q.arg(since.micros());
        q.sql += &format!(" AND c.updated_at >= {p}");
    }
    if !viewer.role.sees_every_team() {
        let me = q.arg(viewer.agent_id.to_string());
        q.sql += &format!(
            " AND (c.team_id IS NULL OR coalesce(t.private, 0) = 0 OR c.owner_id = {me} \
             OR c.team_id IN (SELECT team_id FROM team_members WHERE agent_id = {me}))"
        );
    }
    // The usual order (latest activity) reads the indexes above in their own order,
    // creation order walks the table, and the urgent order sorts what the filters leave.
    let (key, before, order) = match filter.sort {
        Sort::Updated => ("c.updated_at", "<", "c.updated_at DESC, c.seq DESC".into()),
        Sort::Newest => ("c.seq", "<", "c.seq DESC".into()),
        Sort::Oldest => ("c.seq", ">", "c.seq ASC".into()),
        Sort::Priority => (
            PRIORITY_KEY,
            "<",
            format!("{PRIORITY_KEY} DESC, c.seq DESC"),
        ),
    };
    if let Some(Cursor(at, seq)) = after {
        let (k, s) = (q.arg(at), q.arg(seq));
        q.sql += &format!(" AND ({key} {before} {k} OR ({key} = {k} AND c.seq {before} {s}))");
    }
    let limit = limit.clamp(1, 200);
    let l = q.arg(limit + 1);
    let sql = match filter.sort {
        // The indexes give the page in order: only its rows are joined.
        Sort::Updated => format!(
            "SELECT {COLUMNS} {FROM} WHERE 1 = 1{} ORDER BY {order} LIMIT {l}",
            q.sql
        ),
        // The others sort what the conditions leave: the page is chosen from the
        // conversations alone, and only its rows are joined to their contacts.
        _ => format!(
            "SELECT {COLUMNS} {FROM} WHERE c.seq IN (SELECT c.seq FROM conversations c \
             LEFT JOIN teams t ON t.id = c.team_id WHERE 1 = 1{} ORDER BY {order} LIMIT {l}) \
             ORDER BY {order}",
            q.sql
        ),
    };
    let rows = conn.query(&sql, &q.args).await?;
    let mut page = rows.into_iter().map(decode).collect::<Result<Vec<_>>>()?;
    let next = if page.len() as i64 > limit {
        page.truncate(limit as usize);
        page.last()
            .map(|c| Cursor(sort_key(filter.sort, c), c.reference))
    } else {
        None
    };
    if !page.is_empty() {
        let mut tq = Query {
            sql: String::new(),
            args: Vec::new(),
        };
        let ids: Vec<String> = page.iter().map(|c| tq.arg(c.id.to_string())).collect();
        tq.sql = format!(
            "SELECT conversation_id, tag FROM conversation_tags WHERE conversation_id IN ({}) ORDER BY tag",
            ids.join(", ")
        );
        for row in conn.query(&tq.sql, &tq.args).await? {
            let cid: ConversationId = row.parse(0)?;
            if let Some(c) = page.iter_mut().find(|c| c.id == cid) {
                c.tags.push(row.text(1)?);
            }
        }
    }
    Ok((page, next))
}

/// One change made to many conversations at once.
#[derive(Debug, Clone, Default)]
pub struct Bulk {
    pub ids: Vec<ConversationId>,
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub owner: Option<Option<AgentId>>,
    pub team: Option<Option<TeamId>>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

/// Makes one change to many conversations: all or none, since it runs in the caller's
/// transaction. An error names the conversation by its place (`ids[3]`). Returns how many.
pub async fn bulk(conn: &mut dyn Conn, viewer: &Viewer, change: &Bulk) -> Result<usize> {
    if change.ids.is_empty() || change.ids.len() > 500 {
        return Err(Error::invalid("ids", "1 to 500 conversations"));
    }
    for (i, &id) in change.ids.iter().enumerate() {
        let at = |e: Error| match e {
            Error::NotFound => Error::invalid(format!("ids[{i}]"), "no such conversation"),
            Error::Invalid { field, message } => {
                Error::invalid(format!("ids[{i}].{field}"), message)
            }
            e => e,
        };
        let current = get_for(conn, viewer, id).await.map_err(at)?;
        if let Some(s) = change.status.filter(|s| *s != current.status) {
            set_status(conn, viewer, id, s).await.map_err(at)?;
        }
        if let Some(p) = change.priority {
            set_priority(conn, viewer, id, p).await.map_err(at)?;
        }
        if change.owner.is_some() || change.team.is_some() {
            let to = Assignment {
                owner: change.owner,
                team: change.team,
            };
            assign(conn, viewer, id, to).await.map_err(at)?;
        }
        if !change.add_tags.is_empty() || !change.remove_tags.is_empty() {
            set_tags(conn, viewer, id, &change.add_tags, &change.remove_tags)
                .await
                .map_err(at)?;
        }
    }
    Ok(change.ids.len())
}

/// Merges conversation `from` into `into` (the same issue, asked twice): every message
/// moves to `into` with its attachments, tags join, `from` is closed with a note pointing
/// to `into`, and both record it. Replies to mail of `from` thread into `into`, since the
/// messages (and their Message-IDs) moved.
pub async fn merge(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    from: ConversationId,
    into: ConversationId,
) -> Result<Conversation> {
    if from == into {
        return Err(Error::invalid(
            "into",
            "a conversation cannot be merged into itself",
        ));
    }
    let source = get_for(conn, viewer, from).await?;
    let target = get_for(conn, viewer, into).await.map_err(|e| match e {
        Error::NotFound => Error::invalid("into", "no such conversation"),
        e => e,
    })?;
    if target.status == Status::Closed {
        return Err(Error::invalid("into", "that conversation is closed"));
    }
    let actor = viewer.actor();
    let moved = conn
        .execute(
            "UPDATE messages SET conversation_id = $1 WHERE conversation_id = $2",
            args![into.to_string(), from.to_string()],
        )
        .await?;
    conn.execute(
        "INSERT INTO conversation_tags (conversation_id, tag) SELECT $1, tag FROM conversation_tags WHERE conversation_id = $2 \
         ON CONFLICT DO NOTHING",
        args![into.to_string(), from.to_string()],
    )
    .await?;
    conn.execute(
        "UPDATE conversations SET message_count = (SELECT count(*) FROM messages WHERE conversation_id = $1), updated_at = $2 WHERE id = $1",
        args![into.to_string(), crate::now().micros()],
    )
    .await?;
    conn.execute(
        "UPDATE conversations SET message_count = 0 WHERE id = $1",
        args![from.to_string()],
    )
    .await?;
    system_note(
        conn,
        &target,
        MessageKind::System,
        &format!(
            "#{} merged into this conversation ({moved} messages): {}",
            source.reference, source.subject
        ),
        &actor,
    )
    .await?;
    system_note(
        conn,
        &source,
        MessageKind::System,
        &format!("Merged into #{}", target.reference),
        &actor,
    )
    .await?;
    crate::sla::stop(conn, from, crate::sla::FIRST_RESPONSE).await?;
    crate::sla::stop(conn, from, crate::sla::NEXT_RESPONSE).await?;
    let source = get(conn, from).await?;
    if source.status != Status::Solved && source.status != Status::Closed {
        change_status(conn, &source, Status::Solved, &actor).await?;
    }
    let source = get(conn, from).await?;
    if source.status != Status::Closed {
        change_status(conn, &source, Status::Closed, &actor).await?;
    }
    for (on, data) in [
        (from, serde_json::json!({"into": into, "messages": moved})),
        (into, serde_json::json!({"from": from, "messages": moved})),
    ] {
        crate::events::append(conn, "conversation.merged", Some(on), &actor, data).await?;
    }
    get(conn, into).await
}

/// Splits a customer's message off into a conversation of its own (a second issue raised
/// in the same thread): the message moves to a new conversation with the same customer,
/// channel, inbox, team and priority, its SLA clocks start, and both conversations get a
/// note pointing to the other. Returns the new conversation.
pub async fn split(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    message: MessageId,
) -> Result<Conversation> {
    let c = get_for(conn, viewer, id).await?;
    let row = conn
        .query_opt(
            "SELECT kind, text, (SELECT count(*) FROM messages WHERE conversation_id = $2 AND kind = 'inbound') \
             FROM messages WHERE id = $1 AND conversation_id = $2",
            args![message.to_string(), id.to_string()],
        )
        .await?
        .ok_or_else(|| Error::invalid("message_id", "no such message in this conversation"))?;
    if row.text(0)? != MessageKind::Inbound.as_str() {
        return Err(Error::invalid(
            "message_id",
            "only a customer's message can be split off",
        ));
    }
    if row.int(2)? < 2 {
        return Err(Error::invalid(
            "message_id",
            "the conversation's only customer message cannot be split off",
        ));
    }
    let text = row.text(1)?;
    let new_id = ConversationId::new();
    let now = crate::now().micros();
    let subject = seva_core::text::truncate_graphemes(
        &seva_core::text::preview(&text, 80),
        seva_core::conversation::MAX_SUBJECT_CHARS,
    );
    let created = conn
        .query_one(
            "INSERT INTO conversations (id, subject, status, priority, channel, contact_id, inbox_id, team_id, preview, \
             message_count, created_at, updated_at, language) \
             VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, 1, $9, $9, $10) RETURNING seq",
            args![
                new_id.to_string(),
                subject,
                c.priority.as_str(),
                c.channel.as_str(),
                c.contact_id.to_string(),
                c.inbox_id.map(|i| i.to_string()),
                c.team_id.map(|t| t.to_string()),
                seva_core::text::preview(&text, 140),
                now,
                seva_core::text::guess_language(&text)
            ],
        )
        .await?;
    conn.execute(
        "UPDATE messages SET conversation_id = $1 WHERE id = $2",
        args![new_id.to_string(), message.to_string()],
    )
    .await?;
    conn.execute(
        "UPDATE conversations SET message_count = message_count - 1, updated_at = $1 WHERE id = $2",
        args![now, id.to_string()],
    )
    .await?;
    let actor = viewer.actor();
    let reference = created.int(0)?;
    crate::events::append(
        conn,
        "conversation.created",
        Some(new_id),
        &actor,
        serde_json::json!({"reference": reference, "split_from": id, "message_id": message}),
    )
    .await?;
    crate::sla::start(conn, new_id, c.priority, c.channel, c.inbox_id).await?;
    let fresh = get(conn, new_id).await?;
    system_note(
        conn,
        &c,
        MessageKind::System,
        &format!("A message was split off into #{reference}"),
        &actor,
    )
    .await?;
    system_note(
        conn,
        &fresh,
        MessageKind::System,
        &format!("Split off from #{}", c.reference),
        &actor,
    )
    .await?;
    crate::events::append(
        conn,
        "conversation.split",
        Some(id),
        &actor,
        serde_json::json!({"into": new_id, "message_id": message}),
    )
    .await?;
    get(conn, new_id).await
}
