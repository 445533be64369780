//! Search over the texts Seva was conceived from (Telugu, Greek, Tagalog) and a few of our
//! own, through a real index on disk.

use seva_search::{ArticleDoc, Kind, Query, SearchIndex};

const NOW: i64 = 1_790_000_000;

fn seeds() -> Vec<(String, String)> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/seeds");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the shared corpora are missing at {}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn article<'a>(
    id: &'a str,
    group: &'a str,
    lang: &'a str,
    title: &'a str,
    text: &'a str,
) -> ArticleDoc<'a> {
    ArticleDoc {
        id,
        group,
        lang,
        slug: id,
        title,
        text,
        tags: &[],
        category: None,
        public: true,
        published: true,
        updated: NOW - 86_400,
    }
}

fn index() -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(&dir.path().join("index"), 20_000_000).unwrap();
    assert!(index.is_fresh());
    let seeds = seeds();
    assert_eq!(seeds.len(), 5);
    for (id, text) in &seeds {
        let title = text.lines().next().unwrap();
        let lang = seva_search::language::detect(text).unwrap();
        index
            .put_article(&article(id, id, &lang, title, text))
            .unwrap();
    }
    // One article in three languages: a translation group.
    index
        .put_article(&article(
            "refund-en",
            "refund",
            "en",
            "How refunds work",
            "A refund reaches your card within five days of the return arriving.",
        ))
        .unwrap();
    index
        .put_article(&article(
            "refund-el",
            "refund",
            "el",
            "Πώς γίνονται οι επιστροφές χρημάτων",
            "Η επιστροφή χρημάτων (refund) φτάνει στην κάρτα σας μέσα σε πέντε ημέρες.",
        ))
        .unwrap();
    index
        .put_article(&article(
            "refund-tl",
            "refund",
            "tl",
            "Paano gumagana ang refund",
            "Ang refund ay darating sa inyong card sa loob ng limang araw.",
        ))
        .unwrap();
    index.commit(42).unwrap();
    (dir, index)
}

fn ids(index: &SearchIndex, text: &str) -> Vec<String> {
    find(index, text, false).into_iter().map(|h| h.id).collect()
}

fn find(index: &SearchIndex, text: &str, one_per_group: bool) -> Vec<seva_search::Hit> {
    index
        .search(&Query {
            text,
            kind: Kind::Article,
            lang: None,
            public_only: true,
            published_only: true,
            one_per_group,
            limit: 10,
            now: NOW,
        })
        .unwrap()
        .hits
}

#[test]
fn whole_telugu_words_are_found_and_fragments_are_not() {
    let (_d, index) = index();
    let hits = ids(&index, "కస్టమర్");
    assert!(
        hits.contains(&"000_4eff0d48b67f44ed".to_string()),
        "{hits:?}"
    );
    assert!(
        hits.iter()
            .all(|h| ["000", "001", "004"].iter().any(|p| h.starts_with(p))),
        "{hits:?}"
    );
    // Seventeen letters, 51 bytes: a word a 40-byte token limit would have dropped.
    assert!(!ids(&index, "సాధ్యమైనప్పుడల్లా").is_empty());
    // The fragments a naive tokenizer makes of కస్టమర్ match nothing.
    assert!(ids(&index, "కస").is_empty(), "{:?}", ids(&index, "కస"));
    assert!(ids(&index, "టమర").is_empty());
}

#[test]
fn greek_in_any_case_and_accent() {
    let (_d, index) = index();
    for q in ["πελατών", "ΠΕΛΑΤΩΝ", "πελατων", "Πελατών"] {
        assert_eq!(
            ids(&index, q).first().map(String::as_str),
            Some("002_5e32f79e21794adb"),
            "{q}"
        );
    }
    // Stemmed: the singular finds the text that has the plural.
    assert!(ids(&index, "πελάτης").contains(&"002_5e32f79e21794adb".to_string()));
}

#[test]
fn tagalog_and_english_with_a_typo() {
    let (_d, index) = index();
    assert_eq!(
        ids(&index, "kagawaran ng serbisyo")
            .first()
            .map(String::as_str),
        Some("003_7405d99d0319b2f2")
    );
    assert_eq!(
        ids(&index, "refunds").first().map(String::as_str),
        Some("refund-en")
    );
    // One wrong letter in a Latin-script word still finds it.
    assert!(ids(&index, "refnud card").contains(&"refund-en".to_string()));
}

#[test]
fn a_query_finds_its_own_languages_translation_first() {
    let (_d, index) = index();
    let greek = find(&index, "επιστροφή χρημάτων refund", true);
    assert_eq!(greek[0].id, "refund-el");
    assert!(
        greek
            .iter()
            .all(|h| h.group.as_deref() != Some("refund") || h.id == "refund-el")
    );
    let tagalog = find(&index, "paano ang refund sa card", false);
    assert_eq!(
        tagalog[0].id,
        "refund-tl",
        "{:?}",
        tagalog.iter().map(|h| &h.id).collect::<Vec<_>>()
    );
    let english = find(&index, "how do refunds reach my card", false);
    assert_eq!(english[0].id, "refund-en");
    assert!(english[0].coverage >= 0.99, "{:?}", english[0]);
}

#[test]
fn snippets_highlight_and_escape() {
    let (_d, index) = index();
    let dir = tempfile::tempdir().unwrap();
    let other = SearchIndex::open(&dir.path().join("i"), 20_000_000).unwrap();
    other
        .put_article(&article(
            "x",
            "x",
            "en",
            "<script>alert(1)</script> Shipping",
            "Shipping takes <b>two</b> days & costs nothing.",
        ))
        .unwrap();
    other.commit(1).unwrap();
    let hit = &find(&other, "shipping", false)[0];
    assert!(
        hit.title_html.contains("&lt;script&gt;") && !hit.title_html.contains("<script>"),
        "{}",
        hit.title_html
    );
    assert!(
        hit.snippet_html.contains("<b>Shipping</b>"),
        "{}",
        hit.snippet_html
    );
    assert!(
        hit.snippet_html.contains("&lt;b&gt;two"),
        "{}",
        hit.snippet_html
    );
    drop(index);
}

#[test]
fn long_queries_and_reopening() {
    let (dir, index) = index();
    let long = "customer ".repeat(1_200) + &"x".repeat(10_000);
    let found = index
        .search(&Query {
            text: &long,
            kind: Kind::Article,
            lang: None,
            public_only: false,
            published_only: false,
            one_per_group: false,
            limit: 5,
            now: NOW,
        })
        .unwrap();
    assert!(!found.truncated, "one distinct word, repeated");
    let many: String = (0..100).map(|i| format!("w{i} ")).collect();
    let found = index
        .search(&Query {
            text: &many,
            kind: Kind::Article,
            lang: None,
            public_only: false,
            published_only: false,
            one_per_group: false,
            limit: 5,
            now: NOW,
        })
        .unwrap();
    assert!(found.truncated);
    assert_eq!(index.checkpoint(), Some(42));
    let docs = index.documents();
    drop(index);
    let again = SearchIndex::open(&dir.path().join("index"), 20_000_000).unwrap();
    assert!(!again.is_fresh());
    assert_eq!(again.checkpoint(), Some(42));
    assert_eq!(again.documents(), docs);
}
