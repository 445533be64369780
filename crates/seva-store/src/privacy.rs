//! A customer's rights over their data: a copy of everything the desk holds about them
//! ([`export`]), and its erasure ([`erase_contact`]), as data-protection law (GDPR articles 15
//! and 17) lets them ask.
//!
//! Erasure takes the contact, the contacts merged into it before, their identities and
//! every conversation they are the customer of, with all that hangs off those (messages,
//! files, raw emails, notes, tags, clocks, notifications, transfers, the events of their
//! history, pending jobs), in one transaction. What they wrote in someone else's
//! conversation (in copy of an email) stays as an empty message, so that the other
//! customer's history keeps its shape; their address leaves that conversation's copy list.
//! One event, `contact.erased`, says it happened, by whom, and which ids went (ids only,
//! so that integrators and the search index can follow), never what they held.

use std::collections::BTreeMap;

use serde::Serialize;
use seva_core::contact::IdentityKind;
use seva_core::time::Timestamp;
use seva_core::{ContactId, ConversationId, MessageId};

use crate::contacts::{self, Contact};
use crate::db::{Conn, Dialect, Value};
use crate::{Error, Result, args};

/// The job that removes attachment files no message uses any more, once the erasure that
/// freed them is committed (files are not part of the database's transaction).
pub const SWEEP_FILES: &str = "files.sweep";

/// What an erasure took.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Erased {
    pub contact_id: ContactId,
    /// The contact and those merged into it before.
    pub contacts: usize,
    pub conversations: usize,
    /// Messages deleted with their conversations.
    pub messages: usize,
    /// Messages they wrote in other customers' conversations, now empty.
    pub emptied_messages: usize,
    /// Attachments (files) deleted; a file is removed from disk once no message uses it.
    pub attachments: usize,
}

/// The contact `id` stands for and those merged into it (and into those), first the
/// contact itself. One merged into another is refused: its data lives in the other.
async fn family(conn: &mut dyn Conn, id: ContactId) -> Result<(Contact, Vec<String>)> {
    let contact = contacts::get(conn, id).await?;
    if contact.merged_into.is_some() {
        return Err(Error::invalid(
            "contact",
            "this contact was merged into another: erase that one",
        ));
    }
    let mut all = vec![id.to_string()];
    let mut frontier = all.clone();
    while !frontier.is_empty() {
        let (sql, args) = with_list(
            "SELECT id FROM contacts WHERE merged_into IN ",
            "",
            &frontier,
        );
        frontier = conn
            .query(&sql, &args)
            .await?
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<Vec<_>>>()?;
        frontier.retain(|c| !all.contains(c));
        all.extend(frontier.iter().cloned());
    }
    Ok((contact, all))
}

/// `($first, …)`: `n` placeholders, numbered from `first`.
fn marks(first: usize, n: usize) -> String {
    let marks: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!("({})", marks.join(", "))
}

/// `head ($1, $2, …) tail`, with the ids to bind.
fn with_list(head: &str, tail: &str, ids: &[String]) -> (String, Vec<Value>) {
    let sql = format!("{head}{}{tail}", marks(1, ids.len()));
    (sql, ids.iter().map(|s| Value::from(s.clone())).collect())
}

/// Runs `head (…ids…) tail` for the ids in chunks: a statement binds a bounded number of
/// values.
async fn execute_chunked(
    conn: &mut dyn Conn,
    head: &str,
    tail: &str,
    ids: &[String],
) -> Result<()> {
    for chunk in ids.chunks(200) {
        let (sql, args) = with_list(head, tail, chunk);
        conn.execute(&sql, &args).await?;
    }
    Ok(())
}

async fn texts(conn: &mut dyn Conn, sql: &str, args: &[Value]) -> Result<Vec<String>> {
    conn.query(sql, args)
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect()
}

/// Deletes the rows of `table` whose text column `column` mentions any of `ids`, among
/// those `filter` keeps: for JSON documents that name what they are about by id.
async fn delete_mentioning(
    conn: &mut dyn Conn,
    table: &str,
    column: &str,
    filter: &str,
    ids: &[String],
) -> Result<()> {
    for chunk in ids.chunks(100) {
        let likes: Vec<String> = (1..=chunk.len())
            .map(|n| format!("{column} LIKE ${n}"))
            .collect();
        let sql = format!(
            "DELETE FROM {table} WHERE {filter} AND ({})",
            likes.join(" OR ")
        );
        let args: Vec<Value> = chunk
            .iter()
            .map(|id| Value::from(format!("%{id}%")))
            .collect();
        conn.execute(&sql, &args).await?;
    }
    Ok(())
}

/// Takes the addresses out of the copy lists of other customers' conversations, and out
/// of the headers kept with those conversations' emails (their to and cc). The originals
/// of those emails are the other customers' records and stay whole.
async fn forget_addresses(conn: &mut dyn Conn, addresses: &[String]) -> Result<()> {
    if addresses.is_empty() {
        return Ok(());
    }
    let (sql, args) = with_list(
        "SELECT DISTINCT conversation_id FROM conversation_participants WHERE email IN ",
        "",
        addresses,
    );
    let copied = texts(conn, &sql, &args).await?;
    for chunk in copied.chunks(200) {
        let (sql, args) = with_list(
            "SELECT id, email FROM messages WHERE email IS NOT NULL AND conversation_id IN ",
            "",
            chunk,
        );
        for r in conn.query(&sql, &args).await? {
            let Ok(mut headers) = serde_json::from_str::<serde_json::Value>(r.str(1)?) else {
                continue;
            };
            if without_addresses(&mut headers, addresses) {
                conn.execute(
                    "UPDATE messages SET email = $1 WHERE id = $2",
                    args![crate::json_text(&headers)?, r.text(0)?],
                )
                .await?;
            }
        }
    }
    execute_chunked(
        conn,
        "DELETE FROM conversation_participants WHERE email IN ",
        "",
        addresses,
    )
    .await?;
    Ok(())
}

/// Drops `addresses` from an email's `to` and `cc` lists (each entry an address, or an
/// object with an `email`); whether anything was dropped.
fn without_addresses(headers: &mut serde_json::Value, addresses: &[String]) -> bool {
    let named = |v: &serde_json::Value| {
        let address = v
            .as_str()
            .or_else(|| v.get("email").and_then(|e| e.as_str()));
        address.is_some_and(|a| addresses.iter().any(|x| x.eq_ignore_ascii_case(a)))
    };
    let mut dropped = false;
    for key in ["to", "cc"] {
        if let Some(list) = headers.get_mut(key).and_then(|l| l.as_array_mut()) {
            let before = list.len();
            list.retain(|v| !named(v));
            dropped |= list.len() != before;
        }
    }
    dropped
}

/// The files of some messages, as an erasure or a redaction finds them before it takes
/// the messages' rows: their attachments and their original emails.
struct Files {
    /// SHA-256 of every file on disk they used (a large original email is a file too).
    sha256: Vec<String>,
    /// Originals small enough to be rows of `message_sources`.
    sources: Vec<String>,
    attachments: usize,
}

impl Files {
    async fn of(conn: &mut dyn Conn, messages: &[String]) -> Result<Files> {
        let mut files = Files {
            sha256: Vec::new(),
            sources: Vec::new(),
            attachments: 0,
        };
        for chunk in messages.chunks(200) {
            let (sql, args) = with_list(
                "SELECT sha256 FROM attachments WHERE message_id IN ",
                "",
                chunk,
            );
            let hashes = texts(conn, &sql, &args).await?;
            files.attachments += hashes.len();
            files.sha256.extend(hashes);
            let (sql, args) = with_list(
                "SELECT source_sha256 FROM messages WHERE source_sha256 IS NOT NULL AND id IN ",
                "",
                chunk,
            );
            files.sources.extend(texts(conn, &sql, &args).await?);
        }
        files.sources.sort();
        files.sources.dedup();
        files.sha256.extend(files.sources.iter().cloned());
        files.sha256.sort();
        files.sha256.dedup();
        Ok(files)
    }

    /// Before the messages are deleted or emptied: their attachments' rows go.
    async fn forget_attachments(&self, conn: &mut dyn Conn, messages: &[String]) -> Result<()> {
        execute_chunked(
            conn,
            "DELETE FROM attachments WHERE message_id IN ",
            "",
            messages,
        )
        .await
    }

    /// Once the messages are deleted or emptied: the originals no message uses any more
    /// go, and a job removes the files no one uses from disk after the commit.
    async fn release(&self, conn: &mut dyn Conn) -> Result<()> {
        execute_chunked(
            conn,
            "DELETE FROM message_sources WHERE sha256 IN ",
            " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.source_sha256 = message_sources.sha256)",
            &self.sources,
        )
        .await?;
        if !self.sha256.is_empty() {
            crate::jobs::enqueue(
                conn,
                SWEEP_FILES,
                serde_json::json!({ "sha256": self.sha256 }),
                crate::now(),
            )
            .await?;
        }
        Ok(())
    }
}

/// A message whose words are to be taken out, where it stays.
struct Words {
    message: String,
    conversation: String,
    text: String,
}

impl Words {
    /// From `id, conversation_id, text`.
    fn of(r: &crate::Row) -> Result<Words> {
        Ok(Words {
            message: r.text(0)?,
            conversation: r.text(1)?,
            text: r.text(2)?,
        })
    }
}

/// Takes the words out of messages that stay in their conversations (a customer's in
/// others' conversations when they are erased, or one redacted): text, HTML, quoted
/// history, original and the channel's id go and the message is marked redacted (its
/// email's headers stay); notifications that quoted it go, with the events that carried
/// them; each conversation's preview is taken again. Files are the caller's
/// ([`Files`]).
async fn empty_messages(conn: &mut dyn Conn, words: &[Words]) -> Result<()> {
    let ids: Vec<String> = words.iter().map(|w| w.message.clone()).collect();
    execute_chunked(
        conn,
        &format!(
            "UPDATE messages SET text = '', html = '', folded = '', source_sha256 = NULL, \
             provider_id = NULL, redacted_at = {} WHERE id IN ",
            crate::now().micros()
        ),
        "",
        &ids,
    )
    .await?;
    let mut quoted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for w in words {
        let q = seva_core::text::preview(&w.text, 140);
        let list = quoted.entry(w.conversation.as_str()).or_default();
        if !q.is_empty() {
            list.push(q);
        }
    }
    for (&conversation, plain) in &quoted {
        // In the events' JSON, the quote is escaped as JSON escapes it.
        let escaped: Vec<String> = plain
            .iter()
            .map(|q| serde_json::Value::from(q.as_str()).to_string())
            .map(|j| j[1..j.len() - 1].to_string())
            .collect();
        let quotes =
            |text: &str, within: &[String]| within.iter().any(|q| text.contains(q.as_str()));
        for r in conn
            .query(
                "SELECT id, text FROM notifications WHERE conversation_id = $1",
                args![conversation],
            )
            .await?
        {
            if quotes(r.str(1)?, plain) {
                conn.execute("DELETE FROM notifications WHERE id = $1", args![r.text(0)?])
                    .await?;
            }
        }
        for r in conn
            .query(
                "SELECT seq, data FROM events WHERE conversation_id = $1",
                args![conversation],
            )
            .await?
        {
            if quotes(r.str(1)?, &escaped) {
                conn.execute("DELETE FROM events WHERE seq = $1", args![r.int(0)?])
                    .await?;
            }
        }
        // Their words may have been the last the conversation showed in the inbox.
        let last = conn
            .query(
                "SELECT text FROM messages WHERE conversation_id = $1 AND kind IN ('inbound', 'outbound') \
                 AND text <> '' ORDER BY seq DESC LIMIT 1",
                args![conversation],
            )
            .await?;
        let preview = match last.first() {
            Some(r) => seva_core::text::preview(r.str(0)?, 140),
            None => String::new(),
        };
        conn.execute(
            "UPDATE conversations SET preview = $1 WHERE id = $2",
            args![preview, conversation],
        )
        .await?;
    }
    Ok(())
}

/// SQLite's `secure_delete`, on around an erasure or a redaction: the rows it deletes or
/// rewrites are then overwritten with zeros in the database file, where they would
/// otherwise stay in free space until reused. (On PostgreSQL they stay in the tables'
/// dead rows until the next vacuum.)
async fn secure_delete(conn: &mut dyn Conn, on: bool) -> Result<()> {
    if conn.dialect() == Dialect::Sqlite {
        let pragma = if on {
            "PRAGMA secure_delete = ON"
        } else {
            "PRAGMA secure_delete = OFF"
        };
        conn.query(pragma, &[]).await?;
    }
    Ok(())
}

/// Takes the words out of one message (a card number or a password sent by mistake), in
/// the caller's transaction, with [`secure_delete`]: its text, quoted history and
/// original email, its files, the notifications that quoted it and the search index's
/// copy (after the `message.redacted` event); the timeline keeps the message, marked
/// redacted, so that the conversation keeps its shape. A message of a conversation
/// `viewer` may not see is not found; one redacted already stays as it is.
pub async fn redact(
    conn: &mut dyn Conn,
    viewer: &crate::conversations::Viewer,
    id: MessageId,
    actor: &str,
) -> Result<()> {
    secure_delete(conn, true).await?;
    let done = redact_message(conn, viewer, id, actor).await;
    secure_delete(conn, false).await?;
    done
}

async fn redact_message(
    conn: &mut dyn Conn,
    viewer: &crate::conversations::Viewer,
    id: MessageId,
    actor: &str,
) -> Result<()> {
    let message = crate::messages::get(conn, id).await?;
    crate::conversations::get_for(conn, viewer, message.conversation_id).await?;
    if message.redacted_at.is_some() {
        return Ok(());
    }
    let ids = [id.to_string()];
    let files = Files::of(conn, &ids).await?;
    files.forget_attachments(conn, &ids).await?;
    let words = Words {
        message: id.to_string(),
        conversation: message.conversation_id.to_string(),
        text: message.text,
    };
    empty_messages(conn, &[words]).await?;
    files.release(conn).await?;
    crate::events::append(
        conn,
        "message.redacted",
        Some(message.conversation_id),
        actor,
        serde_json::json!({"message_id": id, "attachments": files.attachments}),
    )
    .await
}

/// Erases the contact `id` and everything the desk holds about them (see the module's
/// comment): what [`Looked`] found on a reader first, then [`erase`] on the writer.
pub async fn erase_contact(store: &crate::Store, id: ContactId, actor: &str) -> Result<Erased> {
    let looked = store.read(crate::op!(c => look(c, id).await)).await?;
    let actor = actor.to_string();
    store
        .write(crate::op!(c => erase(c, id, &actor, Some(&looked)).await))
        .await
}

/// What an erasure finds before it writes, on a reader: the one walk through every
/// message it needs (no index holds a message's author, which every new message would
/// pay for), done while other writes go on instead of in the writer's transaction.
struct Looked {
    people: Vec<String>,
    /// Messages they wrote in other customers' conversations, as of `last_message`.
    elsewhere: Vec<String>,
    /// The last message's `seq` when they were looked for.
    last_message: i64,
}

/// Looks for what they wrote in others' conversations, on a snapshot.
async fn look(conn: &mut dyn Conn, id: ContactId) -> Result<Looked> {
    let (_, people) = family(conn, id).await?;
    let last_message = conn
        .query_one("SELECT coalesce(max(seq), 0) FROM messages", &[])
        .await?
        .int(0)?;
    let (in_people, people_args) = with_list("", "", &people);
    let elsewhere = texts(
        conn,
        &format!(
            "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE m.author_contact_id IN {in_people} AND c.contact_id NOT IN {in_people}"
        ),
        &people_args,
    )
    .await?;
    Ok(Looked {
        people,
        elsewhere,
        last_message,
    })
}

/// Erases the contact `id` and everything the desk holds about them (see the module's
/// comment), in the caller's transaction, with [`secure_delete`]. With what [`look`]
/// found, only the messages written since are walked (by their `seq`); should the
/// contact's family have changed meanwhile (a merge), every message is walked again.
/// (Were anything missed, the contact's row could not be deleted while a message still
/// names them, and the erasure would fail whole.)
async fn erase(
    conn: &mut dyn Conn,
    id: ContactId,
    actor: &str,
    looked: Option<&Looked>,
) -> Result<Erased> {
    secure_delete(conn, true).await?;
    let erased = erase_rows(conn, id, actor, looked).await;
    secure_delete(conn, false).await?;
    erased
}

async fn erase_rows(
    conn: &mut dyn Conn,
    id: ContactId,
    actor: &str,
    looked: Option<&Looked>,
) -> Result<Erased> {
    let (_, people) = family(conn, id).await?;
    let (in_people, people_args) = with_list("", "", &people);
    let theirs = format!("SELECT id FROM conversations WHERE contact_id IN {in_people}");
    let conversations = texts(conn, &theirs, &people_args).await?;
    let messages = texts(
        conn,
        &format!("SELECT id FROM messages WHERE conversation_id IN ({theirs})"),
        &people_args,
    )
    .await?;
    // What they wrote in others' conversations, which stays there, emptied.
    let theirs_elsewhere = format!(
        "SELECT m.id, m.conversation_id, m.text FROM messages m \
         JOIN conversations c ON c.id = m.conversation_id \
         WHERE m.author_contact_id IN {in_people} AND c.contact_id NOT IN {in_people}"
    );
    let rows = match looked.filter(|l| l.people == people) {
        Some(l) => {
            let mut rows = Vec::new();
            for chunk in l.elsewhere.chunks(200) {
                let ids = marks(people.len() + 1, chunk.len());
                let sql = format!("{theirs_elsewhere} AND m.id IN {ids}");
                let mut args = people_args.clone();
                args.extend(chunk.iter().map(|id| Value::from(id.clone())));
                rows.extend(conn.query(&sql, &args).await?);
            }
            let mut args = people_args.clone();
            args.push(Value::from(l.last_message));
            let since = format!("{theirs_elsewhere} AND m.seq > ${}", people.len() + 1);
            rows.extend(conn.query(&since, &args).await?);
            rows
        }
        None => conn.query(&theirs_elsewhere, &people_args).await?,
    };
    let words_elsewhere = rows.iter().map(Words::of).collect::<Result<Vec<_>>>()?;
    let elsewhere: Vec<String> = words_elsewhere.iter().map(|w| w.message.clone()).collect();
    let all_messages: Vec<String> = messages.iter().chain(&elsewhere).cloned().collect();
    let files = Files::of(conn, &all_messages).await?;
    let addresses = texts(
        conn,
        &format!(
            "SELECT value FROM contact_identities WHERE kind = '{}' AND contact_id IN {in_people}",
            IdentityKind::Email.as_str()
        ),
        &people_args,
    )
    .await?;

    files.forget_attachments(conn, &all_messages).await?;
    empty_messages(conn, &words_elsewhere).await?;
    // Theirs no more: the message was written by someone erased, from an address gone.
    execute_chunked(
        conn,
        "UPDATE messages SET author_contact_id = NULL, email = NULL WHERE id IN ",
        "",
        &elsewhere,
    )
    .await?;
    delete_conversations(conn, &conversations).await?;
    // Stored answers to retried creates name the conversations they made (and are kept
    // with a hash of the request, which held their name and address).
    delete_mentioning(conn, "idempotency_keys", "body", "1 = 1", &conversations).await?;
    conn.execute(
        &format!("DELETE FROM chat_visitors WHERE contact_id IN {in_people}"),
        &people_args,
    )
    .await?;
    forget_addresses(conn, &addresses).await?;
    files.release(conn).await?;
    // The events about the contacts themselves (made, renamed, an address added).
    delete_mentioning(
        conn,
        "events",
        "data",
        "conversation_id IS NULL AND kind LIKE 'contact.%'",
        &people,
    )
    .await?;

    conn.execute(
        &format!("DELETE FROM contact_identities WHERE contact_id IN {in_people}"),
        &people_args,
    )
    .await?;
    conn.execute(
        &format!("UPDATE contacts SET merged_into = NULL WHERE id IN {in_people}"),
        &people_args,
    )
    .await?;
    conn.execute(
        &format!("DELETE FROM contacts WHERE id IN {in_people}"),
        &people_args,
    )
    .await?;

    let erased = Erased {
        contact_id: id,
        contacts: people.len(),
        conversations: conversations.len(),
        messages: messages.len(),
        emptied_messages: elsewhere.len(),
        attachments: files.attachments,
    };
    crate::events::append(
        conn,
        "contact.erased",
        None,
        actor,
        serde_json::json!({
            "contact_id": id,
            "contacts": people,
            "conversations": conversations,
            "messages": all_messages,
            "emptied_messages": erased.emptied_messages,
            "attachments": erased.attachments,
        }),
    )
    .await?;
    Ok(erased)
}

/// Deletes `conversations` and what hangs off them: their messages, tags, followers,
/// people in copy, clocks, notifications, tasks, transfers, chat visitors and the events
/// of their history, and the jobs still to run for them. Files are the caller's
/// ([`Files`]: forgotten before, released after).
async fn delete_conversations(conn: &mut dyn Conn, conversations: &[String]) -> Result<()> {
    // An owner's load is counted by a trigger on updates, so the owner goes first.
    execute_chunked(
        conn,
        "UPDATE conversations SET owner_id = NULL WHERE owner_id IS NOT NULL AND id IN ",
        "",
        conversations,
    )
    .await?;
    for table in [
        "messages",
        "conversation_tags",
        "conversation_followers",
        "conversation_participants",
        "sla_clocks",
        "notifications",
        "tasks",
        "transfers",
        "chat_visitors",
        "events",
    ] {
        execute_chunked(
            conn,
            &format!("DELETE FROM {table} WHERE conversation_id IN "),
            "",
            conversations,
        )
        .await?;
    }
    execute_chunked(
        conn,
        "DELETE FROM conversations WHERE id IN ",
        "",
        conversations,
    )
    .await?;
    // Jobs still to run for them (a reply to send, a bot's answer) would only fail now.
    delete_mentioning(
        conn,
        "jobs",
        "payload",
        "state IN ('queued', 'running', 'dead')",
        conversations,
    )
    .await
}

/// Whether any conversation has been closed and unchanged since before `cutoff` (read
/// on the `conversations_closed` index, which holds closed ones only).
pub async fn anything_past_retention(conn: &mut dyn Conn, cutoff: Timestamp) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM conversations WHERE status = 'closed' AND updated_at < $1 LIMIT 1",
            args![cutoff.micros()],
        )
        .await?
        .is_some())
}

/// What a retention sweep deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    pub conversations: usize,
    pub messages: usize,
    pub attachments: usize,
}

/// Deletes, for good and with [`secure_delete`], up to `limit` conversations closed and
/// unchanged since before `cutoff` (the desk's retention period,
/// `delete_closed_after_days`), oldest first, with everything that hangs off them. Their
/// customers stay, and so does what other conversations say of them (a merge's note).
/// The stored answers to the creates that made them went a day after those
/// (`idempotency::cutoff`), long before. One `conversations.deleted` event names the ids
/// that went, so that integrators and the search index can follow.
pub async fn delete_past_retention(
    conn: &mut dyn Conn,
    cutoff: Timestamp,
    limit: i64,
) -> Result<Expired> {
    secure_delete(conn, true).await?;
    let deleted = delete_expired_rows(conn, cutoff, limit).await;
    secure_delete(conn, false).await?;
    deleted
}

async fn delete_expired_rows(
    conn: &mut dyn Conn,
    cutoff: Timestamp,
    limit: i64,
) -> Result<Expired> {
    let conversations = texts(
        conn,
        "SELECT id FROM conversations WHERE status = 'closed' AND updated_at < $1 \
         ORDER BY updated_at LIMIT $2",
        args![cutoff.micros(), limit],
    )
    .await?;
    if conversations.is_empty() {
        return Ok(Expired::default());
    }
    let mut messages = Vec::new();
    for chunk in conversations.chunks(200) {
        let (sql, args) = with_list(
            "SELECT id FROM messages WHERE conversation_id IN ",
            "",
            chunk,
        );
        messages.extend(texts(conn, &sql, &args).await?);
    }
    let files = Files::of(conn, &messages).await?;
    files.forget_attachments(conn, &messages).await?;
    delete_conversations(conn, &conversations).await?;
    files.release(conn).await?;
    crate::events::append(
        conn,
        "conversations.deleted",
        None,
        "system:retention",
        serde_json::json!({
            "reason": "retention",
            "closed_before": cutoff,
            "conversations": conversations,
            "messages": messages,
            "attachments": files.attachments,
        }),
    )
    .await?;
    Ok(Expired {
        conversations: conversations.len(),
        messages: messages.len(),
        attachments: files.attachments,
    })
}

/// Everything the desk holds about a contact, as they may ask for it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Export {
    pub exported_at: Timestamp,
    pub contact: Contact,
    /// Contacts merged into this one before: their names and when they were made.
    pub merged: Vec<MergedContact>,
    /// The conversations they are the customer of, oldest first, with every message.
    pub conversations: Vec<ExportedConversation>,
    /// What they wrote in other customers' conversations (in copy of an email).
    pub written_elsewhere: Vec<ExportedMessage>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MergedContact {
    pub id: ContactId,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedConversation {
    pub id: ConversationId,
    pub reference: i64,
    pub subject: String,
    pub status: String,
    pub channel: String,
    pub language: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub messages: Vec<ExportedMessage>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedMessage {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// `inbound`, `outbound`, `note` (internal, between agents) or `system`.
    pub kind: String,
    pub channel: String,
    /// `customer`, `agent` or `system`.
    pub from: String,
    pub text: String,
    pub created_at: Timestamp,
    pub attachments: Vec<ExportedFile>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedFile {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.kind, m.channel, \
     CASE WHEN m.author_agent_id IS NOT NULL THEN 'agent' \
          WHEN m.author_contact_id IS NOT NULL THEN 'customer' ELSE 'system' END, \
     m.text, m.created_at";

async fn exported_messages(
    conn: &mut dyn Conn,
    sql: &str,
    args: &[Value],
) -> Result<Vec<ExportedMessage>> {
    let rows = conn.query(sql, args).await?;
    let mut out = Vec::with_capacity(rows.len());
    for mut r in rows {
        out.push(ExportedMessage {
            id: r.parse(0)?,
            conversation_id: r.parse(1)?,
            kind: r.take_text(2)?,
            channel: r.take_text(3)?,
            from: r.take_text(4)?,
            text: r.take_text(5)?,
            created_at: Timestamp(r.int(6)?),
            attachments: Vec::new(),
        });
    }
    for m in &mut out {
        m.attachments = conn
            .query(
                "SELECT filename, content_type, size, sha256 FROM attachments WHERE message_id = $1 ORDER BY created_at, id",
                args![m.id.to_string()],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(ExportedFile {
                    filename: r.text(0)?,
                    content_type: r.text(1)?,
                    size: r.int(2)?,
                    sha256: r.text(3)?,
                })
            })
            .collect::<Result<_>>()?;
    }
    Ok(out)
}

/// Everything the desk holds about the contact `id` (and those merged into it): their
/// details, every conversation they are the customer of with all its messages (internal
/// notes included, marked as such), and what they wrote elsewhere. Files are described,
/// not included.
pub async fn export(conn: &mut dyn Conn, id: ContactId) -> Result<Export> {
    let (contact, people) = family(conn, id).await?;
    let (in_people, people_args) = with_list("", "", &people);
    let merged = conn
        .query(
            &format!("SELECT id, name, created_at FROM contacts WHERE id IN {in_people} ORDER BY created_at"),
            &people_args,
        )
        .await?
        .iter()
        .filter(|r| r.str(0).is_ok_and(|c| c != people[0]))
        .map(|r| {
            Ok(MergedContact {
                id: r.parse(0)?,
                name: r.text(1)?,
                created_at: Timestamp(r.int(2)?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let rows = conn
        .query(
            &format!(
                "SELECT id, seq, subject, status, channel, language, created_at, updated_at \
                 FROM conversations WHERE contact_id IN {in_people} ORDER BY seq"
            ),
            &people_args,
        )
        .await?;
    let mut conversations = Vec::with_capacity(rows.len());
    for mut r in rows {
        let cid: ConversationId = r.parse(0)?;
        let messages = exported_messages(
            conn,
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 ORDER BY m.seq"),
            args![cid.to_string()],
        )
        .await?;
        conversations.push(ExportedConversation {
            id: cid,
            reference: r.int(1)?,
            subject: r.take_text(2)?,
            status: r.take_text(3)?,
            channel: r.take_text(4)?,
            language: r.opt_take_text(5)?,
            created_at: Timestamp(r.int(6)?),
            updated_at: Timestamp(r.int(7)?),
            messages,
        });
    }
    let written_elsewhere = exported_messages(
        conn,
        &format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE m.author_contact_id IN {in_people} AND c.contact_id NOT IN {in_people} ORDER BY m.seq"
        ),
        &people_args,
    )
    .await?;
    Ok(Export {
        exported_at: crate::now(),
        contact,
        merged,
        conversations,
        written_elsewhere,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_leaves_the_to_and_cc_lists_in_either_form_and_nothing_else() {
        let mut headers = serde_json::json!({
            "from": {"email": "maria@example.ph", "name": "Maria"},
            "to": ["support@seva.test", {"email": "Boss@Example.ph", "name": "Boss"}],
            "cc": ["boss@example.ph", "jun@example.ph"],
            "subject": "boss@example.ph",
        });
        assert!(without_addresses(&mut headers, &["boss@example.ph".into()]));
        assert_eq!(headers["to"], serde_json::json!(["support@seva.test"]));
        assert_eq!(headers["cc"], serde_json::json!(["jun@example.ph"]));
        assert_eq!(headers["from"]["email"], "maria@example.ph");
        assert!(!without_addresses(
            &mut headers,
            &["boss@example.ph".into()]
        ));
    }
}
