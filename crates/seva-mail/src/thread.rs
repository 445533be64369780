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
}
