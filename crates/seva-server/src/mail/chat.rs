//! Chat answers by email. A visitor who wrote while nobody was online, or who closed the
//! page before the answer came, is not left waiting in a chat they no longer see: an
//! agent's answer that stays unread in the chat for the inbox's `email_after_seconds` is
//! sent to the visitor's email address, from the email inbox the chat inbox names, with a
//! reply address that brings the visitor's answer back into the same conversation. The
//! answers unread by then go in one mail; one read meanwhile is not sent again.

use std::time::Duration;

use seva_core::conversation::{Channel, Delivery};
use seva_core::{ConversationId, MessageId};
use seva_store::inboxes::{self, Inbox};
use seva_store::{chat, email, jobs, messages, op};

use crate::Shared;

/// The job that sends a chat's unread answers by email, once their time is up.
pub const EMAIL_UNREAD: &str = "chat.email_unread";

/// How long an answer may wait unread in the chat when the inbox does not say.
pub const DEFAULT_AFTER: Duration = Duration::from_secs(120);

/// An agent's chat answer was handed to the visitor's session: recorded as delivered and,
/// when the chat inbox answers by email, checked again once its time is up.
pub async fn delivered(
    state: &Shared,
    message: MessageId,
    conversation: ConversationId,
) -> Result<(), String> {
    let inbox = state
        .store
        .read(op!(c => {
            let conv = seva_store::conversations::get(c, conversation).await?;
            match conv.inbox_id {
                Some(i) => Ok(Some(inboxes::get(c, i).await?)),
                None => Ok(None),
            }
        }))
        .await
        .map_err(|e| e.to_string())?;
    let settings = inbox.as_ref().map(crate::chat::settings_of);
    let after = settings
        .filter(|s| s.email_inbox.is_some())
        .map(|s| s.email_after());
    state
        .store
        .write(op!(c => {
            messages::set_delivery(c, message, Delivery::Delivered, None).await?;
            let m = messages::get(c, message).await?;
            if let Some(after) = after
                && m.author_agent_id.is_some()
            {
                let at = seva_store::now().micros() + after.as_micros() as i64;
                jobs::enqueue(
                    c,
                    EMAIL_UNREAD,
                    serde_json::json!({"message_id": message, "conversation_id": conversation}),
                    seva_core::time::Timestamp(at),
                )
                .await?;
            }
            Ok(())
        }))
        .await
        .map_err(|e| e.to_string())
}

/// Sends the conversation's answers that the visitor has not read in the chat by email,
/// when the job's answer has waited its time (later ones go in the same mail). Nothing to send (all read, or sent with an earlier mail) is done; no
/// address for the visitor leaves the answers in the chat, where they are.
pub async fn email_unread(state: &Shared, job: &jobs::Job) -> Result<(), String> {
    fn id<T: std::str::FromStr>(job: &jobs::Job, key: &str) -> Option<T> {
        job.payload.get(key)?.as_str()?.parse().ok()
    }
    let message: MessageId = id(job, "message_id").ok_or("the job names no message")?;
    let conversation: ConversationId =
        id(job, "conversation_id").ok_or("the job names no conversation")?;
    let (unread, via) = state
        .store
        .read(op!(c => {
            let conv = seva_store::conversations::get(c, conversation).await?;
            let unread = chat::unread_answers(c, conversation).await?;
            let via = match conv.inbox_id {
                Some(i) => {
                    let chat_inbox = inboxes::get(c, i).await?;
                    match crate::chat::settings_of(&chat_inbox).email_inbox {
                        Some(name) => Some((name.clone(), inboxes::by_name(c, &name).await?)),
                        None => None,
                    }
                }
                None => None,
            };
            Ok((unread, via))
        }))
        .await
        .map_err(|e| e.to_string())?;
    // Read in the chat meanwhile, or sent with an earlier answer's mail.
    if !unread.contains(&message) {
        return Ok(());
    }
    let Some(&last) = unread.last() else {
        return Ok(());
    };
    let Some((name, sender)) = via else {
        return Ok(());
    };
    let sender: Inbox = sender
        .filter(|i| i.channel == Channel::Email)
        .ok_or_else(|| {
            format!("the chat inbox answers by email from {name:?}, which is not an email inbox")
        })?;
    let from = sender.address.clone();
    let (out, earlier) = state
        .store
        .write(op!(c => {
            email::set_message_id(c, from.as_deref(), last).await?;
            let out = email::outgoing(c, last).await?;
            let mut earlier = Vec::new();
            for u in &unread[..unread.len() - 1] {
                earlier.push(messages::get(c, *u).await?);
            }
            Ok((out, earlier))
        }))
        .await
        .map_err(|e| e.to_string())?;
    if out.to.is_none() {
        tracing::info!(%conversation, "a chat answer stays unread in the chat: the visitor gave no email address");
        return Ok(());
    }
    super::send::send(state, &out, &sender, &earlier).await?;
    let sent: Vec<MessageId> = earlier
        .iter()
        .map(|m| m.id)
        .chain(std::iter::once(last))
        .collect();
    state
        .store
        .write(op!(c => {
            for m in sent {
                messages::set_delivery(c, m, Delivery::Sent, None).await?;
            }
            Ok(())
        }))
        .await
        .map_err(|e| e.to_string())
}
