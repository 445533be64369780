//! Our own mail: an agent's reply or an automatic acknowledgement, written so that every
//! mail client threads it (Message-ID, In-Reply-To, References, a reply address that
//! leads back to the conversation) and no auto-responder answers an automatic one.

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox as LettreMailbox, MultiPart, SinglePart};

use crate::parse::Mailbox;

/// A file to attach.
pub struct File {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

pub struct Outgoing {
    pub from: Mailbox,
    /// Where replies should go: the conversation's own reply address.
    pub reply_to: Option<String>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: String,
    /// Without angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub text: String,
    pub html: String,
    pub files: Vec<File>,
    /// An automatic message, marked so that auto-responders stay quiet; `None` for one
    /// a person wrote.
    pub automatic: Option<Automatic>,
    /// The language of the text, e.g. `el`.
    pub language: Option<String>,
}

/// What kind of automatic message a mail is (RFC 3834's `Auto-Submitted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Automatic {
    /// An answer to a message, such as an acknowledgement.
    Reply,
    /// Sent on its own account, such as a notification to an agent.
    Generated,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{field} is not a valid address: {value}")]
    Address { field: &'static str, value: String },
    #[error("the message has no recipient")]
    NoRecipient,
    #[error("cannot build the message: {0}")]
    Build(String),
}

fn mailbox(field: &'static str, m: &Mailbox) -> Result<LettreMailbox, ComposeError> {
    let address = m.email.parse().map_err(|_| ComposeError::Address {
        field,
        value: m.email.clone(),
    })?;
    Ok(LettreMailbox::new(m.name.clone(), address))
}

fn raw(name: &'static str, value: impl Into<String>) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.into())
}

fn bracket(id: &str) -> String {
    format!("<{id}>")
}

/// Builds the message; the envelope goes to every To and Cc recipient.
pub fn compose(o: &Outgoing) -> Result<Message, ComposeError> {
    if o.to.is_empty() {
        return Err(ComposeError::NoRecipient);
    }
    let mut b = Message::builder()
        .from(mailbox("from", &o.from)?)
        .subject(o.subject.clone())
        .message_id(Some(bracket(&o.message_id)))
        .date_now()
        .user_agent("Seva".into());
    for m in &o.to {
        b = b.to(mailbox("to", m)?);
    }
    for m in &o.cc {
        b = b.cc(mailbox("cc", m)?);
    }
    if let Some(r) = &o.reply_to {
        b = b.reply_to(mailbox(
            "reply_to",
            &Mailbox {
                email: r.clone(),
                name: o.from.name.clone(),
            },
        )?);
    }
    if let Some(id) = &o.in_reply_to {
        b = b.in_reply_to(bracket(id));
    }
    if !o.references.is_empty() {
        // Long threads: the first id and the newest ones are what clients use.
        let refs = &o.references;
        let keep: Vec<&String> = if refs.len() > 20 {
            refs.iter()
                .take(1)
                .chain(refs[refs.len() - 19..].iter())
                .collect()
        } else {
            refs.iter().collect()
        };
        let joined = keep
            .iter()
            .map(|r| bracket(r))
            .collect::<Vec<_>>()
            .join(" ");
        b = b.references(joined);
    }
    if let Some(kind) = o.automatic {
        let (submitted, precedence) = match kind {
            Automatic::Reply => ("auto-replied", "auto_reply"),
            Automatic::Generated => ("auto-generated", "bulk"),
        };
        b = b
            .raw_header(raw("Auto-Submitted", submitted))
            .raw_header(raw("X-Auto-Response-Suppress", "All"))
            .raw_header(raw("Precedence", precedence));
    }
    if let Some(lang) = &o.language {
        b = b.raw_header(raw("Content-Language", lang.clone()));
    }
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(o.text.clone()))
        .singlepart(SinglePart::html(o.html.clone()));
    let result = if o.files.is_empty() {
        b.multipart(body)
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for f in &o.files {
            let ct = ContentType::parse(&f.content_type)
                .unwrap_or(ContentType::parse("application/octet-stream").expect("a valid type"));
            mixed = mixed.singlepart(Attachment::new(f.filename.clone()).body(f.bytes.clone(), ct));
        }
        b.multipart(mixed)
    };
    result.map_err(|e| ComposeError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_threads_and_reads_back() {
        let o = Outgoing {
            from: Mailbox {
                email: "support@seva.test".into(),
                name: Some("Seva Υποστήριξη".into()),
            },
            reply_to: Some("support+7-abc@seva.test".into()),
            to: vec![Mailbox {
                email: "ravi@example.com".into(),
                name: Some("రవి".into()),
            }],
            cc: vec![Mailbox {
                email: "boss@example.com".into(),
                name: None,
            }],
            subject: "Re: సహాయం [#7]".into(),
            message_id: "seva.1@seva.test".into(),
            in_reply_to: Some("first@example.com".into()),
            references: vec!["first@example.com".into()],
            text: "నమస్తే".into(),
            html: "<p>నమస్తే</p>".into(),
            files: vec![File {
                filename: "απόδειξη.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: b"%PDF-1.4\n".to_vec(),
            }],
            automatic: Some(Automatic::Reply),
            language: Some("te".into()),
        };
        let m = compose(&o).unwrap();
        assert_eq!(m.envelope().to().len(), 2);
        let bytes = m.formatted();
        let back = crate::parse(&bytes).unwrap();
        assert_eq!(back.subject, "Re: సహాయం [#7]");
        assert_eq!(back.message_id.as_deref(), Some("seva.1@seva.test"));
        assert_eq!(back.in_reply_to, vec!["first@example.com"]);
        assert_eq!(back.from.name.as_deref(), Some("Seva Υποστήριξη"));
        assert_eq!(back.reply_to.unwrap().email, "support+7-abc@seva.test");
        assert_eq!(back.text.trim(), "నమస్తే");
        assert_eq!(back.attachments[0].filename, "απόδειξη.pdf");
        assert_eq!(back.automatic.map(|a| a.as_str()), Some("auto-reply"));
    }
}
