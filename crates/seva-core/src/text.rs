//! Text as people write it, in any script. Cutting text is done on grapheme clusters, so a
//! Telugu consonant never loses its vowel sign or virama and a Greek letter never loses its
//! accent; HTML for display is made by escaping, never by trusting input.

use unicode_segmentation::UnicodeSegmentation;

/// At most `max` user-perceived characters, with `…` when something was cut.
pub fn truncate_graphemes(text: &str, max: usize) -> String {
    match grapheme_cut(text, max) {
        None => text.to_string(),
        Some(end) => format!("{}…", text[..end].trim_end()),
    }
}

/// Where [`truncate_graphemes`] cuts: `None` when `text` has at most `max` graphemes,
/// else the byte offset after the first `max - 1` of them (room for the `…`).
fn grapheme_cut(text: &str, max: usize) -> Option<usize> {
    // A grapheme is at least one byte, so a text of at most `max` bytes fits.
    if text.len() <= max {
        return None;
    }
    // In ASCII every byte is a grapheme of its own except CR LF, and no ASCII byte joins
    // the one before it; so when the first `max + 1` bytes are ASCII without CR, the
    // graphemes there are the bytes. This spares the segmenter most English previews.
    let head = &text.as_bytes()[..=max];
    if head.iter().all(|&b| b.is_ascii() && b != b'\r') {
        return Some(max.saturating_sub(1));
    }
    let mut graphemes = text.grapheme_indices(true);
    let (cut, _) = graphemes.nth(max)?;
    let keep = max.saturating_sub(1);
    Some(
        text.grapheme_indices(true)
            .nth(keep)
            .map(|(i, _)| i)
            .unwrap_or(cut),
    )
}

/// A one-line preview of a message for lists.
pub fn preview(text: &str, max: usize) -> String {
    let mut one_line = String::with_capacity(text.len().min(4 * max + 8));
    for word in text.split_whitespace() {
        if !one_line.is_empty() {
            one_line.push(' ');
        }
        one_line.push_str(word);
    }
    truncate_graphemes(&one_line, max)
}

/// Text folded for matching: compatibility forms unified (NFKC), lower case, the
/// accents of Latin and Greek letters dropped and final sigma made σ, so that `ΠΕΛΑΤΩΝ`,
/// `πελατών` and `πελατων` meet. Telugu vowel signs and viramas are not accents and stay.
pub fn fold(text: &str) -> String {
    fold_by_char(text).unwrap_or_else(|| fold_whole(text))
}

/// What [`fold`] means, computed over the whole text: decomposed, accents dropped, lower
/// case, final sigma made σ, composed again.
fn fold_whole(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let stripped: String = text.nfkd().filter(|&c| !is_accent(c)).collect();
    stripped.to_lowercase().replace('ς', "σ").nfc().collect()
}

/// The combining marks folding drops: the accents and breathings of Latin and Greek.
fn is_accent(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

/// [`fold_whole`] one character at a time, which is what it comes to unless characters
/// act on each other: decomposition puts a run of combining marks in order, and
/// composition joins a letter with a mark after it. When the characters folded one by one
/// make text that is in NFC already, neither happened, and this is the fold (a property
/// test holds it to [`fold_whole`]); otherwise `None`. Searching and rules fold every word
/// of every message, and whole-text normalisation costs ten times this.
fn fold_by_char(text: &str) -> Option<String> {
    use unicode_normalization::{IsNormalized, is_nfc_quick};
    let mut out = String::with_capacity(text.len());
    let mut ascii = true;
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if !is_accent(c) {
            ascii = false;
            out.push(fold_char(c)?);
        }
    }
    (ascii || is_nfc_quick(out.chars()) == IsNormalized::Yes).then_some(out)
}

/// One character folded alone, when that is one character. The answers for the Basic
/// Multilingual Plane are kept once known: each entry is 0 (not yet asked), [`NOT_ONE`], or
/// the folded character with [`KNOWN`] set. Untouched, the table costs no memory.
fn fold_char(c: char) -> Option<char> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const KNOWN: u32 = 1 << 31;
    const NOT_ONE: u32 = 1;
    static TABLE: [AtomicU32; 0x1_0000] = [const { AtomicU32::new(0) }; 0x1_0000];
    let alone = |c: char| {
        let folded = fold_whole(c.encode_utf8(&mut [0; 4]));
        let mut chars = folded.chars();
        match (chars.next(), chars.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    };
    let Some(slot) = TABLE.get(c as usize) else {
        return alone(c);
    };
    match slot.load(Ordering::Relaxed) {
        0 => {
            let folded = alone(c);
            slot.store(
                folded.map_or(NOT_ONE, |f| f as u32 | KNOWN),
                Ordering::Relaxed,
            );
            folded
        }
        NOT_ONE => None,
        v => char::from_u32(v & !KNOWN),
    }
}

/// The handles a note mentions (`@maria`, `@ravi.k`), folded for matching: letters of
/// any script, digits, `.`, `_` and `-` after an `@` that does not follow a letter (so an
/// email address in the text is not a mention).
pub fn mentions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '@' && !prev.is_some_and(|p| p.is_alphanumeric()) {
            let start = i + 1;
            let mut end = start;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || matches!(d, '.' | '_' | '-') || is_mark(d) {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let handle = text[start..end].trim_end_matches(['.', '-', '_']);
            if !handle.is_empty() {
                let folded = fold(handle);
                if !out.contains(&folded) {
                    out.push(folded);
                }
            }
            prev = text[..end].chars().next_back();
            continue;
        }
        prev = Some(c);
    }
    out
}

/// Combining marks (Telugu vowel signs and virama, accents), which belong to the letter
/// before them.
pub fn is_mark(c: char) -> bool {
    use unicode_normalization::char::is_combining_mark;
    is_combining_mark(c)
}

/// Escapes text for HTML (an element's text or a quoted attribute's value).
pub fn escape_html(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 16);
    push_escaped(&mut html, text, false);
    html
}

/// Escapes text for HTML and keeps its line breaks.
pub fn text_to_html(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 16);
    html.push_str("<p>");
    push_escaped(&mut html, text, true);
    html.push_str("</p>");
    html
}

fn push_escaped(html: &mut String, text: &str, breaks: bool) {
    for c in text.chars() {
        match c {
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '&' => html.push_str("&amp;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            '\n' if breaks => html.push_str("<br>"),
            '\r' if breaks => {}
            c => html.push(c),
        }
    }
}

/// NFC, the form text is stored in, so that the same word typed on two keyboards (a
/// precomposed ά or α plus a combining accent) compares equal.
pub fn nfc(text: &str) -> String {
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
    // Nearly all text arrives already composed; the quick check answers that without
    // decomposing and recomposing every character.
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        return text.to_string();
    }
    text.nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_slug_is_lower_case_words_of_any_script_joined_by_single_dashes() {
        assert_eq!(
            slug("Πώς γίνονται οι επιστροφές"),
            "πώς-γίνονται-οι-επιστροφές"
        );
        assert_eq!(slug("Don't pay 3.5% twice"), "don-t-pay-3-5-twice");
        assert_eq!(slug("బిల్లు ఎలా చెల్లించాలి?"), "బిల్లు-ఎలా-చెల్లించాలి");
        for s in ["πώς-γίνονται", "బిల్లు", "refund-2", "paano-mag-refund"] {
            assert!(is_slug(s), "{s}");
        }
        for s in [
            "",
            "-a",
            "a--b",
            "a-",
            "Refund",
            "don't",
            "a b",
            "ǅ",
            "x".repeat(101).as_str(),
        ] {
            assert!(!is_slug(s), "{s}");
        }
    }

    proptest! {
        #[test]
        fn every_slug_made_from_a_title_is_a_slug(title in "\\PC{0,120}") {
            let made = slug(&title);
            prop_assert!(made.is_empty() || is_slug(&made), "{made:?}");
        }
    }

    #[test]
    fn mentions_are_handles_after_an_at_sign_not_email_addresses() {
        assert_eq!(
            mentions("@Maria can you check? cc @ravi.k."),
            vec!["maria", "ravi.k"]
        );
        assert_eq!(mentions("write to maria@example.com"), Vec::<String>::new());
        assert_eq!(mentions("@Νίκος δες το"), vec!["νικοσ"]);
        assert_eq!(mentions("@రవి చూడండి"), vec!["రవి"]);
        assert_eq!(mentions("@ alone and @@double"), vec!["double"]);
    }

    #[test]
    fn telugu_is_cut_between_letters_not_inside_them() {
        // క + ్ + ట is one cluster in UAX #29 extended grapheme terms for the virama part.
        let word = "వినియోగదారులకు సేవ";
        let cut = truncate_graphemes(word, 4);
        assert!(cut.ends_with('…'));
        let kept = cut.trim_end_matches('…');
        assert!(word.starts_with(kept));
        // No cluster was split: the kept part ends where a cluster ends.
        assert!(word.grapheme_indices(true).any(|(i, _)| i == kept.len()));
    }

    #[test]
    fn greek_accents_stay_on_their_letters() {
        assert_eq!(truncate_graphemes("εξυπηρέτηση πελατών", 6), "εξυπη…");
        assert_eq!(truncate_graphemes("σύντομο", 10), "σύντομο");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            text_to_html("<script>alert(1)</script>\nok & bye"),
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;<br>ok &amp; bye</p>"
        );
    }

    /// The cut by the full segmentation, for comparison with the shortcuts.
    fn segmented_cut(text: &str, max: usize) -> Option<usize> {
        let (cut, _) = text.grapheme_indices(true).nth(max)?;
        Some(
            text.grapheme_indices(true)
                .nth(max.saturating_sub(1))
                .map_or(cut, |(i, _)| i),
        )
    }

    #[test]
    fn ascii_text_is_cut_where_the_segmenter_cuts_it() {
        for (text, max) in [
            ("hello world", 5),
            ("hello\r\nworld", 6),
            ("hello\r\nworld", 5),
            ("abcde\u{301}fg", 5),
            ("abcdef\u{301}g", 5),
            ("abc", 3),
            ("abcd", 3),
            ("ab\u{0C3F}cd", 2),
        ] {
            assert_eq!(
                grapheme_cut(text, max),
                segmented_cut(text, max),
                "{text:?} at {max}"
            );
        }
        assert_eq!(truncate_graphemes("abcde\u{301}fg", 5), "abcd…");
        assert_eq!(truncate_graphemes("abcd", 4), "abcd");
    }

    proptest! {
        #[test]
        fn the_shortcuts_cut_where_the_segmenter_does(text in "[a-c \\r\\n\u{301}\u{0C3F}\u{1F1EE}]{0,40}", max in 1usize..30) {
            prop_assert_eq!(grapheme_cut(&text, max), segmented_cut(&text, max));
        }

        /// Letters and marks of the scripts Seva is tested with, plus the characters that
        /// could make folding one character at a time go wrong: marks out of order, a Telugu
        /// vowel sign written in two parts, the grapheme joiner, compatibility forms, capital
        /// letters that lower-case to two characters, Hangul that composes.
        #[test]
        fn folding_by_character_is_folding_the_whole(text in "[a-zA-Z ΣςσάΆέΈήίϊΐόύϋΰώΑΒΓαβγ\u{0301}\u{0308}\u{0342}\u{0345}\u{034F}\u{0313}\u{1F00}-\u{1F0F}\u{1FB3}\u{1FBC}కగచటతపమయరలవసహ\u{0C3E}-\u{0C4D}\u{0C55}\u{0C56}\u{0C02}\u{0C03}ñÑéÉİıẞßﬁ²Ｆ\u{1100}\u{1161}\u{11A8}가\u{0323}\u{0F73}ǅ]{0,12}") {
            prop_assert_eq!(fold(&text), fold_whole(&text));
        }

        /// The same with only characters that act on each other, so that short texts meet
        /// every pairing: a Telugu vowel sign's two parts (U+0C46 U+0C56), Telugu marks out
        /// of their canonical order, a grapheme joiner between marks, Hangul jamo.
        #[test]
        fn folding_by_character_holds_where_characters_interact(text in "[aαకΣİ\u{0C46}\u{0C56}\u{0C55}\u{0C4D}\u{0C3C}\u{0301}\u{0345}\u{034F}\u{1100}\u{1161}\u{11A8}]{0,6}") {
            prop_assert_eq!(fold(&text), fold_whole(&text));
        }

        #[test]
        fn truncation_never_exceeds_and_is_a_prefix(text in "\\PC{0,60}", max in 1usize..30) {
            let cut = truncate_graphemes(&text, max);
            prop_assert!(cut.graphemes(true).count() <= max);
            let kept = cut.strip_suffix('…').unwrap_or(&cut);
            prop_assert!(text.starts_with(kept));
        }
    }
}

/// A guess at the language of a customer's text, among those Seva speaks: Telugu and
/// Greek by their scripts, Tagalog and English by their commonest words. `None` when the
/// text gives too little to go on.
pub fn guess_language(text: &str) -> Option<&'static str> {
    let (mut telugu, mut greek, mut latin) = (0usize, 0usize, 0usize);
    // Letters by block, without a Unicode property lookup per character: the Telugu
    // block's digits and fractions (U+0C66 on) and Greek punctuation do not count.
    for c in text.chars() {
        match c {
            'a'..='z' | 'A'..='Z' => latin += 1,
            '\u{0C00}'..='\u{0C65}' => telugu += 1,
            '\u{0386}' | '\u{0388}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => greek += 1,
            _ => {}
        }
    }
    let letters = telugu + greek + latin;
    if letters == 0 {
        return None;
    }
    if telugu * 2 > letters {
        return Some("te");
    }
    if greek * 2 > letters {
        return Some("el");
    }
    const TAGALOG: &[&str] = &[
        "ang", "ng", "mga", "sa", "na", "ay", "po", "ako", "ko", "mo", "hindi", "salamat", "isang",
        "ito", "kung", "para", "namin", "ninyo", "lang", "pa", "rin", "din",
    ];
    const ENGLISH: &[&str] = &[
        "the", "and", "is", "to", "of", "my", "i", "you", "it", "not", "for", "please", "thank",
        "have", "was", "in", "this", "that", "with",
    ];
    let (mut tl, mut en) = (0, 0);
    for word in text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
    {
        if TAGALOG.contains(&word.as_str()) {
            tl += 1;
        } else if ENGLISH.contains(&word.as_str()) {
            en += 1;
        }
    }
    match (tl, en) {
        (t, e) if t >= 2 && t > e => Some("tl"),
        (t, e) if e >= 2 && e >= t => Some("en"),
        _ => None,
    }
}

#[cfg(test)]
mod language_tests {
    use super::guess_language;

    #[test]
    fn short_messages_in_each_language() {
        assert_eq!(guess_language("నా ఆర్డర్ ఇంకా రాలేదు"), Some("te"));
        assert_eq!(
            guess_language("Η παραγγελία μου δεν ήρθε ακόμα"),
            Some("el")
        );
        assert_eq!(
            guess_language("Hindi pa dumating ang order ko, salamat po"),
            Some("tl")
        );
        assert_eq!(
            guess_language("My order has not arrived, please help"),
            Some("en")
        );
        assert_eq!(guess_language("OK"), None);
        assert_eq!(guess_language("12345 !!!"), None);
    }

    /// The texts Seva was conceived from: each is recognised as its own language.
    #[test]
    fn the_shared_corpora_are_recognised() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/seeds");
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the shared corpora are missing at {}: {e}", dir.display()));
        let mut seen = Vec::new();
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let script_says = if text.contains('క') {
                "te"
            } else if text.contains('ε') {
                "el"
            } else {
                "tl"
            };
            assert_eq!(
                guess_language(&text),
                Some(script_says),
                "{}",
                entry.path().display()
            );
            seen.push(script_says);
        }
        for lang in ["te", "el", "tl"] {
            assert!(seen.contains(&lang), "no {lang} text in the corpora");
        }
    }
}

/// Whether `tag` looks like a language tag (`te`, `el`, `pt-BR`, `fil`).
pub fn is_language_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 35
        && tag.split('-').all(|part| {
            !part.is_empty() && part.len() <= 8 && part.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

/// Whether `s` may be the last part of an address as it is: words of lower-case letters
/// (any script), their marks and digits, joined by single dashes; at most 100 graphemes
/// (what [`slug`] makes, 80, and a number that tells two apart). The OpenAPI document's
/// `Slug` says the same in words.
pub fn is_slug(s: &str) -> bool {
    s.graphemes(true).count() <= 100
        && s.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| slug_char(c) && c.to_lowercase().eq([c]))
        })
}

fn slug_char(c: char) -> bool {
    c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c)
}

/// A title made into the last part of an address: words in any script, lower case,
/// joined by dashes (`Πώς γίνονται οι επιστροφές` → `πώς-γίνονται-οι-επιστροφές`).
pub fn slug(title: &str) -> String {
    let mut joined = String::new();
    // A word may hold an apostrophe or a decimal point (`don't`, `3.5`): they part it too.
    for word in title.unicode_words() {
        for part in word.to_lowercase().split(|c| !slug_char(c)) {
            if !part.is_empty() {
                if !joined.is_empty() {
                    joined.push('-');
                }
                joined.push_str(part);
            }
        }
    }
    truncate_graphemes(&joined, 80)
        .trim_end_matches('…')
        .trim_end_matches('-')
        .to_string()
}
