//! Web-form answers by email. A customer who wrote through the web form gave their email
//! address and has left the page: an agent's answer is kept on their request page, and,
//! when the web form's inbox names an email inbox to answer from (`email_inbox`), also
//! sent to that address, from that inbox, with a reply address that brings the customer's
//! answer back into the same conversation.

use serde::{Deserialize, Serialize};
use seva_core::conversation::{Channel, Delivery};
use seva_core::{ConversationId, MessageId};
use seva_store::inboxes::{self, Inbox};
use seva_store::{email, messages, op};

use crate::Shared;

/// A web-form inbox's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebFormSettings {
    /// The email inbox that sends the answers to web-form requests; none keeps them on the
    /// customer's request page only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_inbox: Option<String>,
}

impl WebFormSettings {
    pub fn of(inbox: &Inbox) -> WebFormSettings {
        serde_json::from_value(inbox.settings.clone()).unwrap_or_default()
    }
}

/// Delivers an agent's answer to a web-form request: by email when the form's inbox
/// answers by email (then the message is sent), else on the request page alone (then it
/// is delivered).
pub async fn answer(
    state: &Shared,
    message: MessageId,
    conversation: ConversationId,
) -> Result<(), String> {
    let sender = state
        .store
        .read(op!(c => {
            let conv = seva_store::conversations::get(c, conversation).await?;
            let Some(form) = conv.inbox_id else { return Ok(None) };
            let form = inboxes::get(c, form).await?;
            match WebFormSettings::of(&form).email_inbox {
                Some(name) => Ok(Some((name.clone(), inboxes::by_name(c, &name).await?))),
                None => Ok(None),
            }
        }))
        .await
        .map_err(|e| e.to_string())?;
    let Some((name, sender)) = sender else {
        return set(state, message, Delivery::Delivered).await;
    };
    let sender: Inbox = sender
        .filter(|i| i.channel == Channel::Email)
        .ok_or_else(|| {
            format!("the web form answers by email from {name:?}, which is not an email inbox")
        })?;
    let from = sender.address.clone();
    let out = state
        .store
        .write(op!(c => {
            email::set_message_id(c, from.as_deref(), message).await?;
            email::outgoing(c, message).await
        }))
        .await
        .map_err(|e| e.to_string())?;
    if out.message.delivery == Delivery::Sent {
        return Ok(());
    }
    if out.to.is_none() {
        return set(state, message, Delivery::Delivered).await;
    }
    super::send::send(state, &out, &sender, &[]).await?;
    set(state, message, Delivery::Sent).await
}

async fn set(state: &Shared, message: MessageId, delivery: Delivery) -> Result<(), String> {
    state
        .store
        .write(op!(c => messages::set_delivery(c, message, delivery, None).await))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
