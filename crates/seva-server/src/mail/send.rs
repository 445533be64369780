//! Sends our messages (agents' replies, acknowledgements) through the inbox's SMTP relay.
//! Runs as a job: a failure is retried with backoff by the queue, and one that runs out of
//! attempts shows on the message in the conversation.

use std::time::Duration;

use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use seva_core::MessageId;
use seva_core::conversation::{Delivery, MessageKind};
use seva_mail::compose::{Automatic, File, Outgoing, compose};
use seva_mail::{Mailbox, thread};
use seva_store::email;
use seva_store::inboxes::Inbox;
use seva_store::messages::{self, Message};
use seva_store::op;

use super::{EmailSettings, InboxSecrets, Relay, Security};
use crate::Shared;

/// Sends one message as email and records it as sent.
pub async fn deliver(state: &Shared, message: MessageId) -> Result<(), String> {
    let out = state
        .store
        .read(op!(c => email::outgoing(c, message).await))
        .await
        .map_err(|e| format!("cannot load the message: {e}"))?;
    if out.message.delivery == Delivery::Sent || out.message.delivery == Delivery::Delivered {
        return Ok(());
    }
    let inbox = out
        .inbox
        .clone()
        .ok_or("the conversation has no inbox to send from")?;
    send(state, &out, &inbox, &[]).await?;
    state
        .store
        .write(op!(c => messages::set_delivery(c, message, Delivery::Sent, None).await))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Sends `out`'s message from the email inbox `inbox`, after the `earlier` messages of the
/// same conversation that go in the same mail (a chat's unread answers), with their files.
pub(crate) async fn send(
    state: &Shared,
    out: &email::Outgoing,
    inbox: &Inbox,
    earlier: &[Message],
) -> Result<(), String> {
    let address = inbox
        .address
        .clone()
        .ok_or_else(|| format!("the inbox {} has no email address", inbox.name))?;
    let settings = EmailSettings::of(inbox);
    let (to, to_name) = out.to.clone().ok_or("the customer has no email address")?;
    let c = &out.conversation;
    let m = &out.message;
    let token = thread::reply_token(&state.key.derive("reply-address"), &c.id.to_string());
    let mut text = String::new();
    let mut html = String::new();
    for e in earlier.iter().chain(std::iter::once(m)) {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&e.text);
        html.push_str(&e.html);
    }
    if !out.signature.trim().is_empty() {
        text.push_str("\n\n-- \n");
        text.push_str(out.signature.trim());
        html.push_str("<p>-- <br>");
        html.push_str(&seva_core::text::text_to_html(out.signature.trim()));
        html.push_str("</p>");
    }
    let mut files = Vec::new();
    for a in earlier
        .iter()
        .chain(std::iter::once(m))
        .flat_map(|e| &e.attachments)
    {
        let path = crate::files::path_for(&state.config.attachments_dir(), &a.sha256);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| format!("cannot read the attachment {}: {e}", a.filename))?;
        files.push(File {
            filename: a.filename.clone(),
            content_type: a.content_type.clone(),
            bytes,
        });
    }
    let mail = Outgoing {
        from: Mailbox {
            email: address.clone(),
            name: Some(
                settings
                    .from_name
                    .clone()
                    .unwrap_or_else(|| inbox.name.clone()),
            ),
        },
        reply_to: Some(thread::reply_address(&address, c.reference, &token)),
        to: vec![Mailbox {
            email: to.clone(),
            name: Some(to_name),
        }],
        cc: out
            .cc
            .iter()
            .filter(|(e, _)| *e != to)
            .map(|(email, name)| Mailbox {
                email: email.clone(),
                name: name.clone(),
            })
            .collect(),
        subject: thread::reply_subject(&c.subject, c.reference),
        message_id: m
            .external_id
            .clone()
            .ok_or("the message has no Message-ID")?,
        in_reply_to: out.in_reply_to.clone(),
        references: out.references.clone(),
        text,
        html: format!("<!doctype html><html><body>{html}</body></html>"),
        files,
        automatic: (m.kind == MessageKind::System).then_some(Automatic::Reply),
        language: out.language.clone(),
    };
    transmit(state, inbox, &mail).await
}

/// Composes `mail`, signs it with the inbox's DKIM key if it has one, and hands it to
/// the inbox's SMTP relay.
pub(crate) async fn transmit(state: &Shared, inbox: &Inbox, mail: &Outgoing) -> Result<(), String> {
    let settings = EmailSettings::of(inbox);
    let secrets = InboxSecrets::of(state, inbox);
    let relay = settings
        .relay
        .clone()
        .ok_or_else(|| format!("the inbox {} has no SMTP relay configured", inbox.name))?;
    let mut built = compose(mail).map_err(|e| e.to_string())?;
    if let (Some(d), Some(pem)) = (&settings.dkim, &secrets.dkim_private_key) {
        let key = DkimSigningKey::new(pem, DkimSigningAlgorithm::Rsa)
            .map_err(|e| format!("the DKIM key cannot be read: {e}"))?;
        let headers = [
            "From",
            "To",
            "Cc",
            "Subject",
            "Date",
            "Message-ID",
            "In-Reply-To",
            "References",
        ]
        .into_iter()
        .map(HeaderName::new_from_ascii_str)
        .collect();
        let config = DkimConfig::new(
            d.selector.clone(),
            d.domain.clone(),
            key,
            headers,
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        built.sign(&config);
    }
    transport(&relay, secrets.relay_password.as_deref())?
        .send(built)
        .await
        .map_err(|e| format!("the relay {}:{} refused: {e}", relay.host, relay.port))?;
    Ok(())
}

fn transport(
    relay: &Relay,
    password: Option<&str>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = match relay.security {
        Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&relay.host),
        Security::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&relay.host)
            .map_err(|e| e.to_string())?,
        Security::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&relay.host).map_err(|e| e.to_string())?
        }
    };
    let mut builder = builder
        .port(relay.port)
        .timeout(Some(Duration::from_secs(30)));
    if let Some(user) = &relay.username {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.unwrap_or_default().to_string(),
        ));
    }
    Ok(builder.build())
}
