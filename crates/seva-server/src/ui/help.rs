//! The public help center: pages per language (`/help/te/…`) with categories, articles,
//! search (a form that works without JavaScript, and results as you type with it),
//! "was this helpful?", and a way to a person that carries what the visitor searched for.
//! Each article names its translations (hreflang) and its one address (canonical); the
//! sitemap lists them all.

use std::net::SocketAddr;

use super::Form;
use super::Query;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_store::knowledge::{self, Article, Category, Filter};
use seva_store::op;

use super::{PageError, render};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::knowledge::{Audience, MAX_QUERY_CHARS, encode_path};
use crate::problem::Problem;

/// The help center's language, if it is one Seva speaks.
fn language(lang: &str) -> Option<Tr> {
    LANGUAGES
        .iter()
        .any(|(l, _)| *l == lang)
        .then(|| Tr::new(lang))
}

fn not_found() -> Response {
    PageError(Problem::not_found(), Tr::new("en")).into_response()
}

/// `/help`: the help center in the visitor's language.
pub async fn root(headers: HeaderMap) -> Redirect {
    let t = Tr::negotiate(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    Redirect::to(&format!("/help/{}", t.lang))
}

/// An article in a list.
struct Item {
    href: String,
    title: String,
    /// Set when the article is not in the page's language.
    lang: Option<String>,
}

impl Item {
    fn of(a: &Article, page_lang: &str) -> Self {
        Item {
            href: format!("/help/{}/{}", a.lang, encode_path(&a.slug)),
            title: a.title.clone(),
            lang: (a.lang != page_lang).then(|| a.lang.clone()),
        }
    }
}

struct Section {
    name: String,
    href: String,
    items: Vec<Item>,
}

#[derive(askama::Template)]
#[template(path = "help_home.html")]
struct HomePage {
    t: Tr,
    me: Option<super::Me>,
    languages: &'static [(&'static str, &'static str)],
    sections: Vec<Section>,
    q: String,
}

/// The published public articles in `lang`: for each original, its translation in `lang`
/// when there is one, else the original.
async fn in_language(
    state: &Shared,
    lang: &str,
    category: Option<seva_core::CategoryId>,
) -> seva_store::Result<Vec<Article>> {
    let all = state
        .store
        .read(op!(c => knowledge::list(c, &Filter { lang: None, status: Some("published"), visibility: Some("public"), category_id: category }, 2_000, 0).await))
        .await?;
    let mut out: Vec<Article> = Vec::new();
    for a in &all {
        let best = all
            .iter()
            .filter(|x| x.group_id == a.group_id)
            .find(|x| x.lang == lang)
            .unwrap_or_else(|| {
                all.iter()
                    .find(|x| x.group_id == a.group_id && x.is_original())
                    .unwrap_or(a)
            });
        if !out.iter().any(|o| o.id == best.id) {
            out.push(best.clone());
        }
    }
    Ok(out)
}

pub async fn home(State(state): State<Shared>, Path(lang): Path<String>) -> Response {
    let Some(t) = language(&lang) else {
        return not_found();
    };
    let loaded = async {
        let categories = state
            .store
            .read(op!(c => knowledge::categories(c).await))
            .await?;
        let articles = in_language(&state, t.lang, None).await?;
        Ok::<_, seva_store::Error>((categories, articles))
    }
    .await;
    let (categories, articles) = match loaded {
        Ok(x) => x,
        Err(e) => return PageError(e.into(), t).into_response(),
    };
    let mut sections: Vec<Section> = categories
        .iter()
        .map(|c| Section {
            name: c.name(t.lang),
            href: format!("/help/{}/c/{}", t.lang, encode_path(&c.slug)),
            items: articles
                .iter()
                .filter(|a| a.category_id == Some(c.id))
                .map(|a| Item::of(a, t.lang))
                .collect(),
        })
        .filter(|s| !s.items.is_empty())
        .collect();
    let loose: Vec<Item> = articles
        .iter()
        .filter(|a| a.category_id.is_none())
        .map(|a| Item::of(a, t.lang))
        .collect();
    if !loose.is_empty() {
        sections.push(Section {
            name: t.s("help-other"),
            href: String::new(),
            items: loose,
        });
    }
    render(&HomePage {
        t,
        me: None,
        languages: LANGUAGES,
        sections,
        q: String::new(),
    })
}

pub async fn category(
    State(state): State<Shared>,
    Path((lang, slug)): Path<(String, String)>,
) -> Response {
    let Some(t) = language(&lang) else {
        return not_found();
    };
    let loaded = async {
        let c: Category = state
            .store
            .read(op!(x => knowledge::category_by_slug(x, &slug).await))
            .await?;
        let articles = in_language(&state, t.lang, Some(c.id)).await?;
        Ok::<_, seva_store::Error>((c, articles))
    }
    .await;
    let (c, articles) = match loaded {
        Ok(x) => x,
        Err(e) => return PageError(e.into(), t).into_response(),
    };
    let sections = vec![Section {
        name: c.name(t.lang),
        href: String::new(),
        items: articles.iter().map(|a| Item::of(a, t.lang)).collect(),
    }];
    render(&HomePage {
        t,
        me: None,
        languages: LANGUAGES,
        sections,
        q: String::new(),
    })
}

#[derive(askama::Template)]
#[template(path = "help_article.html")]
struct ArticlePage {
    t: Tr,
    me: Option<super::Me>,
    languages: &'static [(&'static str, &'static str)],
    a: Article,
    canonical: String,
    /// (lang, language name, absolute address) of each published translation.
    alternates: Vec<(String, String, String)>,
    category: Option<(String, String)>,
    thanks: bool,
    description: String,
}

#[derive(Deserialize, Default)]
pub struct ArticleQuery {
    thanks: Option<String>,
}

pub async fn article(
    State(state): State<Shared>,
    Path((lang, slug)): Path<(String, String)>,
    Query(q): Query<ArticleQuery>,
) -> Response {
    let Some(t) = language(&lang) else {
        return not_found();
    };
    let loaded = state
        .store
        .read(op!(c => {
            let a = knowledge::by_slug(c, &lang, &slug).await?;
            let translations = knowledge::translations(c, a.id).await?;
            let category = match a.category_id { Some(id) => Some(knowledge::category(c, id).await?), None => None };
            Ok((a, translations, category))
        }))
        .await;
    let (a, translations, category) = match loaded {
        Ok((a, tr, c)) if a.is_public() => (a, tr, c),
        Ok(_) => return PageError(Problem::not_found(), t).into_response(),
        Err(e) => return PageError(e.into(), t).into_response(),
    };
    let base = state.config.public_url.trim_end_matches('/').to_string();
    let address = |x: &Article| format!("{base}/help/{}/{}", x.lang, encode_path(&x.slug));
    let alternates = translations
        .iter()
        .filter(|x| x.is_public())
        .map(|x| {
            let name = LANGUAGES
                .iter()
                .find(|(l, _)| *l == x.lang)
                .map_or(x.lang.as_str(), |(_, n)| n);
            (x.lang.clone(), name.to_string(), address(x))
        })
        .collect();
    let description = seva_core::text::preview(&strip_marks(&a.body), 155);
    let page = ArticlePage {
        canonical: address(&a),
        alternates,
        category: category.map(|c| {
            (
                c.name(t.lang),
                format!("/help/{}/c/{}", t.lang, encode_path(&c.slug)),
            )
        }),
        thanks: q.thanks.is_some(),
        description,
        t,
        me: None,
        languages: LANGUAGES,
        a,
    };
    render(&page)
}

/// Markdown's marks and any tags taken out, for a plain description.
fn strip_marks(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut in_tag = false;
    for c in md.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            '#' | '*' | '_' | '`' | '>' | '[' | ']' | '|' => {}
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[derive(Deserialize)]
pub struct FeedbackForm {
    helpful: String,
    #[serde(default)]
    comment: String,
}

/// "Was this helpful?": yes or no, with an optional comment. Limited per address like the
/// contact form.
pub async fn feedback(
    State(state): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path((lang, slug)): Path<(String, String)>,
    Form(f): Form<FeedbackForm>,
) -> Response {
    let Some(t) = language(&lang) else {
        return not_found();
    };
    if let Err(refused) = super::form_post_allowed(&state, addr, t) {
        return refused.into_response();
    }
    let helpful = match f.helpful.as_str() {
        "yes" => true,
        "no" => false,
        _ => return PageError(Problem::bad_request("helpful", "yes or no"), t).into_response(),
    };
    let wanted = slug.clone();
    let done = state
        .store
        .write(op!(c => {
            let a = knowledge::by_slug(c, &lang, &wanted).await?;
            knowledge::feedback(c, a.id, helpful, Some(&f.comment), "help_center").await
        }))
        .await;
    match done {
        Ok(()) => Redirect::to(&format!(
            "/help/{}/{}?thanks=1#feedback",
            t.lang,
            encode_path(&slug)
        ))
        .into_response(),
        Err(e) => PageError(e.into(), t).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

struct Result_ {
    href: String,
    title_html: String,
    snippet_html: String,
    lang: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "help_search.html")]
struct SearchPage {
    t: Tr,
    me: Option<super::Me>,
    languages: &'static [(&'static str, &'static str)],
    q: String,
    results: Vec<Result_>,
    note: Option<String>,
    contact: String,
}

/// Looks up the public articles for a visitor's words; a query over the limit is cut to it
/// and the visitor is told.
fn public_search(state: &Shared, t: &Tr, q: &str) -> (Vec<Result_>, Option<String>) {
    if q.trim().is_empty() {
        return (Vec::new(), None);
    }
    let cut: String = q.chars().take(MAX_QUERY_CHARS).collect();
    let mut note = (cut.len() < q.len()).then(|| t.a("help-query-cut", "max", MAX_QUERY_CHARS));
    let found = crate::knowledge::articles(state, &cut, Some(t.lang), Audience::Public, 20);
    let Some(found) = found else {
        return (Vec::new(), Some(t.s("help-search-off")));
    };
    if found.truncated && note.is_none() {
        note = Some(t.a("help-query-words", "max", seva_search::MAX_QUERY_WORDS));
    }
    let results = found
        .hits
        .into_iter()
        .map(|h| Result_ {
            href: format!(
                "/help/{}/{}",
                h.lang,
                encode_path(h.slug.as_deref().unwrap_or_default())
            ),
            lang: (h.lang != t.lang).then(|| h.lang.clone()),
            title_html: h.title_html,
            snippet_html: h.snippet_html,
        })
        .collect();
    (results, note)
}

fn contact_link(lang: &str, q: &str) -> String {
    let mut url = form_urlencoded::Serializer::new(format!("/contact?lang={lang}&"));
    if !q.trim().is_empty() {
        url.append_pair("subject", &q.chars().take(200).collect::<String>());
    }
    url.finish().trim_end_matches('&').to_string()
}

pub async fn search(
    State(state): State<Shared>,
    Path(lang): Path<String>,
    Query(q): Query<SearchQuery>,
) -> Response {
    let Some(t) = language(&lang) else {
        return not_found();
    };
    let (results, note) = public_search(&state, &t, &q.q);
    let contact = contact_link(t.lang, &q.q);
    render(&SearchPage {
        t,
        me: None,
        languages: LANGUAGES,
        q: q.q,
        results,
        note,
        contact,
    })
}

/// Results as you type, for the help center's own script.
pub async fn search_json(
    State(state): State<Shared>,
    Path(lang): Path<String>,
    Query(q): Query<SearchQuery>,
) -> Response {
    let Some(t) = language(&lang) else {
        return not_found();
    };
    let (results, note) = public_search(&state, &t, &q.q);
    let list: Vec<serde_json::Value> = results
        .into_iter()
        .map(|r| serde_json::json!({"href": r.href, "title_html": r.title_html, "snippet_html": r.snippet_html, "lang": r.lang}))
        .collect();
    axum::Json(serde_json::json!({"results": list, "note": note, "contact": contact_link(t.lang, &q.q), "empty": t.s("help-nothing")}))
        .into_response()
}

/// Every published public article, for search engines.
pub async fn sitemap(State(state): State<Shared>) -> Response {
    let all = match state
        .store
        .read(op!(c => knowledge::list(c, &Filter { lang: None, status: Some("published"), visibility: Some("public"), category_id: None }, 50_000, 0).await))
        .await
    {
        Ok(a) => a,
        Err(e) => return Problem::from(e).into_response(),
    };
    let base = state.config.public_url.trim_end_matches('/');
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" xmlns:xhtml=\"http://www.w3.org/1999/xhtml\">\n",
    );
    for a in &all {
        let loc = format!("{base}/help/{}/{}", a.lang, encode_path(&a.slug));
        xml.push_str(&format!(
            "<url><loc>{}</loc><lastmod>{}</lastmod>",
            seva_core::text::escape_html(&loc),
            date(a.updated_at)
        ));
        for t in all.iter().filter(|t| t.group_id == a.group_id) {
            let href = format!("{base}/help/{}/{}", t.lang, encode_path(&t.slug));
            xml.push_str(&format!(
                "<xhtml:link rel=\"alternate\" hreflang=\"{}\" href=\"{}\"/>",
                t.lang,
                seva_core::text::escape_html(&href)
            ));
        }
        xml.push_str("</url>\n");
    }
    xml.push_str("</urlset>\n");
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        xml,
    )
        .into_response()
}

fn date(t: seva_core::time::Timestamp) -> String {
    super::short_time(t).chars().take(10).collect()
}
