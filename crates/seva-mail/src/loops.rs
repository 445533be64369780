//! Mail written by machines. An automatic acknowledgement sent to an auto-responder, a
//! mailing list or a bounce starts a loop that fills two inboxes by morning; so anything
//! that looks automatic is stored but never answered automatically. Bounces (delivery
//! status notifications, RFC 3464) are read for the message they refer to.

use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use crate::parse::{Mailbox, clean_id};

/// Why a message counts as automatic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Automatic {
    /// `Auto-Submitted` other than `no` (RFC 3834), or a vendor auto-reply header.
    AutoReply,
    /// `Precedence: bulk/list/junk`, or a mailing list's headers.
    Bulk,
    /// From a mail system: MAILER-DAEMON, postmaster, or a no-reply sender.
    MailSystem,
    /// A delivery status report.
    Bounce,
}

impl Automatic {
    pub fn as_str(self) -> &'static str {
        match self {
            Automatic::AutoReply => "auto-reply",
            Automatic::Bulk => "bulk",
            Automatic::MailSystem => "mail-system",
            Automatic::Bounce => "bounce",
        }
    }
}

/// What a bounce says about one of our messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID of the message that could not be delivered, when the report has it.
    pub original_message_id: Option<String>,
    pub recipient: Option<String>,
    /// `failed`, `delayed`, `delivered`, `relayed` or `expanded`.
    pub action: Option<String>,
    /// The enhanced status code, e.g. `5.1.1`.
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

impl Bounce {
    /// Whether the message will not arrive (as opposed to "delayed, still trying").
    pub fn is_permanent_failure(&self) -> bool {
        match (&self.action, &self.status) {
            (Some(a), _) if a.eq_ignore_ascii_case("failed") => true,
            (None, Some(s)) => s.starts_with('5'),
            (None, None) => true,
            _ => false,
        }
    }

    /// One line for the agent: "550 5.1.1 user unknown (to x@y)".
    pub fn summary(&self) -> String {
        let mut s = String::from("bounced");
        if let Some(d) = self.diagnostic.as_deref().or(self.status.as_deref()) {
            s.push_str(": ");
            s.push_str(d);
        }
        if let Some(r) = &self.recipient {
            s.push_str(&format!(" (to {r})"));
        }
        s
    }
}

fn text_header<'a>(msg: &'a Message, name: &'static str) -> Option<&'a str> {
    msg.header_raw(name).map(str::trim)
}

pub(crate) fn classify(msg: &Message, from: &Mailbox) -> Option<Automatic> {
    if let Some(v) = text_header(msg, "Auto-Submitted")
        && !v.to_ascii_lowercase().starts_with("no")
    {
        return Some(Automatic::AutoReply);
    }
    for h in ["X-Autoreply", "X-Autorespond", "X-Auto-Reply"] {
        if text_header(msg, h).is_some() {
            return Some(Automatic::AutoReply);
        }
    }
    if text_header(msg, "X-Auto-Response-Suppress").is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        v.contains("all") || v.contains("oof") || v.contains("autoreply")
    }) {
        return Some(Automatic::AutoReply);
    }
    if let Some(p) = text_header(msg, "Precedence") {
        let p = p.to_ascii_lowercase();
        if ["bulk", "list", "junk", "auto_reply"]
            .iter()
            .any(|w| p.contains(w))
        {
            return Some(Automatic::Bulk);
        }
    }
    if !matches!(msg.list_id(), HeaderValue::Empty)
        || !matches!(msg.list_unsubscribe(), HeaderValue::Empty)
    {
        return Some(Automatic::Bulk);
    }
    let local = from.email.split('@').next().unwrap_or("");
    if [
        "mailer-daemon",
        "postmaster",
        "noreply",
        "no-reply",
        "do-not-reply",
        "donotreply",
    ]
    .contains(&local)
    {
        return Some(Automatic::MailSystem);
    }
    // An empty envelope sender (Return-Path: <>) is how mail systems send notifications.
    if msg
        .header_raw("Return-Path")
        .is_some_and(|v| v.trim() == "<>")
    {
        return Some(Automatic::MailSystem);
    }
    None
}

/// Reads a delivery status report. Returns `None` for anything that is not one.
pub(crate) fn bounce(msg: &Message) -> Option<Bounce> {
    let root = msg.root_part();
    let is_report = root.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.to_ascii_lowercase().contains("delivery-status"))
    });
    if !is_report {
        return None;
    }
    let mut b = Bounce::default();
    for part in &msg.parts {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let kind = format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase()
        );
        match (kind.as_str(), &part.body) {
            ("message/delivery-status" | "message/global-delivery-status", _) => {
                read_status(&String::from_utf8_lossy(part.contents()), &mut b);
            }
            (_, PartType::Message(inner)) if b.original_message_id.is_none() => {
                b.original_message_id = inner.message_id().map(clean_id);
            }
            ("text/rfc822-headers" | "message/rfc822-headers", _)
                if b.original_message_id.is_none() =>
            {
                b.original_message_id = MessageParser::default()
                    .parse_headers(part.contents())
                    .and_then(|h| h.message_id().map(clean_id));
            }
            _ => {}
        }
    }
    Some(b)
}

/// The per-message and per-recipient fields of a `message/delivery-status` body; the first
/// recipient's values are kept.
fn read_status(body: &str, b: &mut Bounce) {
    let mut last: Option<&mut Option<String>> = None;
    for line in body.lines() {
        if line.starts_with([' ', '\t']) {
            // A folded continuation of the previous field.
            if let Some(Some(v)) = last.as_deref_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        last = None;
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "final-recipient" | "original-recipient" => &mut b.recipient,
            "action" => &mut b.action,
            "status" => &mut b.status,
            "diagnostic-code" => &mut b.diagnostic,
            _ => continue,
        };
        if slot.is_none() {
            // "rfc822; x@y" and "smtp; 550 ..." carry a type before the value.
            let v = value.split_once(';').map_or(value, |(_, v)| v.trim());
            *slot = Some(v.to_string());
            last = Some(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse;

    #[test]
    fn auto_replies_lists_and_mail_systems_are_automatic() {
        let cases: &[(&str, &str)] = &[
            ("Auto-Submitted: auto-replied\r\n", "auto-reply"),
            ("X-Autoreply: yes\r\n", "auto-reply"),
            ("Precedence: bulk\r\n", "bulk"),
            ("List-Id: <news.example.com>\r\n", "bulk"),
        ];
        for (header, kind) in cases {
            let raw = format!("From: a@x.org\r\n{header}Subject: s\r\n\r\nbody\r\n");
            let p = parse(raw.as_bytes()).unwrap();
            assert_eq!(p.automatic.map(|a| a.as_str()), Some(*kind), "{header}");
        }
        let daemon = parse(b"From: MAILER-DAEMON@x.org\r\nSubject: s\r\n\r\nbody\r\n").unwrap();
        assert_eq!(daemon.automatic.map(|a| a.as_str()), Some("mail-system"));
        let person =
            parse(b"From: a@x.org\r\nAuto-Submitted: no\r\nSubject: s\r\n\r\nbody\r\n").unwrap();
        assert_eq!(person.automatic, None);
    }

    #[test]
    fn a_delivery_status_report_names_the_failed_message() {
        let raw = b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: support@seva.test\r\n\
Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n\
Final-Recipient: rfc822; nobody@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.com>: Recipient address\r\n rejected: User unknown\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@seva.test\r\nTo: nobody@example.com\r\n\
Message-ID: <seva.0190@seva.test>\r\nSubject: Re: help\r\n\r\n--B--\r\n";
        let p = parse(raw).unwrap();
        let b = p.bounce.expect("a bounce");
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("seva.0190@seva.test")
        );
        assert_eq!(b.recipient.as_deref(), Some("nobody@example.com"));
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert!(b.is_permanent_failure());
        assert_eq!(
            b.summary(),
            "bounced: 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown (to nobody@example.com)"
        );
        assert_eq!(p.automatic.map(|a| a.as_str()), Some("mail-system"));
    }
}
