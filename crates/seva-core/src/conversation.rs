//! Conversations: one customer issue each. Their status machine and priorities live here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Generates `as_str`, `FromStr`, `Display` and `ALL` for a plain enum whose variants are
/// stored and spoken (API, database, UI) as fixed lower-case words.
macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $word:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),* }
            }
        }

        $crate::string_schema!($name, None, Some(&[$($word),*]), stringify!($name));

        impl FromStr for $name {
            type Err = crate::conversation::UnknownWord;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($name::$variant),)*
                    _ => Err(crate::conversation::UnknownWord {
                        kind: stringify!($name),
                        expected: &[$($word),*],
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            /// The word, padded to a width when one is asked for (`{:<10}` in a table).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}
pub(crate) use word_enum;

/// A word that is not one of an enum's words; says which ones would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind}; expected one of: {}", expected.join(", "))]
pub struct UnknownWord {
    pub kind: &'static str,
    pub expected: &'static [&'static str],
}

word_enum!(
    /// Where a conversation stands.
    Status {
        Open = "open",
        Pending = "pending",
        OnHold = "on_hold",
        Solved = "solved",
        Closed = "closed",
    }
);

word_enum!(
    /// How soon it must be handled; urgent first.
    Priority {
        Low = "low",
        Normal = "normal",
        High = "high",
        Urgent = "urgent",
    }
);

word_enum!(
    /// The way a message came in or goes out.
    Channel {
        Email = "email",
        Chat = "chat",
        Sms = "sms",
        Whatsapp = "whatsapp",
        Telegram = "telegram",
        Voice = "voice",
        WebForm = "web_form",
        Api = "api",
    }
);

word_enum!(
    /// What an entry of the timeline is.
    MessageKind {
        Inbound = "inbound",
        Outbound = "outbound",
        Note = "note",
        System = "system",
    }
);

word_enum!(
    /// Where an outbound message is on its way to the customer.
    Delivery {
        Received = "received",
        Queued = "queued",
        Sent = "sent",
        Delivered = "delivered",
        Failed = "failed",
        Internal = "internal",
        Read = "read",
    }
);

word_enum!(
    /// The order of a list of conversations: latest activity first (the default), newest
    /// or oldest first (who has waited longest), or most urgent first.
    Sort {
        Updated = "updated",
        Newest = "newest",
        Oldest = "oldest",
        Priority = "priority",
    }
);

// Written out: `word_enum!` owns the enum's derives.
#[allow(clippy::derivable_impls)]
impl Default for Sort {
    fn default() -> Self {
        Sort::Updated
    }
}

impl Status {
    /// Whether an agent may move a conversation from `self` to `to`.
    ///
    /// Closed is final: a customer who writes again about a closed conversation starts a new
    /// one (that keeps reports on closed work stable). Everything short of closed can move
    /// freely, because real work is not linear: a solved conversation reopens when the
    /// customer says it is not solved after all.
    pub fn can_become(self, to: Status) -> bool {
        if self == to {
            return false;
        }
        match self {
            Status::Closed => false,
            Status::Open | Status::Pending | Status::OnHold => true,
            // Only a solved conversation may be closed: closing skips the customer's chance
            // to answer otherwise.
            Status::Solved => true,
        }
    }

    /// Whether the conversation still needs work from the desk (shown in "open" views).
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::Pending | Status::OnHold)
    }

    /// What a new message from the customer does to the status.
    pub fn after_customer_message(self) -> Status {
        match self {
            Status::Pending | Status::Solved => Status::Open,
            other => other,
        }
    }
}

impl Priority {
    /// Sort rank, lower first.
    pub fn rank(self) -> u8 {
        match self {
            Priority::Urgent => 0,
            Priority::High => 1,
            Priority::Normal => 2,
            Priority::Low => 3,
        }
    }
}

/// Why a status change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the conversation is already {0}")]
    Unchanged(Status),
    #[error("a {from} conversation cannot become {to}")]
    NotAllowed { from: Status, to: Status },
}

pub fn check_transition(from: Status, to: Status) -> Result<(), TransitionError> {
    if from == to {
        Err(TransitionError::Unchanged(from))
    } else if from.can_become(to) {
        Ok(())
    } else {
        Err(TransitionError::NotAllowed { from, to })
    }
}

/// The longest subject we keep; longer ones are cut at a character boundary.
pub const MAX_SUBJECT_CHARS: usize = 250;
/// Tags are short labels: letters, digits, `-` and `_`, in any script.
pub const MAX_TAG_CHARS: usize = 64;

/// Normalises a tag (trimmed, lower-cased) or says why it is not one.
pub fn normalise_tag(raw: &str) -> Result<String, &'static str> {
    let tag = raw.trim().to_lowercase();
    if tag.is_empty() {
        return Err("a tag cannot be empty");
    }
    if tag.chars().count() > MAX_TAG_CHARS {
        return Err("a tag has at most 64 characters");
    }
    if !tag
        .chars()
        .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || is_combining_mark(c))
    {
        return Err("a tag has only letters, digits, '-' and '_'");
    }
    Ok(tag)
}

/// Vowel signs and viramas (Telugu, Devanagari, …) are marks, not letters, but belong to
/// words: a tag like "బిల్లు" must be accepted.
fn is_combining_mark(c: char) -> bool {
    use unicode_normalization::char::is_combining_mark;
    is_combining_mark(c)
        || matches!(c as u32, 0x0C00..=0x0C04 | 0x0C3C..=0x0C56 | 0x0C62..=0x0C63 | 0x0C81..=0x0C83 | 0x0900..=0x0903 | 0x093A..=0x094F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_is_final() {
        for &to in Status::ALL {
            assert!(!Status::Closed.can_become(to));
        }
    }

    #[test]
    fn a_customer_reply_reopens_solved_and_pending_work() {
        assert_eq!(Status::Solved.after_customer_message(), Status::Open);
        assert_eq!(Status::Pending.after_customer_message(), Status::Open);
        assert_eq!(Status::OnHold.after_customer_message(), Status::OnHold);
    }

    #[test]
    fn words_round_trip_and_unknown_words_name_the_choices() {
        for &s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        let err = "done".parse::<Status>().unwrap_err();
        assert!(
            err.to_string()
                .contains("open, pending, on_hold, solved, closed")
        );
        // A table's column width holds (`seva user list`).
        assert_eq!(format!("[{:<8}]", Status::Open), "[open    ]");
    }

    #[test]
    fn tags_in_every_script() {
        assert_eq!(normalise_tag(" Billing ").unwrap(), "billing");
        assert_eq!(normalise_tag("బిల్లు").unwrap(), "బిల్లు");
        assert_eq!(normalise_tag("ΠΛΗΡΩΜΉ").unwrap(), "πληρωμή");
        assert!(normalise_tag("a b").is_err());
        assert!(normalise_tag("").is_err());
    }
}
