//! The knowledge base, search and the answering bot through a real server: articles and
//! their translations over the API, revisions with diff and restore, the public help
//! center's pages, search that is right in every script, and the bot on the real chat
//! protocol and the web form.

mod common;

use std::time::Duration;

use common::chat::*;
use common::{Seva, search_until, team};
use serde_json::{Value, json};

fn article(seva: &Seva, body: Value) -> Value {
    let (s, a) = seva.api("POST", "/api/v1/articles", Some(body));
    assert_eq!(s, 201, "{a}");
    a
}

fn ids(hits: &[Value]) -> Vec<&str> {
    hits.iter().map(|h| h["id"].as_str().unwrap()).collect()
}

fn q(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn get(seva: &Seva, path: &str) -> (u16, String) {
    let res = Seva::agent().get(&seva.url(path)).call().unwrap();
    let status = res.status().as_u16();
    (status, res.into_body().read_to_string().unwrap())
}

/// A refund article in English with Greek and Telugu translations, and an internal one.
fn refund_articles(seva: &Seva) -> (Value, Value, Value, Value) {
    let en = article(
        seva,
        json!({"lang": "en", "title": "How refunds work", "status": "published",
               "body": "# Refunds\n\nA refund reaches your card within five days of the return arriving at our warehouse."}),
    );
    let el = article(
        seva,
        json!({"lang": "el", "title": "Πώς γίνονται οι επιστροφές χρημάτων", "status": "published", "translation_of": en["id"],
               "body": "Η επιστροφή χρημάτων φτάνει στην κάρτα σας μέσα σε πέντε ημέρες από την παραλαβή της επιστροφής."}),
    );
    let te = article(
        seva,
        json!({"lang": "te", "title": "వాపసు ఎలా పనిచేస్తుంది", "status": "published", "translation_of": en["id"],
               "body": "వినియోగదారులకు వాపసు ఐదు రోజులలో కార్డుకు చేరుతుంది. కస్టమర్ సేవ మీకు సహాయం చేస్తుంది."}),
    );
    let internal = article(
        seva,
        json!({"lang": "en", "title": "Refund approval procedure", "status": "published", "visibility": "internal",
               "body": "Refunds above 500 need a supervisor's approval in the payments console."}),
    );
    (en, el, te, internal)
}

#[test]
fn articles_are_found_in_every_script_and_the_help_center_serves_them() {
    let seva = Seva::start();
    let (en, el, te, internal) = refund_articles(&seva);
    assert_eq!(el["group_id"], en["id"]);
    assert!(
        en["html"].as_str().unwrap().contains("<h1>Refunds</h1>"),
        "{en}"
    );

    // Greek in any case and accent, the Greek translation first and alone of its group.
    for query in [
        "επιστροφές χρημάτων",
        "ΕΠΙΣΤΡΟΦΕΣ ΧΡΗΜΑΤΩΝ",
        "επιστροφες χρηματων",
    ] {
        let hits = search_until(&seva, &format!("/api/v1/search?q={}", q(query)), |h| {
            !h.is_empty()
        });
        assert_eq!(hits[0]["id"], el["id"], "{query}: {hits:?}");
    }
    // Whole Telugu words; a fragment a naive tokenizer would make finds nothing.
    let hits = search_until(
        &seva,
        &format!("/api/v1/search?q={}", q("వినియోగదారులకు")),
        |h| !h.is_empty(),
    );
    assert_eq!(ids(&hits), [te["id"].as_str().unwrap()]);
    let (_, none) = seva.api("GET", &format!("/api/v1/search?q={}", q("కస")), None);
    assert_eq!(none["hits"], json!([]), "{none}");
    // Agents find the internal article; the public never does.
    let hits = search_until(&seva, "/api/v1/search?q=refund+approval", |h| !h.is_empty());
    assert_eq!(hits[0]["id"], internal["id"]);
    let (s, public) = get(&seva, "/help/en/search.json?q=refund+approval");
    assert_eq!(s, 200);
    assert!(!public.contains("Refund approval procedure"), "{public}");
    assert!(public.contains("How refunds work"), "{public}");

    // The article page: canonical, hreflang for each translation, the Telugu text whole.
    let slug = te["slug"].as_str().unwrap();
    let path = format!("/help/te/{}", q(slug));
    let (s, page) = get(&seva, &path);
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("rel=\"canonical\""), "{page}");
    for lang in ["en", "el", "te"] {
        assert!(
            page.contains(&format!("hreflang=\"{lang}\"")),
            "{lang}: {page}"
        );
    }
    assert!(page.contains("వినియోగదారులకు"));
    let (s, sitemap) = get(&seva, "/help/sitemap.xml");
    assert_eq!(s, 200);
    assert!(
        sitemap.contains("/help/el/")
            && sitemap.contains("/help/te/")
            && !sitemap.contains("approval"),
        "{sitemap}"
    );

    // Feedback, counted for the article.
    let res = Seva::agent()
        .post(&seva.url(&format!("{path}/feedback")))
        .header("content-type", "application/x-www-form-urlencoded")
        .send("helpful=no&comment=which+card%3F")
        .unwrap();
    assert!(res.status().as_u16() == 200 || res.status().as_u16() == 303);
    let (_, h) = seva.api(
        "GET",
        &format!(
            "/api/v1/articles/{}/helpfulness",
            te["id"].as_str().unwrap()
        ),
        None,
    );
    assert_eq!(
        (h["helpful"].as_i64(), h["not_helpful"].as_i64()),
        (Some(0), Some(1)),
        "{h}"
    );
    assert_eq!(h["comments"], json!(["which card?"]));
}

#[test]
fn revisions_diff_restore_and_translations_that_fall_behind() {
    let seva = Seva::start();
    let (en, _el, _te, _) = refund_articles(&seva);
    let id = en["id"].as_str().unwrap();
    let (s, v2) = seva.api(
        "PUT",
        &format!("/api/v1/articles/{id}"),
        Some(json!({"lang": "en", "title": "How refunds work", "status": "published",
                    "body": "# Refunds\n\nA refund reaches your card within three days.", "note": "faster now"})),
    );
    assert_eq!(s, 200, "{v2}");
    assert_eq!(v2["revision"], 2);
    let (_, diff) = seva.api(
        "GET",
        &format!("/api/v1/articles/{id}/diff?from=1&to=2"),
        None,
    );
    let lines = diff["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l[0] == "-" && l[1].as_str().unwrap().contains("five days")),
        "{diff}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l[0] == "+" && l[1].as_str().unwrap().contains("three days")),
        "{diff}"
    );

    // The translations were made from revision 1: out of date now; Tagalog is missing.
    let (_, coverage) = seva.api("GET", "/api/v1/knowledge/coverage", None);
    let group = coverage
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["original"]["id"] == id)
        .unwrap();
    assert_eq!(group["outdated"], json!(["el", "te"]), "{group}");
    assert_eq!(group["missing"], json!(["tl"]), "{group}");

    let (s, v3) = seva.api(
        "POST",
        &format!("/api/v1/articles/{id}/revisions/1/restore"),
        None,
    );
    assert_eq!(s, 200, "{v3}");
    assert_eq!(v3["revision"], 3);
    assert!(v3["body"].as_str().unwrap().contains("five days"));
    let (_, revisions) = seva.api("GET", &format!("/api/v1/articles/{id}/revisions"), None);
    assert_eq!(revisions.as_array().unwrap().len(), 3);
}

#[test]
fn bad_articles_and_queries_get_clear_answers() {
    let seva = Seva::start();
    // 5 MB of Markdown: refused, naming the field.
    let big = "word ".repeat(1_000_000);
    let (s, p) = seva.api(
        "POST",
        "/api/v1/articles",
        Some(json!({"lang": "en", "title": "Big", "body": big})),
    );
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["field"], "body", "{p}");
    // Script in an article never reaches a page; malformed Markdown is shown as text.
    let a = article(
        &seva,
        json!({"lang": "en", "title": "Shipping <script>alert(1)</script>", "status": "published",
               "body": "**unclosed [link]( `x\n\n<script>alert('x')</script><img src=x onerror=alert(2)>\n> > >"}),
    );
    let html = a["html"].as_str().unwrap();
    assert!(
        !html.contains("<script") && !html.contains("onerror"),
        "{html}"
    );
    let (s, page) = get(&seva, &format!("/help/en/{}", a["slug"].as_str().unwrap()));
    assert_eq!(s, 200);
    assert!(
        !page.contains("<script>alert")
            && !page.contains("onerror=")
            && page.contains("<h1>Shipping &#60;script&#62;"),
        "{page}"
    );
    // A query of 10,000 characters: the API names the field; the help center says it cut it.
    let long = "a".repeat(10_000);
    let (s, p) = seva.api("GET", &format!("/api/v1/search?q={long}"), None);
    assert_eq!((s, p["field"].as_str()), (422, Some("q")), "{p}");
    let (s, page) = get(&seva, &format!("/help/en/search?q={long}"));
    assert_eq!(s, 200);
    assert!(page.contains("1000"), "the page says what was searched");
    let (s, p) = seva.api(
        "POST",
        "/api/v1/articles",
        Some(json!({"lang": "en", "title": "", "body": "x"})),
    );
    assert_eq!((s, p["field"].as_str()), (422, Some("title")), "{p}");
    let (s, p) = seva.api(
        "POST",
        "/api/v1/articles",
        Some(json!({"lang": "en", "title": "x", "visibility": "secret"})),
    );
    assert_eq!((s, p["field"].as_str()), (422, Some("visibility")), "{p}");
    let (s, p) = seva.api(
        "POST",
        "/api/v1/articles",
        Some(json!({"lang": "el", "title": "x", "translation_of": "01a24140-f3b5-75ad-b776-e30cf480c3e8"})),
    );
    assert_eq!(
        (s, p["field"].as_str()),
        (422, Some("translation_of")),
        "{p}"
    );
    // A slug is lower-case words of any script joined by single dashes, as the API's
    // document says; a search's limit is within its bounds, not quietly clamped.
    for bad in ["Refunds", "don't", "a--b"] {
        let (s, p) = seva.api(
            "POST",
            "/api/v1/articles",
            Some(json!({"lang": "en", "title": "x", "slug": bad})),
        );
        assert_eq!((s, p["field"].as_str()), (422, Some("slug")), "{bad}: {p}");
    }
    let greek = article(
        &seva,
        json!({"lang": "el", "title": "Επιστροφές", "slug": "πώς-γίνονται-οι-επιστροφές-2"}),
    );
    assert_eq!(greek["slug"], "πώς-γίνονται-οι-επιστροφές-2");
    // An empty slug is no slug: it is made from the title, and an edit keeps it.
    let made = article(
        &seva,
        json!({"lang": "en", "title": "Don't pay twice", "slug": ""}),
    );
    assert_eq!(made["slug"], "don-t-pay-twice");
    let path = format!("/api/v1/articles/{}", made["id"].as_str().unwrap());
    let (s, edited) = seva.api(
        "PUT",
        &path,
        Some(json!({"lang": "en", "title": "Don't pay twice", "slug": "", "body": "Once."})),
    );
    assert_eq!(
        (s, edited["slug"].as_str()),
        (200, Some("don-t-pay-twice")),
        "{edited}"
    );
    for limit in ["0", "101"] {
        let (s, p) = seva.api("GET", &format!("/api/v1/search?q=x&limit={limit}"), None);
        assert_eq!((s, p["field"].as_str()), (422, Some("limit")), "{p}");
    }
    // A category's slug that another has is a conflict, not a bad field; the first stays.
    let category = json!({"slug": "χρεώσεις", "names": {"el": "Χρεώσεις"}});
    let (s, first) = seva.api(
        "POST",
        "/api/v1/knowledge/categories",
        Some(category.clone()),
    );
    assert_eq!(s, 201, "{first}");
    let (s, p) = seva.api("POST", "/api/v1/knowledge/categories", Some(category));
    assert_eq!(s, 409, "{p}");
    let (_, list) = seva.api("GET", "/api/v1/knowledge/categories", None);
    let same: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["slug"] == "χρεώσεις")
        .collect();
    assert_eq!(same.len(), 1, "{list}");
}

fn bot_inbox(seva: &Seva, team: &str) -> String {
    let (s, body) = seva.api(
        "POST",
        "/api/v1/inboxes",
        Some(json!({"name": "bot-chat", "channel": "chat", "team_id": team,
                    "settings": {"allowed_origins": ["http://shop.test"], "bot": {"enabled": true, "threshold": 0.5}}})),
    );
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// The next line the visitor is shown from `from` (`bot` or `agent`).
fn line_from(ws: &mut Socket, from: &str) -> Value {
    loop {
        let f = next(ws);
        if f["type"] == "message" && f["from"] == from {
            return f;
        }
    }
}

fn bot_state(seva: &Seva, conversation: &str) -> Value {
    let (_, c) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}"),
        None,
    );
    c
}

#[test]
fn the_bot_answers_from_articles_and_a_yes_is_self_served() {
    let seva = Seva::start();
    let team = team(&seva, "Support", json!({"strategy": "manual"}), &[]);
    let (en, ..) = refund_articles(&seva);
    search_until(&seva, "/api/v1/search?q=refund+card", |h| !h.is_empty());
    let inbox = bot_inbox(&seva, &team);
    let mut ws = connect(&seva, &inbox);
    hello(&mut ws, None, 0);
    say(&mut ws, "c1", "When does my refund reach my card?");
    let offer = line_from(&mut ws, "bot");
    let text = offer["text"].as_str().unwrap();
    assert!(
        text.contains("How refunds work") && text.contains("/help/en/"),
        "{text}"
    );
    say(&mut ws, "c2", "yes, thanks");
    let glad = line_from(&mut ws, "bot");
    assert!(glad["text"].as_str().unwrap().contains("Glad"), "{glad}");
    let conversation = conversation_of(&seva, "When does my refund");
    let c = bot_state(&seva, &conversation);
    assert_eq!(c["status"], "solved", "{c}");
    assert!(c["team_id"].is_null(), "no person was involved: {c}");
    let (_, stats) = seva.api("GET", "/api/v1/bot/stats", None);
    assert_eq!(
        (stats["self_served"].as_i64(), stats["handed_off"].as_i64()),
        (Some(1), Some(0)),
        "{stats}"
    );
    assert_eq!(stats["articles"][0]["article_id"], en["id"]);
    assert_eq!(stats["articles"][0]["solved"], 1);
}

#[test]
fn a_customer_who_asks_for_a_person_in_any_language_reaches_the_queue_at_once() {
    let seva = Seva::start();
    let team = team(&seva, "Support", json!({"strategy": "manual"}), &[]);
    refund_articles(&seva);
    search_until(&seva, "/api/v1/search?q=refund+card", |h| !h.is_empty());
    let inbox = bot_inbox(&seva, &team);
    for (i, word) in ["human", "మనిషి", "Άνθρωπος", "tao po", "0"]
        .iter()
        .enumerate()
    {
        let mut ws = connect(&seva, &inbox);
        hello(&mut ws, None, 0);
        let question = format!("Question {i}: when does my refund reach my card?");
        say(&mut ws, "q", &question);
        let offer = line_from(&mut ws, "bot");
        assert!(offer["text"].as_str().unwrap().contains("How refunds work"));
        say(&mut ws, "p", word);
        let handoff = line_from(&mut ws, "bot");
        assert!(
            !handoff["text"].as_str().unwrap().contains("How refunds"),
            "{handoff}"
        );
        let conversation = conversation_of(&seva, &format!("Question {i}:"));
        let c = bot_state(&seva, &conversation);
        assert_eq!(
            c["team_id"].as_str(),
            Some(team.as_str()),
            "{word}: in the team's queue: {c}"
        );
        // The agent sees what the bot offered and why it handed over.
        let (_, messages) = seva.api(
            "GET",
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        );
        let note = messages
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["kind"] == "system")
            .unwrap_or_else(|| panic!("{messages}"));
        let note = note["text"].as_str().unwrap();
        assert!(
            note.contains("asked for a person") && note.contains("How refunds work"),
            "{note}"
        );
        // No second bot reply after the handoff.
        say(&mut ws, "after", "when does my refund reach my card?");
        std::thread::sleep(Duration::from_millis(700));
        let (_, messages) = seva.api(
            "GET",
            &format!("/api/v1/conversations/{conversation}/messages"),
            None,
        );
        let bot_lines = messages
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "outbound" && m["author_agent_id"].is_null())
            .count();
        assert_eq!(
            bot_lines, 2,
            "{word}: the offer and the handoff, nothing after: {messages}"
        );
    }
    // The widget's button: a handoff frame.
    let mut ws = connect(&seva, &inbox);
    hello(&mut ws, None, 0);
    say(
        &mut ws,
        "q",
        "Something no article covers at all, zebra xylophone",
    );
    let no_match = line_from(&mut ws, "bot");
    assert!(
        no_match["text"]
            .as_str()
            .unwrap()
            .contains("could not find"),
        "{no_match}"
    );
    let conversation = conversation_of(&seva, "zebra xylophone");
    assert_eq!(
        bot_state(&seva, &conversation)["team_id"].as_str(),
        Some(team.as_str())
    );
    // The widget's always-visible button sends a handoff frame: at once, mid-offer.
    let mut ws = connect(&seva, &inbox);
    hello(&mut ws, None, 0);
    say(&mut ws, "q", "Button: when does my refund reach my card?");
    line_from(&mut ws, "bot");
    send(&mut ws, json!({"type": "handoff", "lang": "el"}));
    let told = line_from(&mut ws, "bot");
    assert!(
        told["text"].as_str().unwrap().contains("ομάδα"),
        "in the visitor's language: {told}"
    );
    let conversation = conversation_of(&seva, "Button:");
    assert_eq!(
        bot_state(&seva, &conversation)["team_id"].as_str(),
        Some(team.as_str())
    );
    // Pressed before writing: the chat starts with a person, the bot never speaks.
    let mut ws = connect(&seva, &inbox);
    hello(&mut ws, None, 0);
    send(&mut ws, json!({"type": "handoff", "lang": "en"}));
    say(
        &mut ws,
        "q",
        "Straight to a person: when does my refund reach my card?",
    );
    let conversation = conversation_of(&seva, "Straight to a person");
    assert_eq!(
        bot_state(&seva, &conversation)["team_id"].as_str(),
        Some(team.as_str())
    );
    std::thread::sleep(Duration::from_millis(500));
    let (_, messages) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}/messages"),
        None,
    );
    assert_eq!(
        messages.as_array().unwrap().len(),
        1,
        "only the customer's: {messages}"
    );
    let (_, stats) = seva.api("GET", "/api/v1/bot/stats", None);
    assert_eq!(stats["handed_off"], 7, "{stats}");
}

#[test]
fn the_web_form_suggests_articles_and_agents_get_suggestions_and_flag() {
    let seva = Seva::start();
    let (en, ..) = refund_articles(&seva);
    search_until(&seva, "/api/v1/search?q=refund+card", |h| !h.is_empty());
    let (_, page) = common::submit_form(
        &seva,
        &[
            ("name", "Maria"),
            ("email", "maria@example.com"),
            ("subject", "Refund"),
            ("message", "When does the refund reach my card?"),
        ],
        &[],
    );
    assert!(
        page.contains("How refunds work") && page.contains("/help/en/"),
        "{page}"
    );
    let (_, list) = seva.api("GET", "/api/v1/conversations?limit=10", None);
    let conversation = list["data"][0]["id"].as_str().unwrap().to_string();
    let (s, suggestions) = seva.api(
        "GET",
        &format!("/api/v1/conversations/{conversation}/suggestions"),
        None,
    );
    assert_eq!(s, 200, "{suggestions}");
    assert!(
        suggestions
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["id"] == en["id"]),
        "{suggestions}"
    );
    // Messages are searchable by agents too.
    let hits = search_until(&seva, "/api/v1/search?kind=messages&q=refund+card", |h| {
        !h.is_empty()
    });
    assert_eq!(
        hits[0]["conversation"].as_str(),
        Some(conversation.as_str())
    );
    let (s, _) = seva.api(
        "POST",
        &format!("/api/v1/articles/{}/flags", en["id"].as_str().unwrap()),
        Some(json!({"reason": "Refunds take three days now"})),
    );
    assert_eq!(s, 204);
    let (_, flags) = seva.api(
        "GET",
        &format!("/api/v1/articles/{}/flags", en["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(flags[0]["reason"], "Refunds take three days now");
}

#[test]
fn kb_import_export_and_reindex_from_the_command_line() {
    let mut seva = Seva::start();
    let dir = tempfile::tempdir().unwrap();
    let seeds =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/seeds");
    let mut n = 0;
    for entry in std::fs::read_dir(&seeds).expect("the shared corpora") {
        let p = entry.unwrap().path();
        std::fs::copy(
            &p,
            dir.path().join(p.file_name().unwrap()).with_extension("md"),
        )
        .unwrap();
        n += 1;
    }
    std::fs::write(
        dir.path().join("refund-el.md"),
        "---\nlang: el\ntitle: \"Επιστροφές\"\ntranslation_of: en/refunds\nstatus: published\n---\nΗ επιστροφή χρημάτων.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("refund-en.md"),
        "---\nlang: en\ntitle: Refunds\nslug: refunds\ncategory: billing\ntags: [money, card]\nstatus: published\n---\nRefunds take five days.\n",
    )
    .unwrap();
    let out = seva.cli(&["kb", "import", "--publish", dir.path().to_str().unwrap()]);
    assert!(out.contains(&format!("{} created", n + 2)), "{out}");
    let hits = search_until(
        &seva,
        &format!("/api/v1/search?q={}", q("సాధ్యమైనప్పుడల్లా")),
        |h| !h.is_empty(),
    );
    assert_eq!(hits[0]["lang"], "te");
    let (_, greek) = seva.api(
        "GET",
        &format!("/api/v1/search?q={}", q("ΕΞΥΠΗΡΕΤΗΣΗ ΠΕΛΑΤΩΝ")),
        None,
    );
    assert_eq!(greek["hits"][0]["lang"], "el", "{greek}");
    let (_, tagalog) = seva.api("GET", "/api/v1/search?q=kagawaran+ng+serbisyo", None);
    assert_eq!(tagalog["hits"][0]["lang"], "tl", "{tagalog}");

    let out_dir = tempfile::tempdir().unwrap();
    seva.cli(&["kb", "export", out_dir.path().to_str().unwrap()]);
    let exported =
        std::fs::read_to_string(out_dir.path().join("el").join("επιστροφές.md")).unwrap();
    assert!(
        exported.contains("translation_of: ") && exported.contains("Η επιστροφή χρημάτων."),
        "{exported}"
    );

    // With the server stopped, the index is rebuilt from the database; after a restart
    // search answers as before.
    seva.kill();
    let out = seva.cli(&["reindex"]);
    assert!(out.contains("search index rebuilt"), "{out}");
    seva.restart();
    let hits = search_until(
        &seva,
        &format!("/api/v1/search?q={}", q("సాధ్యమైనప్పుడల్లా")),
        |h| !h.is_empty(),
    );
    assert_eq!(hits[0]["lang"], "te");
}

/// The two counts of `seva_search_messages_indexed_total`: messages taken from the event
/// that created them, and messages read back from the store.
fn indexed(seva: &Seva) -> (u64, u64) {
    let (_, metrics) = get(seva, "/metrics");
    let count = |from: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "seva_search_messages_indexed_total{{from=\"{from}\"}} "
                ))
            })
            .unwrap_or_else(|| panic!("/metrics has no indexed count from {from}: {metrics}"))
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    (count("event"), count("store"))
}

/// The messages a desk writes are put in the index from the events that created them,
/// with nothing read back from the store (on SQLite, where events are numbered without
/// gaps), and what is found is what was stored: the conversation's subject and number, a
/// note marked as one, in any script. Killed and started again, the index catches up from
/// the log, and every message is still found once.
#[test]
fn messages_are_indexed_from_their_events_and_caught_up_from_the_log_after_a_crash() {
    let mut seva = Seva::start();
    search_until(&seva, "/api/v1/search?kind=messages&q=anything", |_| true);
    let before = indexed(&seva);
    let (s, c) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(
            json!({"contact": {"email": "ravi@example.com", "name": "Ravi"},
                    "subject": "వాపసు ఇంకా రాలేదు", "text": "నా వాపసు ఇంకా కార్డుకు చేరలేదు"}),
        ),
    );
    assert_eq!(s, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let (s, note) = seva.api(
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(json!({"kind": "note", "text": "Η επιστροφή χρημάτων καθυστερεί στην τράπεζα"})),
    );
    assert_eq!(s, 201, "{note}");

    let customer = search_until(
        &seva,
        &format!("/api/v1/search?kind=messages&q={}", q("కార్డుకు")),
        |h| !h.is_empty(),
    );
    assert_eq!(customer.len(), 1, "{customer:?}");
    assert_eq!(customer[0]["conversation"], c["id"]);
    assert_eq!(customer[0]["reference"], c["reference"]);
    assert_eq!(customer[0]["title"], "వాపసు ఇంకా రాలేదు");
    assert_eq!(customer[0]["note"], false);
    let noted = search_until(
        &seva,
        &format!("/api/v1/search?kind=messages&q={}", q("τράπεζα")),
        |h| !h.is_empty(),
    );
    assert_eq!(noted.len(), 1, "{noted:?}");
    assert_eq!(noted[0]["id"], note["id"]);
    assert_eq!(noted[0]["note"], true);
    assert_eq!(noted[0]["title"], "వాపసు ఇంకా రాలేదు");

    let after = indexed(&seva);
    let (from_events, from_store) = (after.0 - before.0, after.1 - before.1);
    assert_eq!(from_events + from_store, 2, "{before:?} → {after:?}");
    if !seva.on_postgres() {
        assert_eq!((from_events, from_store), (2, 0), "{before:?} → {after:?}");
    }

    // Written right before a SIGKILL: the index may not have committed it.
    let (s, tl) = seva.api(
        "POST",
        "/api/v1/conversations",
        Some(
            json!({"contact": {"email": "maria@example.com"}, "subject": "Order",
                    "text": "Hindi pa dumarating ang order ko, salamat po"}),
        ),
    );
    assert_eq!(s, 201, "{tl}");
    seva.kill();
    seva.restart();
    for (word, conversation) in [
        ("dumarating", &tl["id"]),
        ("కార్డుకు", &c["id"]),
        ("τράπεζα", &c["id"]),
    ] {
        let hits = search_until(
            &seva,
            &format!("/api/v1/search?kind=messages&q={}", q(word)),
            |h| !h.is_empty(),
        );
        assert_eq!(hits.len(), 1, "{word}: {hits:?}");
        assert_eq!(&hits[0]["conversation"], conversation, "{word}");
    }
}
