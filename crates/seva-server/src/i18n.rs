//! The words of every page, from Fluent files in `i18n/` (one per language). English is
//! complete and is the fallback for any key a translation lacks, so a missing translation
//! shows English, never a raw key.

use std::collections::HashMap;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// Languages with a translation file, with their own names for the language picker.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("en", "English"),
    ("te", "తెలుగు"),
    ("el", "Ελληνικά"),
    ("tl", "Tagalog"),
];

const SOURCES: &[(&str, &str)] = &[
    ("en", include_str!("../i18n/en.ftl")),
    ("te", include_str!("../i18n/te.ftl")),
    ("el", include_str!("../i18n/el.ftl")),
    ("tl", include_str!("../i18n/tl.ftl")),
];

type Bundle = FluentBundle<FluentResource>;

fn bundles() -> &'static HashMap<&'static str, Bundle> {
    static BUNDLES: OnceLock<HashMap<&'static str, Bundle>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        SOURCES
            .iter()
            .map(|&(lang, source)| {
                // A syntax error in a shipped file is a bug caught by the tests below.
                let resource =
                    FluentResource::try_new(source.to_string()).unwrap_or_else(|(r, _)| r);
                let mut bundle = Bundle::new_concurrent(vec![lang.parse().unwrap_or_default()]);
                // Isolation marks would show as stray characters in titles and plain text.
                bundle.set_use_isolating(false);
                let _ = bundle.add_resource(resource);
                (lang, bundle)
            })
            .collect()
    })
}

/// The words of one language.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub lang: &'static str,
}

impl Tr {
    pub fn new(lang: &str) -> Self {
        let lang = LANGUAGES
            .iter()
            .map(|(l, _)| *l)
            .find(|l| *l == lang)
            .unwrap_or("en");
        Self { lang }
    }

    /// The best of our languages for an `Accept-Language` header.
    pub fn negotiate(accept_language: &str) -> Self {
        for part in accept_language.split(',') {
            let tag = part.split(';').next().unwrap_or("").trim().to_lowercase();
            let primary = tag.split('-').next().unwrap_or("");
            if let Some((l, _)) = LANGUAGES.iter().find(|(l, _)| *l == primary) {
                return Self { lang: l };
            }
            // Filipino is written in the same language as Tagalog in our texts.
            if primary == "fil" {
                return Self { lang: "tl" };
            }
        }
        Self { lang: "en" }
    }

    fn format(&self, key: &str, args: Option<&FluentArgs>) -> String {
        for lang in [self.lang, "en"] {
            let Some(bundle) = bundles().get(lang) else {
                continue;
            };
            if let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                return bundle
                    .format_pattern(pattern, args, &mut errors)
                    .into_owned();
            }
        }
        key.to_string()
    }

    /// The text for `key`.
    pub fn s(&self, key: &str) -> String {
        self.format(key, None)
    }

    /// The text for `key` with one argument. A whole number goes as a number, so that the
    /// text can choose its plural form (`[one]`, `*[other]`).
    pub fn a(&self, key: &str, name: &str, value: impl ToString) -> String {
        let mut args = FluentArgs::new();
        let value = value.to_string();
        // Only a number written as the number itself: a phone number such as
        // `+306971112233`, or `007`, stays text as it is.
        let value = match value.parse::<i64>() {
            Ok(n) if n.to_string() == value => FluentValue::from(n),
            _ => FluentValue::from(value),
        };
        args.set(name.to_string(), value);
        self.format(key, Some(&args))
    }

    /// Words for enum values, such as statuses: `t.word("status", "on_hold")`.
    pub fn word(&self, prefix: &str, word: &str) -> String {
        self.s(&format!("{prefix}-{}", word.replace('_', "-")))
    }
}

/// The chat widget's words (the keys starting `widget-`, without that prefix) in every
/// language, for the script to carry: `{"en": {"title": "…"}, "te": {…}}`.
pub fn widget_strings() -> serde_json::Value {
    let keys: Vec<&str> = SOURCES[0]
        .1
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
        .filter(|k| k.starts_with("widget-"))
        .collect();
    LANGUAGES
        .iter()
        .map(|(lang, name)| {
            let t = Tr { lang };
            let mut words: serde_json::Map<String, serde_json::Value> = keys
                .iter()
                .map(|k| (k["widget-".len()..].to_string(), t.s(k).into()))
                .collect();
            words.insert("language-name".into(), name.to_string().into());
            (lang.to_string(), serde_json::Value::Object(words))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(source: &str) -> Vec<String> {
        source
            .lines()
            .filter(|l| !l.starts_with(['#', ' ', '.']) && l.contains(" ="))
            .map(|l| l.split(" =").next().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn every_file_parses_and_has_every_english_key() {
        let english = keys(SOURCES[0].1);
        assert!(english.len() > 50, "the English file holds the UI's words");
        for &(lang, source) in SOURCES {
            if let Err((_, errors)) = FluentResource::try_new(source.to_string()) {
                panic!("{lang}.ftl has syntax errors: {errors:?}");
            }
            let have = keys(source);
            let missing: Vec<_> = english.iter().filter(|k| !have.contains(k)).collect();
            assert!(missing.is_empty(), "{lang}.ftl lacks {missing:?}");
        }
    }

    #[test]
    fn a_count_picks_its_plural_form() {
        let en = Tr::new("en");
        assert_eq!(
            en.a("two-step-codes-left", "count", 1),
            "One recovery code left."
        );
        assert!(
            en.a("two-step-codes-left", "count", 7)
                .contains("recovery codes left")
        );
        assert_eq!(
            en.a("contact-erased", "conversations", 0),
            "The contact was erased."
        );
        assert_eq!(
            en.a("contact-identity-remove", "value", "+306971112233"),
            "Take away +306971112233"
        );
        assert_eq!(
            Tr::new("el").a("contact-erased", "conversations", 1),
            "Η επαφή διαγράφηκε, μαζί με τη συνομιλία της."
        );
    }

    #[test]
    fn translations_are_used_and_english_is_the_fallback() {
        assert_eq!(Tr::new("el").s("nav-inbox"), "Εισερχόμενα");
        assert_eq!(Tr::new("te").s("nav-inbox"), "ఇన్‌బాక్స్");
        assert_eq!(Tr::new("xx").s("nav-inbox"), "Inbox");
        assert_eq!(Tr::negotiate("fil-PH,en;q=0.5").lang, "tl");
        assert_eq!(Tr::negotiate("el-GR").lang, "el");
    }
}
