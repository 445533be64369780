//! How text becomes search terms, the same way for documents and for queries.
//!
//! Words are found by Unicode word segmentation (UAX #29), so a Telugu word keeps its vowel
//! signs and viramas (కస్టమర్ stays one word) and no word is dropped for being long in bytes.
//! Each word is folded by [`seva_core::text::fold`] (compatibility forms unified, lower case,
//! Latin and Greek accents dropped, final sigma made σ). Two more analysers stem the folded
//! words, for the languages that have a good stemmer here: English and Greek.

use tantivy::tokenizer::{
    Language, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer, TokenizerManager,
};
use unicode_segmentation::UnicodeSegmentation;

/// The analyser of every text field: words, folded.
pub const WORDS: &str = "seva_words";
/// Words folded and stemmed as English.
pub const ENGLISH: &str = "seva_en";
/// Words folded and stemmed as Greek.
pub const GREEK: &str = "seva_el";

/// Longer "words" (a pasted key, a base64 run) are not worth a term; tantivy cannot hold
/// a term over 64 KiB at all. 256 bytes is 85 Telugu letters, far beyond any word.
const LONGEST_TERM: usize = 256;

/// Registers the analysers on an index's tokenizer manager.
pub fn register(manager: &TokenizerManager) {
    manager.register(WORDS, TextAnalyzer::from(Words));
    manager.register(
        ENGLISH,
        TextAnalyzer::builder(Words)
            .filter(Stemmer::new(Language::English))
            .build(),
    );
    manager.register(
        GREEK,
        TextAnalyzer::builder(Words)
            .filter(Stemmer::new(Language::Greek))
            .build(),
    );
}

/// The analyser by name, for analysing text outside an index (a copy of one made once).
pub fn analyser(name: &str) -> TextAnalyzer {
    static MANAGER: std::sync::LazyLock<TokenizerManager> = std::sync::LazyLock::new(|| {
        let manager = TokenizerManager::default();
        register(&manager);
        manager
    });
    MANAGER.get(name).expect("a registered analyser")
}

/// The terms `analyser` makes of `text`, in order.
pub fn terms(analyser: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyser.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// One folded word: the fast way for plain ASCII, the full fold otherwise.
pub fn fold_word(word: &str) -> String {
    if word.is_ascii() {
        word.to_ascii_lowercase()
    } else {
        seva_core::text::fold(word)
    }
}

/// Whether a term is written in a script where one wrong letter is a typo (Latin, Greek),
/// rather than another word (in Telugu a changed vowel sign is a different word).
pub fn typo_tolerant(term: &str) -> bool {
    term.chars().all(|c| {
        c.is_ascii_alphabetic()
            || ('\u{00C0}'..='\u{024F}').contains(&c)
            || ('\u{0370}'..='\u{03FF}').contains(&c)
    })
}

/// The word tokenizer: UAX #29 words that hold a letter or a digit, folded.
#[derive(Clone, Default)]
pub struct Words;

pub struct WordStream {
    tokens: Vec<Token>,
    at: usize,
}

impl Tokenizer for Words {
    type TokenStream<'a> = WordStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream {
        let mut tokens = Vec::new();
        for (offset, word) in text.unicode_word_indices() {
            if word.len() > LONGEST_TERM {
                continue;
            }
            tokens.push(Token {
                offset_from: offset,
                offset_to: offset + word.len(),
                position: tokens.len(),
                text: fold_word(word),
                position_length: 1,
            });
        }
        WordStream { tokens, at: 0 }
    }
}

impl TokenStream for WordStream {
    fn advance(&mut self) -> bool {
        self.at += 1;
        self.at <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.at - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.at - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        terms(&mut analyser(WORDS), text)
    }

    #[test]
    fn telugu_words_stay_whole() {
        assert_eq!(words("కస్టమర్ సేవ"), ["కస్టమర్", "సేవ"]);
        // Fifteen letters, 45 bytes: kept whole, where a 40-byte limit would drop it.
        assert_eq!(words("వినియోగదారులకు"), ["వినియోగదారులకు"]);
    }

    #[test]
    fn greek_case_accents_and_final_sigma_meet() {
        let folded = words("πελατών ΠΕΛΑΤΩΝ πελατων");
        assert!(folded.iter().all(|w| w == "πελατων"), "{folded:?}");
        assert_eq!(words("Πελάτης"), words("ΠΕΛΑΤΗΣ"));
        assert_eq!(words("πελάτης"), ["πελατησ"]);
    }

    #[test]
    fn stemming_where_a_stemmer_exists() {
        assert_eq!(
            terms(&mut analyser(ENGLISH), "customers refunded"),
            ["custom", "refund"]
        );
        let greek = terms(&mut analyser(GREEK), "πελάτες πελάτης");
        assert_eq!(greek[0], greek[1], "{greek:?}");
    }

    #[test]
    fn long_junk_is_not_a_term_and_nothing_panics() {
        let junk = "a".repeat(10_000);
        assert!(words(&junk).is_empty());
        assert_eq!(words("!!! ... ---"), Vec::<String>::new());
        assert_eq!(words("Tagalog: Salamat po!"), ["tagalog", "salamat", "po"]);
    }
}
