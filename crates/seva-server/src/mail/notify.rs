//! Agents' notifications by email. A notification an agent leaves unread in the desk for
//! `notify_email_after_seconds` (opening its conversation reads it) is mailed to them,
//! with any others of theirs waiting, from the email inbox whose settings say
//! `notify_agents`. An agent turns this off on their settings page. The sweep runs with
//! the other timers and queues one job per agent in the same transaction that marks the
//! notifications handled, so none is mailed twice or lost; a mail the relay refuses is
//! retried by the queue, and one that runs out of attempts stays dead with the others.

use std::time::Duration;

use seva_core::conversation::Channel;
use seva_core::time::Timestamp;
use seva_core::{AgentId, NotificationId};
use seva_mail::Mailbox;
use seva_mail::compose::{Automatic, Outgoing};
use seva_store::inboxes::{self, Inbox};
use seva_store::{agents, conversations, jobs, notifications, op};

use super::EmailSettings;
use crate::Shared;
use crate::i18n::Tr;

/// Whether `inbox` mails agents their notifications: an email inbox whose settings say
/// so and that can send (an address and a relay).
pub fn sends(inbox: &Inbox) -> bool {
    let settings = EmailSettings::of(inbox);
    inbox.channel == Channel::Email
        && settings.notify_agents
        && settings.relay.is_some()
        && inbox.address.is_some()
}

/// The inbox that mails agents their notifications: the first by name that [`sends`].
pub async fn sender(state: &Shared) -> Result<Option<Inbox>, String> {
    let all = state
        .store
        .read(op!(c => inboxes::list(c).await))
        .await
        .map_err(|e| e.to_string())?;
    Ok(all.into_iter().find(sends))
}

/// Queues the mails of the notifications that have waited unread long enough. Nothing
/// is taken in hand while no inbox sends notifications: they wait (up to a day) for one.
pub async fn sweep(state: &Shared) {
    let after = Duration::from_secs(state.config.notify_email_after_seconds);
    let cutoff = Timestamp(seva_store::now().micros() - after.as_micros() as i64);
    match state
        .store
        .read(op!(c => notifications::anything_to_email(c, cutoff).await))
        .await
    {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "notification mails: could not read what is due");
            return;
        }
    }
    match sender(state).await {
        Ok(Some(_)) => {}
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "notification mails: could not read the inboxes");
            return;
        }
    }
    if let Err(e) = state
        .store
        .write(op!(c => notifications::queue_emails(c, cutoff, 500).await))
        .await
    {
        tracing::warn!(error = %e, "queuing notification mails failed");
    }
}

/// Mails one agent the notifications a job names that are still unread, in the agent's
/// language, each with a link to its conversation. One read meanwhile is left out; an
/// agent who turned mail off or was disabled meanwhile gets nothing.
pub async fn email(state: &Shared, job: &jobs::Job) -> Result<(), String> {
    let agent: AgentId = job
        .payload
        .get("agent_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or("the job names no agent")?;
    let ids: Vec<NotificationId> = job
        .payload
        .get("notification_ids")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    let (who, wants, unread) = state
        .store
        .read(op!(c => Ok((
            agents::get(c, agent).await?,
            agents::email_notifications(c, agent).await?,
            notifications::unread_of(c, agent, &ids).await?,
        ))))
        .await
        .map_err(|e| e.to_string())?;
    if who.disabled || !wants || unread.is_empty() {
        return Ok(());
    }
    let inbox = sender(state)
        .await?
        .ok_or("no email inbox sends agents' notifications (notify_agents)")?;
    // A mail about one conversation can be answered: the reply becomes the agent's note.
    let about = match unread.first().and_then(|n| n.conversation_id) {
        Some(id) if unread.iter().all(|n| n.conversation_id == Some(id)) => {
            let c = state
                .store
                .read(op!(c => conversations::get(c, id).await))
                .await
                .map_err(|e| e.to_string())?;
            let token = seva_mail::thread::agent_reply_token(
                &state.key.derive(AGENT_REPLY),
                &agent.to_string(),
                &id.to_string(),
            );
            Some((c.reference, token))
        }
        _ => None,
    };
    let t = Tr::new(&who.language);
    let base = state.config.public_url.trim_end_matches('/');
    let mut text = String::new();
    let mut html = String::from("<ul>");
    for n in &unread {
        let kind = t.word("notice", &n.kind);
        let link = n
            .conversation_id
            .map(|id| format!("{base}/conversations/{id}"));
        text.push_str(&format!("{kind}: {}\n", n.text));
        html.push_str(&format!(
            "<li><strong>{}</strong>: ",
            seva_core::text::escape_html(&kind)
        ));
        match &link {
            Some(l) => {
                text.push_str(&format!("  {l}\n"));
                html.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    seva_core::text::escape_html(l),
                    seva_core::text::escape_html(&n.text)
                ));
            }
            None => html.push_str(&seva_core::text::escape_html(&n.text)),
        }
        text.push('\n');
        html.push_str("</li>");
    }
    html.push_str("</ul>");
    if let Some((reference, _)) = &about {
        let answer = t.a("notify-mail-answer", "reference", *reference);
        text.push_str(&format!("{answer}\n\n"));
        html.push_str(&format!("<p>{}</p>", seva_core::text::escape_html(&answer)));
    }
    let footer = t.a("notify-mail-footer", "url", format!("{base}/settings"));
    text.push_str(&format!("-- \n{footer}\n"));
    html.push_str(&format!(
        "<p>-- <br>{}</p>",
        seva_core::text::escape_html(&footer)
    ));
    let subject = match unread.as_slice() {
        [one] => format!("{}: {}", t.word("notice", &one.kind), one.text),
        many => t.a("notify-mail-subject", "count", many.len()),
    };
    mail_agent(
        state,
        &inbox,
        &who,
        Letter {
            subject,
            text,
            html,
        },
        &job.id.to_string(),
        about.as_ref().map(|(r, t)| (*r, t.as_str())),
    )
    .await
}

/// A mail's words: its subject, and its body as text and as HTML (the inside of `<body>`).
pub struct Letter {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What the tokens of [`seva_mail::thread::agent_reply_token`] are made from.
pub const AGENT_REPLY: &str = "agent-reply";

/// Mails an agent a text of Seva's own (a notification, a password-reset link) from the
/// inbox that [`sends`] such mail, in the agent's language; `key` makes its Message-ID
/// unique, and `about` (a conversation's reference and the agent's reply token for it)
/// lets the agent answer it with a note.
pub async fn mail_agent(
    state: &Shared,
    inbox: &Inbox,
    who: &agents::Agent,
    letter: Letter,
    key: &str,
    about: Option<(i64, &str)>,
) -> Result<(), String> {
    let address = inbox.address.clone().unwrap_or_default();
    let mail = Outgoing {
        from: Mailbox {
            email: address.clone(),
            name: Some(
                EmailSettings::of(inbox)
                    .from_name
                    .unwrap_or_else(|| inbox.name.clone()),
            ),
        },
        reply_to: None,
        to: vec![Mailbox {
            email: who.email.clone(),
            name: Some(who.name.clone()),
        }],
        cc: Vec::new(),
        subject: seva_core::text::preview(&letter.subject, 200),
        message_id: seva_mail::thread::agent_mail_id(key, about, &address),
        in_reply_to: None,
        references: Vec::new(),
        text: letter.text,
        html: format!("<!doctype html><html><body>{}</body></html>", letter.html),
        files: Vec::new(),
        automatic: Some(Automatic::Generated),
        language: Some(Tr::new(&who.language).lang.to_string()),
    };
    super::send::transmit(state, inbox, &mail).await
}
