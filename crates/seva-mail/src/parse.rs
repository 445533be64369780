//! A raw message (RFC 5322 and MIME, of any shape and charset) read into what the desk
//! keeps: who wrote to whom, the ids that thread it, its text, its HTML, its files, and
//! whether a machine sent it.

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use crate::loops::{self, Automatic, Bounce};

/// One address with its display name, both decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Lower-cased, as identities are compared.
    pub email: String,
    pub name: Option<String>,
}

/// A file carried by the message: an attachment, an inline image, or a forwarded message.
#[derive(Debug, Clone)]
pub struct Part {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub content_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Parsed {
    /// The Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: String,
    /// The whole plain text (made from the HTML when the message has no text part).
    pub text: String,
    /// The HTML body as sent: not safe to show until sanitised.
    pub html: Option<String>,
    pub attachments: Vec<Part>,
    /// Set when a machine wrote this (auto-reply, list, bounce): nothing automatic answers it.
    pub automatic: Option<Automatic>,
    /// Set when this is a delivery status report about one of our messages.
    pub bounce: Option<Bounce>,
    /// From Content-Language, when the sender's client said.
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("the message is empty")]
    Empty,
    #[error("the message has no headers")]
    NoHeaders,
    #[error("the message names no sender (From)")]
    NoSender,
}

/// Reads a raw message. Anything with headers and a sender becomes a [`Parsed`]; broken
/// MIME is read as far as it goes rather than refused.
pub fn parse(raw: &[u8]) -> Result<Parsed, Unreadable> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Unreadable::Empty);
    }
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(Unreadable::NoHeaders)?;
    if msg.headers().is_empty() {
        return Err(Unreadable::NoHeaders);
    }
    let from = first_mailbox(msg.from())
        .or_else(|| first_mailbox(msg.sender()))
        .or_else(|| {
            msg.return_address()
                .and_then(|a| mailbox(a, None))
                .filter(|m| !m.email.is_empty())
        })
        .ok_or(Unreadable::NoSender)?;
    let text = (0..msg.text_body_count())
        .filter_map(|i| msg.body_text(i))
        .collect::<Vec<_>>()
        .join("\n");
    let html = (msg.html_body_count() > 0)
        .then(|| msg.html_part(0))
        .flatten()
        .filter(|p| p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(str::to_string);
    let automatic = loops::classify(&msg, &from);
    let bounce = loops::bounce(&msg);
    Ok(Parsed {
        message_id: msg.message_id().map(clean_id).filter(|s| !s.is_empty()),
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        reply_to: first_mailbox(msg.reply_to()),
        to: mailboxes(msg.to()),
        cc: mailboxes(msg.cc()),
        subject: msg.subject().unwrap_or("").trim().to_string(),
        text: text.replace("\r\n", "\n"),
        html,
        attachments: attachments(&msg),
        language: language(&msg),
        automatic: automatic.or(bounce.as_ref().map(|_| Automatic::Bounce)),
        bounce,
        from,
    })
}

fn mailbox(email: &str, name: Option<&str>) -> Option<Mailbox> {
    let email = email.trim().trim_matches(['<', '>']).to_lowercase();
    if !email.contains('@') {
        return None;
    }
    Some(Mailbox {
        email,
        name: name
            .map(|n| n.trim().trim_matches('"').trim().to_string())
            .filter(|n| !n.is_empty()),
    })
}

fn first_mailbox(a: Option<&Address>) -> Option<Mailbox> {
    a.and_then(|a| {
        a.iter()
            .find_map(|x| mailbox(x.address.as_deref()?, x.name.as_deref()))
    })
}

fn mailboxes(a: Option<&Address>) -> Vec<Mailbox> {
    let mut out: Vec<Mailbox> = Vec::new();
    for x in a.into_iter().flat_map(|a| a.iter()) {
        if let Some(m) = x
            .address
            .as_deref()
            .and_then(|e| mailbox(e, x.name.as_deref()))
            && !out.iter().any(|o| o.email == m.email)
        {
            out.push(m);
        }
    }
    out
}

/// A Message-ID as we compare them: no brackets, no spaces.
pub fn clean_id(id: &str) -> String {
    id.trim()
        .trim_matches(['<', '>'])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

fn ids(v: &HeaderValue) -> Vec<String> {
    let raw: Vec<String> = match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    };
    // Some clients put several ids, or junk around them, in one text.
    raw.iter()
        .flat_map(|t| t.split(|c: char| c.is_whitespace() || c == ','))
        .map(clean_id)
        .filter(|s| s.contains('@') && s.len() < 512)
        .collect()
}

fn language(msg: &Message) -> Option<String> {
    let v = msg.root_part().content_language();
    let first = match v {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.first()?.to_string(),
        _ => return None,
    };
    let tag = first.trim().to_lowercase();
    let primary = tag.split(['-', '_']).next()?.to_string();
    (primary.len() == 2 || primary.len() == 3).then_some(primary)
}

fn attachments(msg: &Message) -> Vec<Part> {
    let mut out = Vec::new();
    for part in msg.attachments() {
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".into())
            .to_lowercase();
        let filename = match (part.attachment_name(), &part.body) {
            (Some(name), _) => name.to_string(),
            (None, PartType::Message(inner)) => {
                format!("{}.eml", inner.subject().unwrap_or("message").trim())
            }
            (None, _) => format!("file.{}", extension_for(&content_type)),
        };
        out.push(Part {
            filename,
            content_type,
            bytes: part.contents().to_vec(),
            content_id: part.content_id().map(clean_id),
        });
    }
    out
}

fn extension_for(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/html" => "html",
        "message/rfc822" => "eml",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_message_is_read() {
        let raw = b"From: Ravi <Ravi@Example.com>\r\nTo: support@seva.test\r\nCc: a@x.org, \"B\" <b@x.org>\r\n\
Subject: Hello\r\nMessage-ID: <abc@x.org>\r\nIn-Reply-To: <one@seva.test>\r\nReferences: <zero@seva.test> <one@seva.test>\r\n\r\nHi there\r\n";
        let p = parse(raw).unwrap();
        assert_eq!(p.from.email, "ravi@example.com");
        assert_eq!(p.from.name.as_deref(), Some("Ravi"));
        assert_eq!(p.message_id.as_deref(), Some("abc@x.org"));
        assert_eq!(p.in_reply_to, vec!["one@seva.test"]);
        assert_eq!(p.references, vec!["zero@seva.test", "one@seva.test"]);
        assert_eq!(p.cc.len(), 2);
        assert_eq!(p.text.trim(), "Hi there");
        assert!(p.automatic.is_none());
    }

    #[test]
    fn encoded_words_and_legacy_charsets_become_unicode() {
        // Telugu subject in base64, Greek body in ISO-8859-7 quoted-printable.
        let raw = "From: =?UTF-8?B?4LCw4LC14LC/?= <ravi@example.com>\r\nSubject: =?UTF-8?B?4LC44LC54LC+4LCv4LCCIOCwleCwvuCwteCwvuCwsuCwvw==?=\r\n\
Content-Type: text/plain; charset=ISO-8859-7\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=C3=E5=E9=DC =F3=EF=F5\r\n";
        let p = parse(raw.as_bytes()).unwrap();
        assert_eq!(p.subject, "సహాయం కావాలి");
        assert_eq!(p.from.name.as_deref(), Some("రవి"));
        assert_eq!(p.text.trim(), "Γειά σου");
    }

    #[test]
    fn junk_is_refused_with_a_reason() {
        assert_eq!(parse(b"").unwrap_err(), Unreadable::Empty);
        assert_eq!(
            parse(b"Subject: x\r\n\r\nbody").unwrap_err(),
            Unreadable::NoSender
        );
    }

    #[test]
    fn attachments_keep_their_names_and_types() {
        let raw = b"From: a@x.org\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename*=UTF-8''%CE%B1%CF%80%CF%8C%CE%B4%CE%B5%CE%B9%CE%BE%CE%B7.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";
        let p = parse(raw).unwrap();
        assert_eq!(p.text.trim(), "see attached");
        assert_eq!(p.attachments.len(), 1);
        assert_eq!(p.attachments[0].filename, "απόδειξη.pdf");
        assert_eq!(p.attachments[0].content_type, "application/pdf");
        assert_eq!(p.attachments[0].bytes, b"%PDF-1.4\n");
    }
}
