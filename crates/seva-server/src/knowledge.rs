//! The knowledge base as the server uses it: Markdown made into safe HTML, articles saved
//! from any door (API, pages, `seva kb import`), and searches for the help center, the
//! bot and agents.

use std::collections::HashSet;
use std::sync::LazyLock;

use seva_core::{AgentId, ArticleId};
use seva_search::{Found, Kind, Query};
use seva_store::knowledge::{self, Article, Draft};
use seva_store::{Store, op};

use crate::Shared;

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.url_schemes(HashSet::from(["http", "https", "mailto", "tel"]))
        // Links between articles are relative (`/help/te/…`).
        .url_relative(ammonia::UrlRelative::PassThrough)
        .link_rel(Some("noopener noreferrer"))
        .strip_comments(true)
        .add_generic_attributes(["dir", "lang"]);
    b
});

/// Markdown as safe HTML: CommonMark with tables and strikethrough; raw HTML in the
/// Markdown passes only through the sanitiser (no scripts, handlers, frames or styles).
/// Markdown has no syntax errors: whatever is malformed is shown as the text it is.
pub fn render(markdown: &str) -> String {
    use pulldown_cmark::{Options, Parser, html};
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    let mut out = String::with_capacity(markdown.len() + markdown.len() / 4);
    html::push_html(&mut out, Parser::new_ext(markdown, opts));
    CLEANER.clean(&out).to_string()
}

/// What a caller asks to save; the HTML is made here.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub lang: String,
    pub slug: Option<String>,
    pub title: String,
    pub body: String,
    pub category_id: Option<seva_core::CategoryId>,
    pub tags: Vec<String>,
    pub visibility: String,
    pub status: String,
    pub translation_of: Option<ArticleId>,
    pub note: Option<String>,
}

/// Creates (`id` none) or updates an article.
pub async fn save(
    store: &Store,
    id: Option<ArticleId>,
    i: &Input,
    author: Option<AgentId>,
) -> seva_store::Result<Article> {
    if i.body.len() > knowledge::MAX_BODY {
        // Said before rendering megabytes for nothing.
        return Err(seva_store::Error::invalid(
            "body",
            format!(
                "at most {} MiB of Markdown; split the article",
                knowledge::MAX_BODY / 1024 / 1024
            ),
        ));
    }
    let html = render(&i.body);
    let i = i.clone();
    store
        .write(op!(c => {
            let d = Draft {
                lang: &i.lang,
                slug: i.slug.as_deref(),
                title: &i.title,
                body: &i.body,
                html: &html,
                category_id: i.category_id,
                tags: &i.tags,
                visibility: &i.visibility,
                status: &i.status,
                translation_of: i.translation_of,
                note: i.note.as_deref(),
            };
            match id {
                Some(id) => knowledge::update(c, id, &d, author).await,
                None => knowledge::create(c, &d, author).await,
            }
        }))
        .await
}

/// Restores an old revision as the newest one.
pub async fn restore(
    store: &Store,
    id: ArticleId,
    revision: i64,
    author: Option<AgentId>,
) -> seva_store::Result<Article> {
    let (a, old) = store
        .read(op!(c => Ok((knowledge::get(c, id).await?, knowledge::revision(c, id, revision).await?))))
        .await?;
    let input = Input {
        lang: a.lang.clone(),
        slug: Some(a.slug.clone()),
        title: old.title,
        body: old.body,
        category_id: a.category_id,
        tags: a.tags.clone(),
        visibility: a.visibility.clone(),
        status: a.status.clone(),
        translation_of: None,
        note: Some(format!("restored revision {revision}")),
    };
    save(store, Some(id), &input, author).await
}

/// A line diff between two texts, as `(sign, line)` with sign ' ', '-' or '+'.
pub fn diff(old: &str, new: &str) -> Vec<(char, String)> {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|c| {
            let sign = match c.tag() {
                similar::ChangeTag::Equal => ' ',
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
            };
            (sign, c.value().trim_end_matches('\n').to_string())
        })
        .collect()
}

/// The longest query taken, in characters; a longer one is refused with a clear word.
pub const MAX_QUERY_CHARS: usize = 1_000;

/// Who is searching articles.
#[derive(Debug, Clone, Copy)]
pub enum Audience {
    /// The public: published public articles.
    Public,
    /// Agents: everything not archived (drafts included, marked).
    Agents,
}

/// Searches articles. `None` when this node has no index.
pub fn articles(
    state: &Shared,
    text: &str,
    lang: Option<&str>,
    audience: Audience,
    limit: usize,
) -> Option<Found> {
    let index = state.search.get()?;
    let q = Query {
        text,
        kind: Kind::Article,
        lang,
        public_only: matches!(audience, Audience::Public),
        published_only: matches!(audience, Audience::Public),
        one_per_group: true,
        limit,
        now: seva_store::now().micros() / 1_000_000,
    };
    match index.search(&q) {
        Ok(found) => Some(found),
        Err(e) => {
            tracing::warn!(error = %e, "article search failed");
            None
        }
    }
}

/// Articles that may answer a customer's first message, for an acknowledgement: public,
/// published, and covering enough of the message's words (`threshold`, 0 to 1).
pub fn suggestions(
    state: &Shared,
    text: &str,
    lang: Option<&str>,
    threshold: f32,
) -> Vec<seva_search::Hit> {
    articles(state, text, lang, Audience::Public, 3)
        .map(|f| {
            f.hits
                .into_iter()
                .filter(|h| h.coverage >= threshold)
                .collect()
        })
        .unwrap_or_default()
}

/// How much of a first message an article must cover to be suggested in an
/// acknowledgement (a whole message says more than the question in it, so lower than the
/// bot's default).
pub const ACK_THRESHOLD: f32 = 0.4;

/// The articles for a new conversation's acknowledgement, as text to append (empty when
/// none is good enough).
pub fn suggestion_text(state: &Shared, question: &str, lang: Option<&str>) -> String {
    let question: String = question.chars().take(MAX_QUERY_CHARS).collect();
    let hits = suggestions(state, &question, lang, ACK_THRESHOLD);
    if hits.is_empty() {
        return String::new();
    }
    let t = crate::i18n::Tr::new(lang.unwrap_or("en"));
    let mut text = format!("\n\n{}", t.s("ack-articles"));
    for h in &hits {
        text.push_str(&format!(
            "\n• {} — {}",
            h.title,
            public_url(state, &h.lang, h.slug.as_deref().unwrap_or_default())
        ));
    }
    text
}

/// The public address of an article.
pub fn public_url(state: &Shared, lang: &str, slug: &str) -> String {
    format!(
        "{}/help/{}/{}",
        state.config.public_url.trim_end_matches('/'),
        lang,
        encode_path(slug)
    )
}

/// A path segment with everything but unreserved ASCII percent-encoded.
pub fn encode_path(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() * 3);
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered_and_made_safe() {
        let html = render(
            "# Refunds\n\nSee [the policy](/help/en/policy).\n\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n\n| a | b |\n|---|---|\n| 1 | 2 |",
        );
        assert!(html.contains("<h1>Refunds</h1>"), "{html}");
        assert!(html.contains("href=\"/help/en/policy\""), "{html}");
        assert!(
            !html.contains("<script") && !html.contains("onerror"),
            "{html}"
        );
        assert!(html.contains("<table>"), "{html}");
        // Malformed Markdown is text, not an error.
        let odd = render("**unclosed [link]( `code\n> > >\n|||\n");
        assert!(odd.contains("unclosed"), "{odd}");
    }

    #[test]
    fn diffs_show_lines_taken_out_and_put_in() {
        let d = diff("a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(
            d,
            vec![
                (' ', "a".into()),
                ('-', "b".into()),
                ('+', "B".into()),
                (' ', "c".into())
            ]
        );
    }
}
