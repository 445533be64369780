//! What the email channel keeps beyond conversations and messages: the Message-IDs that
//! thread replies (stored as the messages' provider ids), the people in copy, bounces
//! marked on the message they refer to, and where IMAP polling got to.

use seva_core::conversation::{Channel, Delivery, MessageKind};
use seva_core::{ContactId, ConversationId, InboxId, MessageId};

use crate::conversations::Conversation;
use crate::db::Conn;
use crate::inboxes::Inbox;
use crate::messages::{EmailParts, NewMessage};
use crate::{Error, Result, args};

/// The conversation that holds any of these Message-IDs, trying them in order.
pub async fn conversation_of(
    conn: &mut dyn Conn,
    ids: &[String],
) -> Result<Option<ConversationId>> {
    for id in ids {
        if let Some(row) = conn
            .query_opt(
                "SELECT conversation_id FROM messages WHERE channel = 'email' AND provider_id = $1",
                args![id.as_str()],
            )
            .await?
        {
            return Ok(Some(row.parse(0)?));
        }
    }
    Ok(None)
}

/// The conversation with this reference ("#1042").
pub async fn by_reference(conn: &mut dyn Conn, reference: i64) -> Result<Option<Conversation>> {
    let Some(row) = conn
        .query_opt(
            "SELECT id FROM conversations WHERE seq = $1",
            args![reference],
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(crate::conversations::get(conn, row.parse(0)?).await?))
}

/// Whether this address belongs to the conversation's contact or one of its participants:
/// only they may continue it by the subject tag alone.
pub async fn is_member(conn: &mut dyn Conn, c: &Conversation, email: &str) -> Result<bool> {
    let row = conn
        .query_opt(
            "SELECT 1 FROM contact_identities WHERE kind = 'email' AND value = $1 AND contact_id = $2 \
             UNION ALL SELECT 1 FROM conversation_participants WHERE conversation_id = $3 AND email = $1",
            args![email, c.contact_id.to_string(), c.id.to_string()],
        )
        .await?;
    Ok(row.is_some())
}

/// Records people in copy (and a sender who is not the requester). The requester, by any
/// of their addresses, is never their own participant.
pub async fn add_participants(
    conn: &mut dyn Conn,
    id: ConversationId,
    people: &[(String, Option<String>)],
) -> Result<()> {
    for (email, name) in people {
        conn.execute(
            "INSERT INTO conversation_participants (conversation_id, email, name, created_at) \
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM contact_identities i JOIN conversations c \
             ON c.contact_id = i.contact_id WHERE c.id = $1 AND i.kind = 'email' AND i.value = $2) \
             ON CONFLICT (conversation_id, email) DO NOTHING",
            args![id.to_string(), email.as_str(), name.as_deref(), crate::now().micros()],
        )
        .await?;
    }
    Ok(())
}

pub async fn participants(
    conn: &mut dyn Conn,
    id: ConversationId,
) -> Result<Vec<(String, Option<String>)>> {
    conn.query(
        "SELECT email, name FROM conversation_participants WHERE conversation_id = $1 ORDER BY created_at, email",
        args![id.to_string()],
    )
    .await?
    .iter()
    .map(|r| Ok((r.text(0)?, r.opt_text(1)?)))
    .collect()
}

/// The most addresses one change to who is in copy may name.
pub const MAX_COPY_CHANGES: usize = 50;

/// Puts people in copy of an email conversation, or takes them out, on an agent's word:
/// those in copy receive every reply from then on, and may answer into it. Returns who is
/// in copy now.
pub async fn set_copy(
    conn: &mut dyn Conn,
    viewer: &crate::conversations::Viewer,
    id: ConversationId,
    add: &[String],
    remove: &[String],
) -> Result<Vec<(String, Option<String>)>> {
    if add.len() + remove.len() > MAX_COPY_CHANGES {
        return Err(crate::Error::invalid(
            "add",
            format!("at most {MAX_COPY_CHANGES} addresses at once"),
        ));
    }
    let c = crate::conversations::get_for(conn, viewer, id).await?;
    if c.channel != Channel::Email {
        return Err(crate::Error::invalid(
            "add",
            "only an email conversation has people in copy",
        ));
    }
    let ours = match c.inbox_id {
        Some(inbox) => crate::inboxes::get(conn, inbox).await?.address,
        None => None,
    };
    let mut added = Vec::new();
    for raw in add {
        let address = seva_core::contact::Email::parse(raw)
            .map_err(|e| crate::Error::invalid("add", format!("{raw:?}: {}", e.0)))?
            .identity_key();
        if ours
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case(&address))
        {
            return Err(crate::Error::invalid(
                "add",
                "the inbox's own address cannot be in copy",
            ));
        }
        added.push((address, None));
    }
    add_participants(conn, id, &added).await?;
    for address in remove {
        conn.execute(
            "DELETE FROM conversation_participants WHERE conversation_id = $1 AND email = $2",
            args![id.to_string(), address.trim().to_lowercase()],
        )
        .await?;
    }
    let added: Vec<&String> = added.iter().map(|(a, _)| a).collect();
    crate::events::append(
        conn,
        "conversation.copy_changed",
        Some(id),
        &viewer.actor(),
        serde_json::json!({"added": added, "removed": remove}),
    )
    .await?;
    participants(conn, id).await
}

/// Gives an outbound email message its Message-ID at once, in the transaction that
/// records it, so a reply to it threads even before it has been sent.
pub async fn assign_message_id(
    conn: &mut dyn Conn,
    c: &Conversation,
    message: MessageId,
) -> Result<String> {
    let domain = match c.inbox_id {
        Some(inbox) => conn
            .query_opt(
                "SELECT address FROM inboxes WHERE id = $1",
                args![inbox.to_string()],
            )
            .await?
            .and_then(|r| r.opt_text(0).ok().flatten()),
        None => None,
    };
    set_message_id(conn, domain.as_deref(), message).await
}

/// Gives our message a Message-ID in the domain of `from` (the address it is sent from).
pub async fn set_message_id(
    conn: &mut dyn Conn,
    from: Option<&str>,
    message: MessageId,
) -> Result<String> {
    let domain = from
        .and_then(|a| a.rsplit_once('@'))
        .map_or("seva.local", |(_, d)| d)
        .to_string();
    let id = format!("seva.{message}@{domain}");
    conn.execute(
        "UPDATE messages SET provider_id = $1 WHERE id = $2",
        args![&id, message.to_string()],
    )
    .await?;
    Ok(id)
}

/// Records what an agent wrote by email, in answer to Seva's mail to them about a
/// conversation, as their internal note. The mail's `message_id` makes a second delivery
/// of it a no-op; returns whether it had been stored before.
pub async fn agent_note(
    conn: &mut dyn Conn,
    viewer: &crate::conversations::Viewer,
    id: ConversationId,
    text: &str,
    files: &[crate::attachments::StoredFile],
    message_id: &str,
) -> Result<bool> {
    let c = crate::conversations::get_for(conn, viewer, id).await?;
    if conn
        .query_opt(
            "SELECT 1 FROM messages WHERE channel = $1 AND provider_id = $2",
            args![c.channel.as_str(), message_id],
        )
        .await?
        .is_some()
    {
        return Ok(true);
    }
    let note = crate::conversations::reply(
        conn,
        viewer,
        id,
        crate::conversations::Reply {
            text,
            kind: MessageKind::Note,
            files,
            then: None,
        },
    )
    .await?;
    conn.execute(
        "UPDATE messages SET provider_id = $1 WHERE id = $2",
        args![message_id, note.to_string()],
    )
    .await?;
    Ok(false)
}

/// Every Message-ID in the conversation, oldest first, but for agents' notes written by
/// email: the References of our next mail.
pub async fn thread_ids(conn: &mut dyn Conn, id: ConversationId) -> Result<Vec<String>> {
    conn.query(
        "SELECT provider_id FROM messages WHERE conversation_id = $1 AND channel = 'email' AND provider_id IS NOT NULL \
         AND kind <> 'note' ORDER BY seq",
        args![id.to_string()],
    )
    .await?
    .iter()
    .map(|r| r.text(0))
    .collect()
}

/// The newest message the customer side sent: what our reply answers (In-Reply-To), and
/// the address it came from.
pub async fn last_inbound(
    conn: &mut dyn Conn,
    id: ConversationId,
) -> Result<Option<(Option<String>, Option<String>)>> {
    let row = conn
        .query_opt(
            "SELECT provider_id, email FROM messages WHERE conversation_id = $1 AND kind = 'inbound' ORDER BY seq DESC LIMIT 1",
            args![id.to_string()],
        )
        .await?;
    Ok(match row {
        Some(r) => Some((r.opt_text(0)?, r.opt_text(1)?)),
        None => None,
    })
}

/// The contact's first email address.
pub async fn contact_address(conn: &mut dyn Conn, contact: ContactId) -> Result<Option<String>> {
    conn.query_opt(
        "SELECT value FROM contact_identities WHERE contact_id = $1 AND kind = 'email' ORDER BY created_at LIMIT 1",
        args![contact.to_string()],
    )
    .await?
    .map(|r| r.text(0))
    .transpose()
}

/// The email inbox that mails a phone conversation's replies: its team's email inbox,
/// else the first email inbox by name (only inboxes with an address count).
pub async fn inbox_for_phone(conn: &mut dyn Conn, c: &Conversation) -> Result<Option<Inbox>> {
    let mut email: Vec<Inbox> = crate::inboxes::list(conn)
        .await?
        .into_iter()
        .filter(|i| i.channel == Channel::Email && i.address.is_some())
        .collect();
    let ours = email
        .iter()
        .position(|i| c.team_id.is_some() && i.team_id == c.team_id);
    Ok(match ours {
        Some(at) => Some(email.swap_remove(at)),
        None => email.into_iter().next(),
    })
}

/// Where a phone conversation's reply would be mailed, and from which inbox: `None`
/// when the customer has no email address or no email inbox can send.
pub async fn phone_reply_route(
    conn: &mut dyn Conn,
    c: &Conversation,
) -> Result<Option<(String, Inbox)>> {
    let Some(to) = contact_address(conn, c.contact_id).await? else {
        return Ok(None);
    };
    Ok(inbox_for_phone(conn, c).await?.map(|i| (to, i)))
}

/// A reply on a phone conversation is mailed, as a help desk does with a call's ticket:
/// the conversation moves to the email channel and the inbox that sends it, so that the
/// customer's answer threads back into it. Refused, naming `kind`, when the customer has
/// no email address or no email inbox is set up: a note is what is left.
pub(crate) async fn move_phone_to_email(
    conn: &mut dyn Conn,
    c: &Conversation,
    actor: &str,
) -> Result<()> {
    if contact_address(conn, c.contact_id).await?.is_none() {
        return Err(Error::invalid(
            "kind",
            "a phone conversation's reply is mailed, and the customer has no email address: add one on their page, or write a note",
        ));
    }
    let Some(inbox) = inbox_for_phone(conn, c).await? else {
        return Err(Error::invalid(
            "kind",
            "a phone conversation's reply is mailed, and no email inbox is set up: write a note",
        ));
    };
    conn.execute(
        "UPDATE conversations SET channel = $1, inbox_id = $2 WHERE id = $3",
        args![
            Channel::Email.as_str(),
            inbox.id.to_string(),
            c.id.to_string()
        ],
    )
    .await?;
    crate::events::append(
        conn,
        "conversation.channel_changed",
        Some(c.id),
        actor,
        serde_json::json!({"from": c.channel, "to": Channel::Email, "inbox_id": inbox.id}),
    )
    .await
}

/// Where a reply in this conversation is mailed: the address the customer last wrote to
/// it from, when it is one of theirs (a customer with a home and a work address is
/// answered where they wrote from), else their first address.
pub async fn reply_address(conn: &mut dyn Conn, c: &Conversation) -> Result<Option<String>> {
    match last_written_from(conn, c).await? {
        Some(a) => Ok(Some(a)),
        None => contact_address(conn, c.contact_id).await,
    }
}

async fn last_written_from(conn: &mut dyn Conn, c: &Conversation) -> Result<Option<String>> {
    let Some(row) = conn
        .query_opt(
            "SELECT email FROM messages WHERE conversation_id = $1 AND kind = 'inbound' \
             AND channel = 'email' AND email IS NOT NULL ORDER BY seq DESC LIMIT 1",
            args![c.id.to_string()],
        )
        .await?
    else {
        return Ok(None);
    };
    let headers: serde_json::Value = serde_json::from_str(row.str(0)?).unwrap_or_default();
    let Some(from) = headers["from"]["email"].as_str().map(str::to_lowercase) else {
        return Ok(None);
    };
    let theirs = conn
        .query_opt(
            "SELECT 1 FROM contact_identities WHERE contact_id = $1 AND kind = 'email' AND value = $2",
            args![c.contact_id.to_string(), from.as_str()],
        )
        .await?
        .is_some();
    Ok(theirs.then_some(from))
}

/// Automatic mail sent to this contact since `since` (microseconds): the per-contact limit
/// on acknowledgements reads it.
pub async fn automatic_sent_since(
    conn: &mut dyn Conn,
    contact: ContactId,
    since: i64,
) -> Result<i64> {
    conn.query_one(
        "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id \
         WHERE c.contact_id = $1 AND m.kind = 'system' AND m.channel = 'email' AND m.created_at > $2",
        args![contact.to_string(), since],
    )
    .await?
    .int(0)
}

/// Records an automatic acknowledgement and queues it for sending.
pub async fn queue_automatic(
    conn: &mut dyn Conn,
    c: &Conversation,
    text: &str,
) -> Result<MessageId> {
    let id = crate::messages::insert(
        conn,
        NewMessage {
            conversation_id: c.id,
            kind: MessageKind::System,
            channel: Channel::Email,
            author_agent_id: None,
            author_contact_id: None,
            text,
            delivery: Delivery::Queued,
            provider_id: None,
            email: EmailParts::default(),
        },
    )
    .await?
    .id;
    assign_message_id(conn, c, id).await?;
    crate::jobs::enqueue(
        conn,
        crate::jobs::DELIVER,
        serde_json::json!({"message_id": id, "conversation_id": c.id, "channel": Channel::Email}),
        crate::now(),
    )
    .await?;
    crate::events::append(
        conn,
        "message.created",
        Some(c.id),
        "system",
        serde_json::json!({"message_id": id, "kind": "system", "automatic": true}),
    )
    .await?;
    Ok(id)
}

/// Marks our message with this Message-ID as bounced. Returns whether one was found.
pub async fn mark_bounced(conn: &mut dyn Conn, message_id: &str, summary: &str) -> Result<bool> {
    let Some(row) = conn
        .query_opt(
            "SELECT id FROM messages WHERE channel = 'email' AND provider_id = $1 AND kind IN ('outbound', 'system')",
            args![message_id],
        )
        .await?
    else {
        return Ok(false);
    };
    crate::messages::set_delivery(conn, row.parse(0)?, Delivery::Failed, Some(summary)).await?;
    Ok(true)
}

/// Where IMAP polling of an inbox got to: (UIDVALIDITY, last UID stored).
pub async fn imap_cursor(conn: &mut dyn Conn, inbox: InboxId) -> Result<Option<(i64, i64)>> {
    Ok(
        match conn
            .query_opt(
                "SELECT uid_validity, last_uid FROM imap_cursors WHERE inbox_id = $1",
                args![inbox.to_string()],
            )
            .await?
        {
            Some(r) => Some((r.int(0)?, r.int(1)?)),
            None => None,
        },
    )
}

pub async fn set_imap_cursor(
    conn: &mut dyn Conn,
    inbox: InboxId,
    uid_validity: i64,
    last_uid: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO imap_cursors (inbox_id, uid_validity, last_uid, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (inbox_id) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, updated_at = excluded.updated_at",
        args![inbox.to_string(), uid_validity, last_uid, crate::now().micros()],
    )
    .await?;
    Ok(())
}

/// Everything needed to write one of our messages as an email.
#[derive(Debug)]
pub struct Outgoing {
    pub message: crate::messages::Message,
    pub conversation: Conversation,
    pub inbox: Option<crate::inboxes::Inbox>,
    pub to: Option<(String, String)>,
    pub cc: Vec<(String, Option<String>)>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub signature: String,
    pub language: Option<String>,
}

pub async fn outgoing(conn: &mut dyn Conn, message: MessageId) -> Result<Outgoing> {
    let m = crate::messages::get(conn, message).await?;
    let conversation = crate::conversations::get(conn, m.conversation_id).await?;
    let inbox = match conversation.inbox_id {
        Some(i) => Some(crate::inboxes::get(conn, i).await?),
        None => None,
    };
    let to = reply_address(conn, &conversation)
        .await?
        .map(|a| (a, conversation.contact_name.clone()));
    let cc = participants(conn, conversation.id).await?;
    let in_reply_to = last_inbound(conn, conversation.id)
        .await?
        .and_then(|(id, _)| id);
    let references: Vec<String> = thread_ids(conn, conversation.id)
        .await?
        .into_iter()
        .filter(|id| m.external_id.as_deref() != Some(id))
        .collect();
    let signature = match m.author_agent_id {
        Some(a) => conn
            .query_opt(
                "SELECT signature FROM agents WHERE id = $1",
                args![a.to_string()],
            )
            .await?
            .map(|r| r.text(0))
            .transpose()?
            .unwrap_or_default(),
        None => String::new(),
    };
    let language = match &conversation.language {
        Some(l) => Some(l.clone()),
        None => conn
            .query_opt(
                "SELECT language FROM contacts WHERE id = $1",
                args![conversation.contact_id.to_string()],
            )
            .await?
            .and_then(|r| r.opt_text(0).ok().flatten()),
    };
    Ok(Outgoing {
        message: m,
        conversation,
        inbox,
        to,
        cc,
        in_reply_to,
        references,
        signature,
        language,
    })
}
