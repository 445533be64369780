//! The email channel: an inbox's settings, the one path every arriving email takes
//! ([`receive`]; the SMTP listener, IMAP polling and `seva mail deliver` all call it), and
//! the sending of our replies ([`send`]).

pub mod chat;
pub mod imap;
pub mod notify;
pub mod send;
pub mod smtp;
pub mod web_form;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use seva_core::contact::IdentityKind;
use seva_core::conversation::{Channel, Priority};
use seva_mail::{Parsed, quote, sanitize, thread};
use seva_store::conversations::{self, Arrival, EmailArrival};
use seva_store::inboxes::Inbox;
use seva_store::messages::EmailParts;
use seva_store::{email, op};

use crate::Shared;

/// How a connection to a mail server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain, for a relay on the same machine or a test server.
    None,
    /// Plain, then upgraded with STARTTLS (refused if the server does not offer it).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS on 465, IMAPS on 993).
    Tls,
}

/// The SMTP relay our mail leaves through.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub security: Security,
    /// Login name; the password is a secret (`relay_password`).
    pub username: Option<String>,
}

/// A mailbox Seva polls for new mail.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImapAccount {
    pub host: String,
    pub port: u16,
    #[serde(default = "tls")]
    pub security: Security,
    pub username: String,
    #[serde(default = "inbox_folder")]
    pub folder: String,
    /// Seconds between polls when the server has no IDLE (default 60).
    pub poll_seconds: Option<u64>,
    /// Extra certificates to trust (PEM), for a server with a private CA; the public
    /// web roots are always trusted.
    pub ca_pem: Option<String>,
}

fn tls() -> Security {
    Security::Tls
}

fn inbox_folder() -> String {
    "INBOX".into()
}

/// DKIM signing of our mail; the private key is a secret (`dkim_private_key`, PKCS#1 PEM).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Dkim {
    pub selector: String,
    pub domain: String,
}

/// An email inbox's settings (the `settings` of an inbox whose channel is `email`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// The name on our mail, e.g. "Acme Support".
    pub from_name: Option<String>,
    pub relay: Option<Relay>,
    pub imap: Option<ImapAccount>,
    /// Answer a new conversation at once with an acknowledgement.
    pub auto_acknowledge: bool,
    /// The acknowledgement's text by language (`en`, `el`, `te`, `tl`…). `{reference}` is
    /// replaced by the conversation's number. Seva's own words are used for a language
    /// without one.
    pub acknowledgement: BTreeMap<String, String>,
    /// Days after solving in which a customer's reply reopens the conversation; later
    /// replies start a new one (default 14).
    pub reopen_days: Option<u32>,
    pub dkim: Option<Dkim>,
    /// This inbox also mails agents the notifications they leave unread (one inbox is
    /// enough: the first by name that says so is used).
    pub notify_agents: bool,
}

impl EmailSettings {
    pub fn of(inbox: &Inbox) -> Self {
        serde_json::from_value(inbox.settings.clone()).unwrap_or_default()
    }
}

/// Passwords and keys of an inbox, stored sealed. On update, a field left out keeps its
/// value and an empty one clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct InboxSecrets {
    pub relay_password: Option<String>,
    pub imap_password: Option<String>,
    pub dkim_private_key: Option<String>,
}

impl InboxSecrets {
    pub fn of(state: &Shared, inbox: &Inbox) -> Self {
        inbox
            .secrets
            .as_deref()
            .and_then(|s| state.key.open(s).ok())
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    }

    /// `self` with `changes` applied.
    pub fn merged(mut self, changes: InboxSecrets) -> Self {
        fn take(slot: &mut Option<String>, new: Option<String>) {
            match new {
                Some(v) if v.is_empty() => *slot = None,
                Some(v) => *slot = Some(v),
                None => {}
            }
        }
        take(&mut self.relay_password, changes.relay_password);
        take(&mut self.imap_password, changes.imap_password);
        take(&mut self.dkim_private_key, changes.dkim_private_key);
        self
    }

    /// `changes` applied to the inbox's current secrets (none for a new inbox), sealed
    /// for storing.
    pub fn sealed_update(state: &Shared, current: Option<&Inbox>, changes: InboxSecrets) -> String {
        let now = current.map(|i| Self::of(state, i)).unwrap_or_default();
        state
            .key
            .seal(&serde_json::to_string(&now.merged(changes)).unwrap_or_default())
    }

    /// The names of the secrets that are set, for display.
    pub fn names(&self) -> Vec<&'static str> {
        [
            ("relay_password", &self.relay_password),
            ("imap_password", &self.imap_password),
            ("dkim_private_key", &self.dkim_private_key),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(n, _)| n)
        .collect()
    }
}

/// What became of an arriving email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stored {
        reference: i64,
        duplicate: bool,
        created: bool,
    },
    /// A bounce about one of our messages, recorded on it.
    Bounce,
    /// Our own mail come back: dropped to break the loop.
    OwnMail,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The message itself is wrong; trying again will not help.
    #[error("{0}")]
    Rejected(String),
    /// Seva could not store it now; the sender should try again later.
    #[error("{0}")]
    Temporary(String),
}

/// The acknowledgements one contact may get per hour: a customer who writes ten times in
/// a minute (or a loop Seva failed to recognise) gets three.
const ACKS_PER_HOUR: i64 = 3;

/// Receives one email for `inbox`: parses it, stores its original and files, threads it,
/// records it, and queues an acknowledgement when that is wanted; all of which is durable
/// when this returns `Ok`. `recipients` are the envelope's (SMTP) or the delivery's.
pub async fn receive(
    state: &Shared,
    inbox: &Inbox,
    recipients: &[String],
    raw: Vec<u8>,
) -> Result<Outcome, ReceiveError> {
    let started = std::time::Instant::now();
    let (parsed, raw) = if raw.len() > 256 * 1024 {
        tokio::task::spawn_blocking(move || (seva_mail::parse(&raw), raw))
            .await
            .map_err(|e| ReceiveError::Temporary(e.to_string()))?
    } else {
        (seva_mail::parse(&raw), raw)
    };
    let parsed = parsed.map_err(|e| ReceiveError::Rejected(e.to_string()))?;
    let ours: Vec<String> = state
        .store
        .read(op!(c => seva_store::inboxes::list(c).await))
        .await
        .map_err(|e| ReceiveError::Temporary(e.to_string()))?
        .into_iter()
        .filter_map(|i| i.address)
        .collect();
    let is_ours = |a: &str| ours.iter().any(|o| *o == thread::read_address(a).base);
    if is_ours(&parsed.from.email) {
        tracing::info!(from = %parsed.from.email, "dropped our own mail come back");
        return Ok(Outcome::OwnMail);
    }
    if let Some(b) = &parsed.bounce
        && let Some(original) = b.original_message_id.clone()
        && b.is_permanent_failure()
    {
        let summary = b.summary();
        let found = state
            .store
            .write(op!(c => email::mark_bounced(c, &original, &summary).await))
            .await
            .map_err(|e| ReceiveError::Temporary(e.to_string()))?;
        if found {
            return Ok(Outcome::Bounce);
        }
    }

    // Threading keys, strongest first.
    let mut thread_ids = parsed.in_reply_to.clone();
    thread_ids.extend(parsed.references.iter().rev().cloned());
    // An answer to Seva's own mail to an agent is that agent's note, or nothing.
    let agent_mail = thread_ids
        .iter()
        .find_map(|id| thread::read_agent_mail_id(id));
    let note_by = match agent_mail {
        Some(mail) => Some(agent_answering(state, &parsed.from.email, mail).await?),
        None => None,
    };

    let files_dir = state.config.attachments_dir();
    // A small original goes into the database with its message (one commit); a large one
    // is a file, on disk before the commit that points at it.
    let source_sha256 = crate::auth::sha256_hex(&raw);
    let inline = raw.len() <= seva_store::messages::INLINE_SOURCE_BYTES;
    if !inline {
        crate::files::store(&files_dir, "original.eml", "message/rfc822", &raw)
            .map_err(|e| ReceiveError::Temporary(format!("cannot store the message: {e}")))?;
    }
    let mut files = Vec::with_capacity(parsed.attachments.len());
    for part in &parsed.attachments {
        files.push(
            crate::files::store(&files_dir, &part.filename, &part.content_type, &part.bytes)
                .map_err(|e| ReceiveError::Temporary(format!("cannot store a file: {e}")))?,
        );
    }
    let view = View::of(&parsed);
    let provider_id = parsed
        .message_id
        .clone()
        .unwrap_or_else(|| format!("sha256.{source_sha256}@seva.invalid"));
    if let Some((viewer, c)) = note_by {
        let duplicate = state
            .store
            .write(op!(db => email::agent_note(db, &viewer, c.id, &view.text, &files, &provider_id).await))
            .await
            .map_err(|e| match e {
                // Taken away from the agent, or empty, meanwhile: trying again will not help.
                seva_store::Error::Invalid { .. }
                | seva_store::Error::NotFound
                | seva_store::Error::Conflict(_) => ReceiveError::Rejected(e.to_string()),
                other => ReceiveError::Temporary(other.to_string()),
            })?;
        tracing::info!(
            reference = c.reference,
            duplicate,
            "an agent's note arrived by email"
        );
        return Ok(Outcome::Stored {
            reference: c.reference,
            duplicate,
            created: false,
        });
    }
    let reply_keys: Vec<(i64, String)> = recipients
        .iter()
        .chain(parsed.to.iter().map(|m| &m.email))
        .chain(parsed.cc.iter().map(|m| &m.email))
        .filter_map(|a| thread::read_address(a).reference)
        .collect();
    let tag = thread::find_subject_tag(&parsed.subject);
    let participants: Vec<(String, Option<String>)> = std::iter::once(&parsed.from)
        .chain(parsed.to.iter())
        .chain(parsed.cc.iter())
        .filter(|m| !is_ours(&m.email))
        .map(|m| (m.email.clone(), m.name.clone()))
        .collect();
    let settings = EmailSettings::of(inbox);
    let reopen_within = i64::from(settings.reopen_days.unwrap_or(14)) * 86_400 * 1_000_000;
    let token_key = state.key.derive("reply-address");
    let headers = serde_json::json!({
        "from": {"email": parsed.from.email, "name": parsed.from.name},
        "to": parsed.to.iter().map(|m| &m.email).collect::<Vec<_>>(),
        "cc": parsed.cc.iter().map(|m| &m.email).collect::<Vec<_>>(),
        "subject": parsed.subject,
        "automatic": parsed.automatic.map(|a| a.as_str()),
    });
    let acknowledge = settings.auto_acknowledge && parsed.automatic.is_none();
    // The customer's language, for automatic texts: what their client declared, else
    // what their words are written in.
    let language = parsed
        .language
        .clone()
        .or_else(|| seva_core::text::guess_language(&view.text).map(str::to_string));
    let (inbox_id, team_id) = (inbox.id, inbox.team_id);
    let from = parsed.from.clone();
    // Articles that may answer it, for the acknowledgement (only a new conversation gets one).
    let suggested = if acknowledge {
        let question = format!("{} {}", view.subject, view.text);
        crate::knowledge::suggestion_text(state, &question, language.as_deref())
    } else {
        String::new()
    };

    let result = state
        .store
        .write(op!(c => {
            let mut continues = email::conversation_of(c, &thread_ids).await?;
            for (reference, token) in &reply_keys {
                if continues.is_some() {
                    break;
                }
                if let Some(conv) = email::by_reference(c, *reference).await?
                    && thread::reply_token(&token_key, &conv.id.to_string()) == *token
                {
                    continues = Some(conv.id);
                }
            }
            if continues.is_none()
                && let Some(reference) = tag
                && let Some(conv) = email::by_reference(c, reference).await?
                && email::is_member(c, &conv, &from.email).await?
            {
                continues = Some(conv.id);
            }
            let received = conversations::ingest(c, Arrival {
                channel: Channel::Email,
                identity: (IdentityKind::Email, &from.email),
                name: from.name.as_deref(),
                subject: &view.subject,
                text: &view.text,
                files: &files,
                provider_id: Some(&provider_id),
                continues,
                inbox_id: Some(inbox_id),
                team_id,
                customer_key_hash: None,
                priority: Priority::Normal,
                recorded_by: None,
                owner: None,
                email: EmailArrival {
                    parts: EmailParts {
                        html: Some(&view.html),
                        folded: &view.folded,
                        source_sha256: Some(&source_sha256),
                        source_bytes: inline.then_some(&raw[..]),
                        headers: Some(&headers),
                    },
                    participants: &participants,
                    reopen_within: Some(reopen_within),
                },
                bot: false,
            }).await?;
            if acknowledge && received.created && !received.blocked {
                let conv = conversations::get(c, received.conversation_id).await?;
                let hour_ago = seva_store::now().micros() - 3_600_000_000;
                if email::automatic_sent_since(c, conv.contact_id, hour_ago).await? < ACKS_PER_HOUR {
                    let text = acknowledgement(&settings, language.as_deref(), conv.reference) + &suggested;
                    email::queue_automatic(c, &conv, &text).await?;
                }
            }
            Ok(received)
        }))
        .await;
    let received = result.map_err(|e| match e {
        seva_store::Error::Invalid { .. } => ReceiveError::Rejected(e.to_string()),
        other => ReceiveError::Temporary(other.to_string()),
    })?;
    tracing::debug!(
        reference = received.reference,
        duplicate = received.duplicate,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "email received"
    );
    Ok(Outcome::Stored {
        reference: received.reference,
        duplicate: received.duplicate,
        created: received.created,
    })
}

/// Who answers Seva's mail to an agent, and in which conversation: the mail must have
/// been about one conversation, and come from the active agent it was sent to, who may
/// still see that conversation. Anything else is refused, so that nobody else's words
/// are filed under an agent's name, and nothing lands in a conversation of its own.
async fn agent_answering(
    state: &Shared,
    from: &str,
    mail: thread::AgentMail,
) -> Result<(conversations::Viewer, conversations::Conversation), ReceiveError> {
    let Some((reference, token)) = mail.about else {
        return Err(ReceiveError::Rejected(
            "this answers Seva's mail to an agent about no single conversation; nothing was added: write in the desk".into(),
        ));
    };
    let address = from.to_string();
    let found = state
        .store
        .read(op!(c => {
            let agent = seva_store::agents::by_email(c, &address).await?;
            let conversation = email::by_reference(c, reference).await?;
            Ok((agent, conversation))
        }))
        .await
        .map_err(|e| ReceiveError::Temporary(e.to_string()))?;
    let secret = state.key.derive(notify::AGENT_REPLY);
    match found {
        (Some(agent), Some(c))
            if !agent.disabled
                && thread::agent_reply_token(&secret, &agent.id.to_string(), &c.id.to_string())
                    == token =>
        {
            let viewer = agent.viewer();
            if !viewer.may_see(&c) {
                return Err(ReceiveError::Rejected(format!(
                    "{from} may no longer see #{reference}; nothing was added"
                )));
            }
            Ok((viewer, c))
        }
        _ => Err(ReceiveError::Rejected(
            "this answers Seva's mail to an agent, but not from that agent; nothing was added"
                .into(),
        )),
    }
}

/// How an email is shown: the new words as text and safe HTML, the rest folded.
struct View {
    subject: String,
    text: String,
    html: String,
    folded: String,
}

impl View {
    fn of(p: &Parsed) -> Self {
        let split = quote::strip(&p.text);
        let html = match &p.html {
            Some(h) => match sanitize::clean_without_quote(h) {
                Some(visible) => visible,
                None if split.folded.is_empty() => sanitize::clean(h),
                None => seva_core::text::text_to_html(&split.visible),
            },
            None => seva_core::text::text_to_html(&split.visible),
        };
        Self {
            subject: p.subject.clone(),
            text: split.visible,
            html,
            folded: split.folded,
        }
    }
}

/// The acknowledgement in the customer's language: the inbox's own text, else Seva's.
fn acknowledgement(settings: &EmailSettings, language: Option<&str>, reference: i64) -> String {
    let lang = language.unwrap_or("en");
    let custom = settings
        .acknowledgement
        .get(lang)
        .or_else(|| settings.acknowledgement.get("en"));
    match custom {
        Some(text) => text.replace("{reference}", &reference.to_string()),
        None => crate::i18n::Tr::new(lang).a("email-acknowledgement", "reference", reference),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_speak_the_customers_language() {
        let mut s = EmailSettings::default();
        assert!(acknowledgement(&s, Some("el"), 7).contains("#7"));
        assert_ne!(
            acknowledgement(&s, Some("el"), 7),
            acknowledgement(&s, Some("en"), 7)
        );
        s.acknowledgement
            .insert("en".into(), "Got it: #{reference}".into());
        assert_eq!(acknowledgement(&s, Some("tl"), 9), "Got it: #9");
    }

    #[test]
    fn secrets_merge_and_clear() {
        let a = InboxSecrets {
            relay_password: Some("a".into()),
            imap_password: Some("b".into()),
            dkim_private_key: None,
        };
        let m = a.merged(InboxSecrets {
            relay_password: Some(String::new()),
            imap_password: None,
            dkim_private_key: Some("k".into()),
        });
        assert_eq!(m.relay_password, None);
        assert_eq!(m.imap_password.as_deref(), Some("b"));
        assert_eq!(m.names(), vec!["imap_password", "dkim_private_key"]);
    }
}
