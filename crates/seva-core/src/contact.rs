//! Contacts and the identities by which channels know them. Values are parsed once at the
//! boundary; inside Seva an `Email` is always a well-formed, normalised address.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::conversation::word_enum;

word_enum!(
    /// The kinds of identity a channel can know a customer by; `team` is a department of
    /// the same company asking for help (an internal customer), by the team's id.
    IdentityKind {
        Email = "email",
        Phone = "phone",
        ChatVisitor = "chat_visitor",
        Telegram = "telegram",
        Whatsapp = "whatsapp",
        Team = "team",
    }
);

/// What someone typed to name a customer: an email address if it has an @, a phone
/// number otherwise; as the identity it is stored under.
pub fn typed_identity(raw: &str) -> Result<(IdentityKind, String), InvalidValue> {
    let raw = raw.trim();
    if raw.contains('@') {
        Email::parse(raw).map(|e| (IdentityKind::Email, e.identity_key()))
    } else {
        PhoneE164::parse(raw).map(|p| (IdentityKind::Phone, p.as_str().to_string()))
    }
}

/// An email address, trimmed, with the domain lower-cased (the local part is kept as given:
/// RFC 5321 §2.4 lets a server treat it case-sensitively).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub &'static str);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let raw = raw.trim();
        if raw.len() > 254 {
            return Err(InvalidValue("an email address has at most 254 characters"));
        }
        let Some((local, domain)) = raw.rsplit_once('@') else {
            return Err(InvalidValue("an email address needs an @"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(InvalidValue(
                "the part before @ must have 1 to 64 characters",
            ));
        }
        if local.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';')
        }) {
            return Err(InvalidValue(
                "the part before @ has a character not allowed in addresses",
            ));
        }
        let domain = domain.to_lowercase();
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !labels_ok {
            return Err(InvalidValue(
                "the domain after @ is not a valid domain name",
            ));
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identity key: the whole address lower-cased, because in practice people type
    /// their address with varying case and expect to be recognised.
    pub fn identity_key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form: `+`, country code, subscriber number, 8 to 15 digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneE164(String);

impl PhoneE164 {
    /// Accepts the usual ways people write an international number (spaces, dashes, dots,
    /// brackets, a leading `00`) and keeps only `+` and the digits.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let raw = raw.trim();
        let rest = if let Some(r) = raw.strip_prefix('+') {
            r
        } else if let Some(r) = raw.strip_prefix("00") {
            r
        } else {
            return Err(InvalidValue(
                "a phone number must start with + and the country code",
            ));
        };
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(InvalidValue("a phone number has only digits after the +")),
            }
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(InvalidValue(
                "a phone number has 8 to 15 digits and no leading 0",
            ));
        }
        Ok(Self(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name as a person typed it, trimmed; empty names become `None`.
pub fn clean_name(raw: &str) -> Option<String> {
    // Control characters go first, so that the whitespace they hid is trimmed too.
    let name: String = raw.chars().filter(|c| !c.is_control()).collect();
    let name = name.trim();
    if name.is_empty() {
        None
    } else {
        Some(crate::text::truncate_graphemes(name, 200))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_of_only_spaces_and_control_characters_is_none() {
        assert_eq!(clean_name("\u{14}\u{87}\u{2008}\t\u{13}"), None);
        assert_eq!(clean_name("\u{1}  Μαρία Σ.\u{7} "), Some("Μαρία Σ.".into()));
        assert_eq!(clean_name("  రవి  "), Some("రవి".into()));
    }

    #[test]
    fn what_is_typed_is_an_address_with_an_at_and_a_number_without() {
        assert_eq!(
            typed_identity(" Ravi@Example.IN "),
            Ok((IdentityKind::Email, "ravi@example.in".into()))
        );
        assert_eq!(
            typed_identity("+63 917 123 4567"),
            Ok((IdentityKind::Phone, "+639171234567".into()))
        );
        assert!(typed_identity("ravi at example").is_err());
        assert!(typed_identity("@example.in").is_err());
    }

    #[test]
    fn email_domains_are_lower_cased_and_garbage_refused() {
        assert_eq!(
            Email::parse(" Ravi@Example.COM ").unwrap().as_str(),
            "Ravi@example.com"
        );
        assert_eq!(
            Email::parse("Ravi@Example.COM").unwrap().identity_key(),
            "ravi@example.com"
        );
        assert!(Email::parse("ravi").is_err());
        assert!(Email::parse("ravi@localhost").is_err());
        assert!(Email::parse("a b@example.com").is_err());
        assert!(Email::parse("ravi@exa_mple.com").is_err());
        assert!(
            Email::parse("μαρία@παράδειγμα.ελ").is_ok(),
            "internationalised addresses"
        );
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            PhoneE164::parse("+91 98765-43210").unwrap().as_str(),
            "+919876543210"
        );
        assert_eq!(
            PhoneE164::parse("0030 210 1234567").unwrap().as_str(),
            "+302101234567"
        );
        assert!(PhoneE164::parse("98765").is_err());
        assert!(PhoneE164::parse("+12ab").is_err());
    }
}
