//! An erased message leaves the index's files, not only its results: a deleted document's
//! stored text stays in its segment until a merge rewrites it.

use seva_search::{Kind, MessageDoc, Query, SearchIndex};

/// Whether any file of the index holds these bytes.
fn files_hold(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let bytes = std::fs::read(e.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

fn message<'a>(id: &'a str, text: &'a str) -> MessageDoc<'a> {
    MessageDoc {
        id,
        conversation: "c-1",
        reference: 1,
        subject: "sahod",
        text,
        note: false,
        lang: Some("tl"),
        created: 1_790_000_000,
    }
}

fn hits(index: &SearchIndex, text: &str) -> usize {
    let query = Query {
        text,
        kind: Kind::Message,
        lang: Some("tl"),
        public_only: false,
        published_only: false,
        one_per_group: false,
        limit: 10,
        now: 1_790_000_000,
    };
    index.search(&query).unwrap().hits.len()
}

#[test]
fn an_erased_message_leaves_the_results_and_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let index = SearchIndex::open(&path, 20_000_000).unwrap();
    let secret = "Kulangsahodniboss ang sweldo ko ngayong buwan";
    index.put_message(&message("m-1", secret)).unwrap();
    index
        .put_message(&message("m-2", "Sira ang printer sa opisina"))
        .unwrap();
    index.commit(1).unwrap();
    index
        .put_message(&message("m-3", "Pakiayos ang printer"))
        .unwrap();
    index.commit(2).unwrap();
    assert_eq!(hits(&index, "kulangsahodniboss"), 1);
    // Stored compressed: a word that occurs once is there as it is.
    assert!(files_hold(&path, b"sweldo"));

    index.erase("m-1");
    index.commit(3).unwrap();
    assert_eq!(hits(&index, "kulangsahodniboss"), 0);
    index.purge_if_due().unwrap();
    assert!(
        !files_hold(&path, b"sweldo"),
        "the erased text is still in the index's files"
    );
    // The others are untouched, and a second call has nothing to do.
    assert_eq!(hits(&index, "printer"), 2);
    index.purge_if_due().unwrap();
}
