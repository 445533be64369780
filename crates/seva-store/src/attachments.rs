//! Files that came with messages. The bytes live on disk, named by their SHA-256 (so the
//! same file sent twice is stored once); the database keeps the name, type and size.

use seva_core::time::Timestamp;
use seva_core::{AttachmentId, ConversationId, MessageId};

use crate::db::Conn;
use crate::messages::Attachment;
use crate::{Error, Result, args};

/// A file already written to the attachment folder, ready to be linked to a message.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// Where the bytes are.
    pub path: std::path::PathBuf,
}

/// Links a stored file to a message. The file must still be on disk: an erasure's sweep
/// ([`crate::privacy::SWEEP_FILES`]) removes a file no attachment uses, on the writer, so
/// the same bytes stored again just before it are found missing here and the request is
/// refused (and sent again by its sender) rather than pointing at nothing.
pub async fn insert(
    conn: &mut dyn Conn,
    message: MessageId,
    file: &StoredFile,
) -> Result<AttachmentId> {
    if !file.path.exists() {
        return Err(Error::Backend(format!(
            "the file {:?} was removed while it was being stored; send it again",
            file.filename
        )));
    }
    let id = AttachmentId::new();
    conn.execute(
        "INSERT INTO attachments (id, message_id, filename, content_type, size, sha256, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![id.to_string(), message.to_string(), &file.filename, &file.content_type, file.size, &file.sha256, crate::now().micros()],
    )
    .await?;
    Ok(id)
}

/// Decodes `id, filename, content_type, size, sha256` starting at column `at`.
fn decode(r: &crate::Row, at: usize) -> Result<Attachment> {
    Ok(Attachment {
        id: r.parse(at)?,
        filename: r.text(at + 1)?,
        content_type: r.text(at + 2)?,
        size: r.int(at + 3)?,
        sha256: r.text(at + 4)?,
    })
}

pub async fn for_conversation(
    conn: &mut dyn Conn,
    id: ConversationId,
) -> Result<Vec<(MessageId, Attachment)>> {
    let rows = conn
        .query(
            "SELECT a.message_id, a.id, a.filename, a.content_type, a.size, a.sha256 FROM attachments a \
             JOIN messages m ON m.id = a.message_id WHERE m.conversation_id = $1 ORDER BY a.id",
            args![id.to_string()],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.parse(0)?, decode(r, 1)?)))
        .collect()
}

/// One attachment with the conversation it belongs to (for the authorization check).
pub async fn for_message(conn: &mut dyn Conn, id: MessageId) -> Result<Vec<Attachment>> {
    conn.query(
        "SELECT id, filename, content_type, size, sha256 FROM attachments WHERE message_id = $1 ORDER BY id",
        args![id.to_string()],
    )
    .await?
    .iter()
    .map(|r| decode(r, 0))
    .collect()
}

/// A file the customer may read: one of a message they sent or were sent, never of an
/// internal note.
pub async fn for_customer(
    conn: &mut dyn Conn,
    id: AttachmentId,
) -> Result<(ConversationId, Attachment)> {
    let r = conn
        .query_opt(
            "SELECT m.conversation_id, a.id, a.filename, a.content_type, a.size, a.sha256 FROM attachments a \
             JOIN messages m ON m.id = a.message_id WHERE a.id = $1 AND m.kind IN ('inbound', 'outbound')",
            args![id.to_string()],
        )
        .await?
        .ok_or(Error::NotFound)?;
    Ok((r.parse(0)?, decode(&r, 1)?))
}

pub async fn get(
    conn: &mut dyn Conn,
    id: AttachmentId,
) -> Result<(ConversationId, Attachment, Timestamp)> {
    let r = conn
        .query_opt(
            "SELECT m.conversation_id, a.id, a.filename, a.content_type, a.size, a.sha256, a.created_at FROM attachments a \
             JOIN messages m ON m.id = a.message_id WHERE a.id = $1",
            args![id.to_string()],
        )
        .await?
        .ok_or(Error::NotFound)?;
    Ok((r.parse(0)?, decode(&r, 1)?, Timestamp(r.int(6)?)))
}

/// Whether any attachment, or any message as its original email, uses the file with
/// these bytes.
pub async fn file_used(conn: &mut dyn Conn, sha256: &str) -> Result<bool> {
    let row = conn
        .query_one(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM attachments WHERE sha256 = $1) \
             OR EXISTS (SELECT 1 FROM messages WHERE source_sha256 = $1) THEN 1 ELSE 0 END",
            args![sha256],
        )
        .await?;
    row.bool(0)
}
