//! The language a text is written in, as an ISO 639-1 code where one exists.

/// Seva's own guess first (Telugu and Greek by script, Tagalog and English by their
/// commonest words: right on a single short line), then a trigram model for the other
/// common languages, trusted only when it is sure.
pub fn detect(text: &str) -> Option<String> {
    if let Some(code) = seva_core::text::guess_language(text) {
        return Some(code.to_string());
    }
    // The model's time grows with the text; the first few hundred letters of a message
    // tell its language as well as all of it (a long email would otherwise cost the
    // indexer milliseconds).
    let sample: String = text.chars().take(600).collect();
    let info = whatlang::detect(&sample)?;
    if !info.is_reliable() && info.confidence() < 0.3 {
        return None;
    }
    let code = info.lang().code();
    Some(two_letter(code).unwrap_or(code).to_string())
}

fn two_letter(three: &str) -> Option<&'static str> {
    Some(match three {
        "eng" => "en",
        "ell" => "el",
        "tel" => "te",
        "tgl" => "tl",
        "spa" => "es",
        "por" => "pt",
        "fra" => "fr",
        "deu" => "de",
        "ita" => "it",
        "nld" => "nl",
        "rus" => "ru",
        "ukr" => "uk",
        "pol" => "pl",
        "tur" => "tr",
        "ara" => "ar",
        "hin" => "hi",
        "ben" => "bn",
        "tam" => "ta",
        "kan" => "kn",
        "mal" => "ml",
        "mar" => "mr",
        "urd" => "ur",
        "cmn" => "zh",
        "jpn" => "ja",
        "kor" => "ko",
        "vie" => "vi",
        "ind" => "id",
        "tha" => "th",
        "swe" => "sv",
        "dan" => "da",
        "nob" => "nb",
        "fin" => "fi",
        "ces" => "cs",
        "ron" => "ro",
        "hun" => "hu",
        "heb" => "he",
        "pes" => "fa",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::detect;

    #[test]
    fn seva_languages_and_others() {
        assert_eq!(detect("నా ఆర్డర్ ఇంకా రాలేదు").as_deref(), Some("te"));
        assert_eq!(detect("Η παραγγελία μου δεν ήρθε").as_deref(), Some("el"));
        assert_eq!(
            detect("Hindi pa dumating ang order ko po").as_deref(),
            Some("tl")
        );
        assert_eq!(
            detect("Where is my parcel? It has not arrived yet.").as_deref(),
            Some("en")
        );
        assert_eq!(
            detect("Mi pedido todavía no ha llegado, ¿pueden ayudarme por favor?").as_deref(),
            Some("es")
        );
        assert_eq!(
            detect("Meine Bestellung ist noch nicht angekommen, können Sie mir helfen?").as_deref(),
            Some("de")
        );
        assert_eq!(detect("12345"), None);
    }
}
