//! What a customer's short answer to the answering bot means. The words are folded (case,
//! accents, final sigma), so `ΝΑΙ`, `ναι` and `Ναί` are one word.

use unicode_segmentation::UnicodeSegmentation;

/// What a customer's message asks of the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Wants a person.
    Person,
    /// The offered article solved it.
    Yes,
    /// It did not.
    No,
    /// Anything else: a question to look up.
    Question,
}

/// The words that ask for a person, in Seva's languages, unless an inbox sets its own.
pub const HANDOFF_WORDS: &[&str] = &[
    "0",
    "agent",
    "human",
    "person",
    "representative",
    "operator",
    "someone", // English
    "మనిషి",
    "వ్యక్తి",
    "ఏజెంట్",
    "ప్రతినిధి",
    "మనుషి", // Telugu
    "άνθρωπος",
    "άνθρωπο",
    "εκπρόσωπος",
    "εκπρόσωπο",
    "υπάλληλος",
    "υπάλληλο",
    "πράκτορας", // Greek
    "tao",
    "ahente",
    "kinatawan",
    "operator", // Tagalog
];

const YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "y",
    "solved",
    "helped",
    "ναι",
    "ναί",
    "βοήθησε",
    "అవును",
    "సరే",
    "oo",
    "opo",
    "salamat",
    "thanks",
];
const NO: &[&str] = &[
    "no",
    "nope",
    "not",
    "n",
    "όχι",
    "οχι",
    "లేదు",
    "కాదు",
    "hindi",
    "di",
];

/// A message this long or shorter may be an answer or a call for a person; a longer one
/// is a question even if it says "agent" ("my travel agent booked the wrong date…").
const SHORT: usize = 8;

/// Reads a customer's message. `offered` says whether the bot just asked "did this solve
/// it?", so that yes and no are answers.
pub fn intent(text: &str, handoff_words: &[String], offered: bool) -> Intent {
    let words: Vec<String> = text.unicode_words().map(crate::text::fold).collect();
    if words.is_empty() {
        return if text.trim() == "0" {
            Intent::Person
        } else {
            Intent::Question
        };
    }
    if words.len() <= SHORT {
        let handoff: Vec<String> = if handoff_words.is_empty() {
            HANDOFF_WORDS.iter().map(|h| crate::text::fold(h)).collect()
        } else {
            handoff_words.iter().map(|h| crate::text::fold(h)).collect()
        };
        if words.iter().any(|w| handoff.contains(w)) {
            return Intent::Person;
        }
    }
    if offered && words.len() <= 5 {
        let first_yes = words
            .iter()
            .position(|w| YES.iter().any(|y| crate::text::fold(y) == *w));
        let first_no = words
            .iter()
            .position(|w| NO.iter().any(|n| crate::text::fold(n) == *w));
        match (first_yes, first_no) {
            (Some(_), None) => return Intent::Yes,
            (None, Some(_)) => return Intent::No,
            (Some(y), Some(n)) => return if n < y { Intent::No } else { Intent::Yes },
            (None, None) => {}
        }
    }
    Intent::Question
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, offered: bool) -> Intent {
        intent(text, &[], offered)
    }

    #[test]
    fn a_person_in_every_language() {
        for text in [
            "agent",
            "HUMAN please",
            "I want to talk to a person",
            "0",
            "మనిషి",
            "Άνθρωπος!",
            "ΕΚΠΡΟΣΩΠΟ παρακαλώ",
            "tao po",
            "Gusto ko ng ahente",
        ] {
            assert_eq!(read(text, false), Intent::Person, "{text}");
            assert_eq!(read(text, true), Intent::Person, "{text}");
        }
        assert_eq!(
            read(
                "my travel agent booked the wrong date for the flight to Athens",
                false
            ),
            Intent::Question
        );
        assert_eq!(
            intent("operatore", &["operatore".to_string()], false),
            Intent::Person
        );
        assert_eq!(
            intent("agent", &["operatore".to_string()], false),
            Intent::Question
        );
    }

    #[test]
    fn answers_only_after_an_offer() {
        assert_eq!(read("yes, thanks", true), Intent::Yes);
        assert_eq!(read("Ναι", true), Intent::Yes);
        assert_eq!(read("అవును", true), Intent::Yes);
        assert_eq!(read("Opo, salamat", true), Intent::Yes);
        assert_eq!(read("no", true), Intent::No);
        assert_eq!(read("Όχι", true), Intent::No);
        assert_eq!(read("hindi po", true), Intent::No);
        assert_eq!(read("no, thanks", true), Intent::No);
        assert_eq!(read("yes", false), Intent::Question);
        assert_eq!(read("how do refunds work", true), Intent::Question);
    }
}
