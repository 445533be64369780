//! The keys that bring a reply back to its conversation, strongest first: the Message-IDs
//! in In-Reply-To and References; a per-conversation reply address
//! (`support+1042-3f9a0c12d4@example.com`) that survives clients which drop those headers;
//! and the tag `[#1042]` in the subject, trusted only from people already in the
//! conversation.

use sha2::{Digest, Sha256};

/// `[#1042]`
pub fn subject_tag(reference: i64) -> String {
    format!("[#{reference}]")
}

/// The reference in a subject's tag, if it has one (the last, if several).
pub fn find_subject_tag(subject: &str) -> Option<i64> {
    let mut found = None;
    let mut rest = subject;
    while let Some(at) = rest.find("[#") {
        let after = &rest[at + 2..];
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty() && after[digits.len()..].starts_with(']') {
            found = digits.parse().ok();
        }
        rest = after;
    }
    found
}

/// Prefixes clients put before a replied or forwarded subject, in lower case.
const PREFIXES: &[&str] = &[
    "re",
    "fw",
    "fwd",
    "aw",
    "wg",
    "sv",
    "vs",
    "tr",
    "απ",
    "σχετ",
    "προώθ",
    "πρθ",
    "ant",
];

/// The subject without its reply prefixes ("Re: Απ: Fwd: help" → "help").
pub fn base_subject(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let Some((head, rest)) = s.split_once(':') else {
            return s;
        };
        let head = head.trim().to_lowercase();
        // "Re[2]" and "RE" alike.
        let word = head.split('[').next().unwrap_or("");
        if PREFIXES.contains(&word) {
            s = rest.trim_start();
        } else {
            return s;
        }
    }
}

/// The subject of our answer: "Re: <subject> [#1042]", the tag added once.
pub fn reply_subject(subject: &str, reference: i64) -> String {
    let base = base_subject(subject);
    let tag = subject_tag(reference);
    if find_subject_tag(base) == Some(reference) {
        format!("Re: {base}")
    } else if base.is_empty() {
        format!("Re: {tag}")
    } else {
        format!("Re: {base} {tag}")
    }
}

/// The secret part of a conversation's reply address: without the server's secret it
/// cannot be guessed from the reference.
pub fn reply_token(secret: &[u8], conversation_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret);
    h.update(b":reply-address:");
    h.update(conversation_id.as_bytes());
    h.finalize()[..5]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `support@example.com` + 1042 + token → `support+1042-<token>@example.com`.
pub fn reply_address(inbox_address: &str, reference: i64, token: &str) -> String {
    match inbox_address.split_once('@') {
        Some((local, domain)) => format!("{local}+{reference}-{token}@{domain}"),
        None => inbox_address.to_string(),
    }
}

/// A plus address read back: the inbox's own address, and the reference and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlusAddress {
    pub base: String,
    pub reference: Option<(i64, String)>,
}

/// Splits `support+1042-abc@example.com`; an address with no detail is its own base.
pub fn read_address(address: &str) -> PlusAddress {
    let address = address.trim().to_lowercase();
    let Some((local, domain)) = address.split_once('@') else {
        return PlusAddress {
            base: address,
            reference: None,
        };
    };
    let Some((base_local, detail)) = local.split_once('+') else {
        return PlusAddress {
            base: address.clone(),
            reference: None,
        };
    };
    let reference = detail
        .split_once('-')
        .and_then(|(r, t)| Some((r.parse().ok()?, t.to_string())));
    PlusAddress {
        base: format!("{base_local}@{domain}"),
        reference,
    }
}

/// How the Message-IDs of Seva's mail to agents begin. An agent's reply names one in its
/// In-Reply-To or References, which tells it from a customer's mail.
const AGENT_MAIL: &str = "seva.agent.";

/// The proof, in a mail to one agent about one conversation, that a reply to it comes
/// from that mail: without the server's secret it cannot be made for another agent or
/// conversation, and only that agent was sent it.
pub fn agent_reply_token(secret: &[u8], agent_id: &str, conversation_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret);
    h.update(b":agent-reply:");
    h.update(agent_id.as_bytes());
    h.update(b":");
    h.update(conversation_id.as_bytes());
    h.finalize()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Message-ID of a mail to an agent: `key` makes it unique; `about` (the
/// conversation's reference and [`agent_reply_token`]) lets a reply to it become a note
/// in that conversation.
pub fn agent_mail_id(key: &str, about: Option<(i64, &str)>, from: &str) -> String {
    let domain = domain_of(from);
    match about {
        Some((reference, token)) => format!("{AGENT_MAIL}{key}.{reference}.{token}@{domain}"),
        None => format!("{AGENT_MAIL}{key}@{domain}"),
    }
}

/// A Message-ID of Seva's mail to an agent, read back: the conversation it was about and
/// its token, if it was about one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentMail {
    pub about: Option<(i64, String)>,
}

/// Reads a Message-ID (with or without its angle brackets) as one of [`agent_mail_id`]'s.
pub fn read_agent_mail_id(id: &str) -> Option<AgentMail> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, _) = id.split_once('@')?;
    let rest = local.strip_prefix(AGENT_MAIL)?;
    let mut parts = rest.split('.');
    let (_key, reference, token) = (parts.next()?, parts.next(), parts.next());
    let about = match (reference, token, parts.next()) {
        (Some(r), Some(t), None) => Some((r.parse().ok()?, t.to_ascii_lowercase())),
        (None, None, None) => None,
        _ => return None,
    };
    Some(AgentMail { about })
}

/// The domain of an address, for our Message-IDs.
pub fn domain_of(address: &str) -> &str {
    address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
        .unwrap_or("seva.local")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tags_are_found_and_added_once() {
        assert_eq!(find_subject_tag("Re: Παραγγελία [#1042]"), Some(1042));
        assert_eq!(find_subject_tag("[#x] and [#7]"), Some(7));
        assert_eq!(find_subject_tag("no tag #12"), None);
        assert_eq!(reply_subject("Παραγγελία", 1042), "Re: Παραγγελία [#1042]");
        assert_eq!(
            reply_subject("Απ: RE: Παραγγελία [#1042]", 1042),
            "Re: Παραγγελία [#1042]"
        );
        assert_eq!(base_subject("Re[2]: Fwd: help"), "help");
        assert_eq!(base_subject("Note: read this"), "Note: read this");
    }

    #[test]
    fn reply_addresses_round_trip() {
        let token = reply_token(b"secret", "0190-abc");
        assert_eq!(token.len(), 10);
        assert_ne!(token, reply_token(b"other", "0190-abc"));
        let a = reply_address("support@example.com", 1042, &token);
        let read = read_address(&a.to_uppercase());
        assert_eq!(read.base, "support@example.com");
        assert_eq!(read.reference, Some((1042, token)));
        assert_eq!(read_address("support@example.com").reference, None);
    }

    #[test]
    fn agent_mail_ids_round_trip() {
        let token = agent_reply_token(b"secret", "agent-1", "conv-1");
        assert_eq!(token.len(), 20);
        assert_ne!(token, agent_reply_token(b"secret", "agent-2", "conv-1"));
        assert_ne!(token, agent_reply_token(b"secret", "agent-1", "conv-2"));
        let id = agent_mail_id("0190-job", Some((42, &token)), "support@example.com");
        assert_eq!(id, format!("seva.agent.0190-job.42.{token}@example.com"));
        assert_eq!(
            read_agent_mail_id(&format!("<{id}>")),
            Some(AgentMail {
                about: Some((42, token))
            })
        );
        let digest = agent_mail_id("0190-job", None, "support@example.com");
        assert_eq!(read_agent_mail_id(&digest), Some(AgentMail { about: None }));
        assert_eq!(read_agent_mail_id("seva.0190@example.com"), None);
        assert_eq!(read_agent_mail_id("seva.agent.k.x.t@example.com"), None);
        assert_eq!(read_agent_mail_id("seva.agent.k.1.t.u@example.com"), None);
    }
}
