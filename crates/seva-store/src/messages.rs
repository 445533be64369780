//! The entries of a conversation's timeline: what the customer wrote, what the desk
//! answered, internal notes, and system entries.

use serde::Serialize;
use seva_core::conversation::{Channel, Delivery, MessageKind};
use seva_core::time::Timestamp;
use seva_core::{AgentId, AttachmentId, ContactId, ConversationId, MessageId};

use crate::db::Conn;
use crate::{Error, Result, args};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: AttachmentId,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    #[serde(skip)]
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub kind: MessageKind,
    pub channel: Channel,
    pub author_agent_id: Option<AgentId>,
    pub author_contact_id: Option<ContactId>,
    /// Who wrote it, for display.
    pub author_name: Option<String>,
    pub text: String,
    /// Safe to show as HTML: made by escaping, or (email) by sanitising.
    pub html: String,
    pub delivery: Delivery,
    pub delivery_error: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Quoted history and signature taken out of `text` (email), shown folded.
    pub folded: String,
    /// The email's from, to, cc and subject, as received.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub email: Option<serde_json::Value>,
    /// The channel's own id for it: the Message-ID of an email, inbound or ours.
    pub external_id: Option<String>,
    /// Whether the original (an .eml) is kept and can be downloaded.
    pub has_source: bool,
    /// When its words were taken out (a redaction, or its author's erasure): its text is
    /// empty, its files and original gone.
    pub redacted_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// What an email carries beyond its text.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmailParts<'a> {
    /// The visible part as HTML, already sanitised.
    pub html: Option<&'a str>,
    pub folded: &'a str,
    pub source_sha256: Option<&'a str>,
    /// The original's bytes, when small enough to keep in the database (otherwise the
    /// caller has stored it as a file named by `source_sha256`).
    pub source_bytes: Option<&'a [u8]>,
    pub headers: Option<&'a serde_json::Value>,
}

/// Originals up to this size are kept in the database, in the message's transaction.
pub const INLINE_SOURCE_BYTES: usize = 256 * 1024;

pub struct NewMessage<'a> {
    pub conversation_id: ConversationId,
    pub kind: MessageKind,
    pub channel: Channel,
    pub author_agent_id: Option<AgentId>,
    pub author_contact_id: Option<ContactId>,
    pub text: &'a str,
    pub delivery: Delivery,
    pub provider_id: Option<&'a str>,
    pub email: EmailParts<'a>,
}

/// The largest message text we keep (1 MiB); the API refuses larger ones before this.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// A message as [`insert`] stored it: its id and seq, and its text and time as stored (the
/// text in NFC), for the caller to hand on.
pub struct Inserted {
    pub id: MessageId,
    pub seq: i64,
    pub text: String,
    pub created_at: Timestamp,
}

impl Inserted {
    /// The message as the search index takes it, in the conversation `reference` under
    /// `subject` (its text moved, not copied: it may be a megabyte).
    pub fn searchable(
        self,
        conversation: ConversationId,
        reference: i64,
        subject: &str,
        note: bool,
    ) -> Searchable {
        Searchable {
            seq: self.seq,
            id: self.id,
            conversation_id: conversation,
            reference,
            subject: subject.to_string(),
            text: self.text,
            note,
            created_at: self.created_at,
        }
    }
}

pub async fn insert(conn: &mut dyn Conn, new: NewMessage<'_>) -> Result<Inserted> {
    if new.text.len() > MAX_TEXT_BYTES {
        return Err(Error::invalid(
            "text",
            "a message has at most 1 MiB of text",
        ));
    }
    let text = seva_core::text::nfc(new.text);
    let html = match new.email.html {
        Some(h) => h.to_string(),
        None => seva_core::text::text_to_html(&text),
    };
    if let (Some(sha), Some(bytes)) = (new.email.source_sha256, new.email.source_bytes) {
        conn.execute(
            "INSERT INTO message_sources (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
            args![sha, bytes.to_vec()],
        )
        .await?;
    }
    let id = MessageId::new();
    let created_at = crate::now();
    let seq = conn
        .query_one(
            "INSERT INTO messages (id, conversation_id, kind, channel, author_agent_id, author_contact_id, text, html, delivery, provider_id, created_at, \
             folded, source_sha256, email) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING seq",
            args![
                id.to_string(),
                new.conversation_id.to_string(),
                new.kind.as_str(),
                new.channel.as_str(),
                new.author_agent_id.map(|a| a.to_string()),
                new.author_contact_id.map(|c| c.to_string()),
                &text,
                html,
                new.delivery.as_str(),
                new.provider_id,
                created_at.micros(),
                new.email.folded,
                new.email.source_sha256,
                new.email.headers.map(|h| h.to_string())
            ],
        )
        .await?
        .int(0)?;
    Ok(Inserted {
        id,
        seq,
        text,
        created_at,
    })
}

const SELECT: &str = "SELECT m.id, m.conversation_id, m.kind, m.channel, m.author_agent_id, m.author_contact_id, \
     coalesce(a.name, c.name), m.text, m.html, m.delivery, m.delivery_error, m.created_at, \
     m.folded, m.email, m.provider_id, m.source_sha256, m.redacted_at \
     FROM messages m LEFT JOIN agents a ON a.id = m.author_agent_id \
     LEFT JOIN contacts c ON c.id = m.author_contact_id";

fn decode(mut row: crate::Row) -> Result<Message> {
    Ok(Message {
        id: row.parse(0)?,
        conversation_id: row.parse(1)?,
        kind: row.parse(2)?,
        channel: row.parse(3)?,
        author_agent_id: row.opt_parse(4)?,
        author_contact_id: row.opt_parse(5)?,
        author_name: row.opt_take_text(6)?,
        text: row.take_text(7)?,
        html: row.take_text(8)?,
        delivery: row.parse(9)?,
        delivery_error: row.opt_take_text(10)?,
        created_at: Timestamp(row.int(11)?),
        folded: row.take_text(12)?,
        email: if row.is_null(13)? {
            None
        } else {
            serde_json::from_str(row.str(13)?).ok()
        },
        external_id: row.opt_take_text(14)?,
        has_source: !row.is_null(15)?,
        redacted_at: row.opt_int(16)?.map(Timestamp),
        attachments: Vec::new(),
    })
}

/// A conversation's timeline, oldest first. `include_notes` is false for what the customer
/// sees.
pub async fn for_conversation(
    conn: &mut dyn Conn,
    id: ConversationId,
    include_notes: bool,
) -> Result<Vec<Message>> {
    let sql = format!(
        "{SELECT} WHERE m.conversation_id = $1 AND ($2 = 1 OR m.kind <> 'note') ORDER BY m.seq"
    );
    let rows = conn
        .query(&sql, args![id.to_string(), include_notes])
        .await?;
    let mut out = rows.into_iter().map(decode).collect::<Result<Vec<_>>>()?;
    let attachments = crate::attachments::for_conversation(conn, id).await?;
    for (message_id, attachment) in attachments {
        if let Some(m) = out.iter_mut().find(|m| m.id == message_id) {
            m.attachments.push(attachment);
        }
    }
    Ok(out)
}

/// One message with its attachments.
pub async fn get(conn: &mut dyn Conn, id: MessageId) -> Result<Message> {
    let sql = format!("{SELECT} WHERE m.id = $1");
    let row = conn
        .query_opt(&sql, args![id.to_string()])
        .await?
        .ok_or(Error::NotFound)?;
    let mut m = decode(row)?;
    m.attachments = crate::attachments::for_message(conn, id).await?;
    Ok(m)
}

pub async fn set_delivery(
    conn: &mut dyn Conn,
    id: MessageId,
    delivery: Delivery,
    error: Option<&str>,
) -> Result<ConversationId> {
    let row = conn
        .query_opt(
            // A message the customer has read stays read.
            "UPDATE messages SET delivery = CASE WHEN delivery = 'read' THEN delivery ELSE $1 END, \
             delivery_error = $2 WHERE id = $3 RETURNING conversation_id",
            args![delivery.as_str(), error, id.to_string()],
        )
        .await?
        .ok_or(Error::NotFound)?;
    let conversation: ConversationId = row.parse(0)?;
    crate::events::append(
        conn,
        "message.delivery",
        Some(conversation),
        "system",
        serde_json::json!({"message_id": id, "delivery": delivery, "error": error}),
    )
    .await?;
    Ok(conversation)
}

/// Where a message's original is: in the database (its bytes) or a file (by SHA-256).
pub enum Source {
    Inline(Vec<u8>),
    File(String),
}

/// The conversation a message is in, and its original (emails), if it has one.
pub async fn source(
    conn: &mut dyn Conn,
    id: MessageId,
) -> Result<(ConversationId, Option<Source>)> {
    let row = conn
        .query_opt(
            "SELECT m.conversation_id, m.source_sha256, s.bytes FROM messages m \
             LEFT JOIN message_sources s ON s.sha256 = m.source_sha256 WHERE m.id = $1",
            args![id.to_string()],
        )
        .await?
        .ok_or(Error::NotFound)?;
    let source = match (row.opt_text(1)?, row.is_null(2)?) {
        (Some(_), false) => Some(Source::Inline(row.blob(2)?)),
        (Some(sha), true) => Some(Source::File(sha)),
        (None, _) => None,
    };
    Ok((row.parse(0)?, source))
}

/// A message as the search index holds it.
#[derive(Debug, Clone)]
pub struct Searchable {
    pub seq: i64,
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub reference: i64,
    pub subject: String,
    pub text: String,
    pub note: bool,
    pub created_at: Timestamp,
}

/// Which messages to give the search index.
pub enum SearchableOf<'a> {
    /// These messages (at most [`SEARCHABLE_BATCH`] a query).
    Ids(&'a [MessageId]),
    Conversation(ConversationId),
    /// The messages after `after` up to `through` (seqs), a page at a time (for a rebuild).
    Between {
        after: i64,
        through: i64,
    },
}

/// How many messages one query of [`SearchableOf::Ids`] asks for. A fixed count keeps
/// one prepared statement for every batch: shorter lists repeat their first id.
pub const SEARCHABLE_BATCH: usize = 64;

/// The newest message's seq (0 when there are none).
pub async fn last_seq(conn: &mut dyn Conn) -> Result<i64> {
    conn.query_one("SELECT coalesce(max(seq), 0) FROM messages", args![])
        .await?
        .int(0)
}

/// Messages for the search index (customer's, agents' and notes; not system lines).
pub async fn searchable(
    conn: &mut dyn Conn,
    of: SearchableOf<'_>,
    limit: i64,
) -> Result<Vec<Searchable>> {
    const SQL: &str = "SELECT m.seq, m.id, m.conversation_id, c.seq, c.subject, m.text, m.kind, m.created_at \
        FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.kind <> 'system' AND ";
    let rows = match of {
        SearchableOf::Ids(ids) => {
            let Some(first) = ids.first() else {
                return Ok(Vec::new());
            };
            if ids.len() > SEARCHABLE_BATCH {
                return Err(Error::invalid("ids", "too many messages for one query"));
            }
            static BATCH_SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let sql = BATCH_SQL.get_or_init(|| {
                let marks: Vec<String> = (1..=SEARCHABLE_BATCH).map(|i| format!("${i}")).collect();
                format!("{SQL} m.id IN ({}) ORDER BY m.seq", marks.join(", "))
            });
            let args: Vec<crate::db::Value> = (0..SEARCHABLE_BATCH)
                .map(|i| crate::db::Value::Text(ids.get(i).unwrap_or(first).to_string()))
                .collect();
            conn.query(sql, &args).await?
        }
        SearchableOf::Conversation(c) => {
            conn.query(
                &format!("{SQL} m.conversation_id = $1 ORDER BY m.seq LIMIT $2"),
                args![c.to_string(), limit],
            )
            .await?
        }
        SearchableOf::Between { after, through } => {
            conn.query(
                &format!("{SQL} m.seq > $1 AND m.seq <= $2 ORDER BY m.seq LIMIT $3"),
                args![after, through, limit],
            )
            .await?
        }
    };
    rows.iter()
        .map(|r| {
            Ok(Searchable {
                seq: r.int(0)?,
                id: r.parse(1)?,
                conversation_id: r.parse(2)?,
                reference: r.int(3)?,
                subject: r.text(4)?,
                text: r.text(5)?,
                note: r.text(6)? == "note",
                created_at: Timestamp(r.int(7)?),
            })
        })
        .collect()
}
