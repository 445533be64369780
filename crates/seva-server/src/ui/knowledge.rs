//! The knowledge base in the desk: the list of articles with the translations that are
//! missing or behind, the bot's figures, and one page per article to write it, see and
//! restore its revisions, translate it, and flag it as wrong.

use super::Query;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_core::{ArticleId, CategoryId};
use seva_store::knowledge::{
    self, Article, Category, Coverage, Filter, Flag, Helpfulness, Revision,
};
use seva_store::{Error, op};

use super::{Agent, Fields, Me, PageError, render};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::knowledge::Input;
use crate::problem::Problem;

#[derive(askama::Template)]
#[template(path = "kb.html")]
struct ListPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    articles: Vec<Article>,
    coverage: Vec<Coverage>,
    categories: Vec<Category>,
    stats: seva_store::bot::Stats,
    lang: String,
    status: String,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    lang: String,
    #[serde(default)]
    status: String,
}

pub async fn list(
    State(state): State<Shared>,
    agent: Agent,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let since = seva_store::now().micros() - 30 * 86_400_000_000;
    let (lang, status) = (q.lang.clone(), q.status.clone());
    let (articles, coverage, categories, stats) = state
        .store
        .read(op!(c => {
            let f = Filter {
                lang: Some(lang.as_str()).filter(|l| !l.is_empty()),
                status: Some(status.as_str()).filter(|s| !s.is_empty()),
                ..Filter::default()
            };
            Ok((
                knowledge::list(c, &f, 500, 0).await?,
                knowledge::coverage(c).await?,
                knowledge::categories(c).await?,
                seva_store::bot::stats(c, since).await?,
            ))
        }))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    let page = ListPage {
        me: Some(super::me(&agent.0)),
        csrf: agent.0.csrf().to_string(),
        languages: LANGUAGES,
        articles,
        coverage: coverage
            .into_iter()
            .filter(|c| !c.missing.is_empty() || !c.outdated.is_empty())
            .collect(),
        categories,
        stats,
        lang: q.lang,
        status: q.status,
        t,
    };
    Ok(render(&page))
}

#[derive(askama::Template)]
#[template(path = "kb_article.html")]
struct ArticlePage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    /// None for a new article.
    a: Option<Article>,
    /// What the form shows.
    title: String,
    body: String,
    lang: String,
    visibility: String,
    status: String,
    tags: String,
    category_id: String,
    translation_of: String,
    categories: Vec<Category>,
    translations: Vec<Article>,
    /// Help-center languages this article has no translation in.
    missing: Vec<(&'static str, &'static str)>,
    revisions: Vec<Revision>,
    flags: Vec<Flag>,
    helpfulness: Option<Helpfulness>,
    public_url: String,
    saved: bool,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    translation_of: Option<String>,
    lang: Option<String>,
    saved: Option<String>,
}

impl ArticlePage {
    fn blank(t: Tr, agent: &Agent, categories: Vec<Category>) -> Self {
        ArticlePage {
            me: Some(super::me(&agent.0)),
            csrf: agent.0.csrf().to_string(),
            languages: LANGUAGES,
            a: None,
            title: String::new(),
            body: String::new(),
            lang: t.lang.to_string(),
            visibility: "public".into(),
            status: "draft".into(),
            tags: String::new(),
            category_id: String::new(),
            translation_of: String::new(),
            categories,
            translations: Vec::new(),
            missing: Vec::new(),
            revisions: Vec::new(),
            flags: Vec::new(),
            helpfulness: None,
            public_url: String::new(),
            saved: false,
            error: None,
            t,
        }
    }
}

/// A form for a new article; a translation starts from the original's text.
pub async fn new(
    State(state): State<Shared>,
    agent: Agent,
    Query(q): Query<NewQuery>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let of: Option<ArticleId> = q.translation_of.as_deref().and_then(|s| s.parse().ok());
    let (categories, original) = state
        .store
        .read(op!(c => Ok((
            knowledge::categories(c).await?,
            match of { Some(id) => Some(knowledge::get(c, id).await?), None => None },
        ))))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    let mut page = ArticlePage::blank(t, &agent, categories);
    if let Some(o) = original {
        page.title = o.title;
        page.body = o.body;
        page.visibility = o.visibility;
        page.tags = o.tags.join(", ");
        page.category_id = o.category_id.map(|c| c.to_string()).unwrap_or_default();
        page.translation_of = o.id.to_string();
    }
    if let Some(l) = q.lang.filter(|l| seva_core::text::is_language_tag(l)) {
        page.lang = l;
    }
    Ok(render(&page))
}

pub async fn page(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Query(q): Query<NewQuery>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let id: ArticleId = id
        .parse()
        .map_err(|_| PageError(Problem::not_found(), agent.tr()))?;
    let (a, categories, translations, revisions, flags, helpfulness) = state
        .store
        .read(op!(c => Ok((
            knowledge::get(c, id).await?,
            knowledge::categories(c).await?,
            knowledge::translations(c, id).await?,
            knowledge::revisions(c, id).await?,
            knowledge::flags(c, id).await?,
            knowledge::helpfulness(c, id).await?,
        ))))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    let mut page = ArticlePage::blank(t, &agent, categories);
    page.title = a.title.clone();
    page.body = a.body.clone();
    page.lang = a.lang.clone();
    page.visibility = a.visibility.clone();
    page.status = a.status.clone();
    page.tags = a.tags.join(", ");
    page.category_id = a.category_id.map(|c| c.to_string()).unwrap_or_default();
    page.missing = LANGUAGES
        .iter()
        .filter(|(l, _)| !translations.iter().any(|x| x.lang == *l))
        .copied()
        .collect();
    page.public_url = if a.is_public() {
        crate::knowledge::public_url(&state, &a.lang, &a.slug)
    } else {
        String::new()
    };
    page.translations = translations;
    page.revisions = revisions;
    page.flags = flags;
    page.helpfulness = Some(helpfulness);
    page.saved = q.saved.is_some();
    page.a = Some(a);
    Ok(render(&page))
}

fn posted(agent: &Agent, body: &[u8]) -> Result<Fields, PageError> {
    let form = Fields::parse(body);
    agent.check_csrf(form.one("csrf").unwrap_or(""))?;
    Ok(form)
}

fn input(form: &Fields) -> Result<Input, Error> {
    Ok(Input {
        lang: form.one("lang").unwrap_or("").to_string(),
        slug: None,
        title: form.one("title").unwrap_or("").to_string(),
        body: form.all("body").next().unwrap_or("").to_string(),
        category_id: form.parsed::<CategoryId>("category_id", "no such category")?,
        tags: form
            .one("tags")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        visibility: form.one("visibility").unwrap_or("public").to_string(),
        status: form.one("status").unwrap_or("draft").to_string(),
        translation_of: form.parsed::<ArticleId>("translation_of", "no such article")?,
        note: form.one("note").map(str::to_string),
    })
}

/// Saves the form: a new article (`id` none) or a new version of one.
pub async fn save(
    State(state): State<Shared>,
    agent: Agent,
    id: Option<Path<String>>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = posted(&agent, &body)?;
    let t = agent.tr();
    let id: Option<ArticleId> = match id {
        Some(Path(id)) => Some(
            id.parse()
                .map_err(|_| PageError(Problem::not_found(), agent.tr()))?,
        ),
        None => None,
    };
    let input = input(&form).map_err(|e| PageError(e.into(), agent.tr()))?;
    match crate::knowledge::save(&state.store, id, &input, Some(agent.0.agent.id)).await {
        Ok(a) => Ok(Redirect::to(&format!("/kb/{}?saved=1", a.id)).into_response()),
        Err(e @ Error::Invalid { .. }) => {
            // The form again, with what was written and what is wrong.
            let categories = state
                .store
                .read(op!(c => knowledge::categories(c).await))
                .await
                .unwrap_or_default();
            let mut page = ArticlePage::blank(t, &agent, categories);
            page.error = Some(e.to_string());
            page.title = input.title;
            page.body = input.body;
            page.lang = input.lang;
            page.visibility = input.visibility;
            page.status = input.status;
            page.tags = input.tags.join(", ");
            page.translation_of = input
                .translation_of
                .map(|a| a.to_string())
                .unwrap_or_default();
            if let Some(id) = id {
                page.a = state
                    .store
                    .read(op!(c => knowledge::get(c, id).await))
                    .await
                    .ok();
            }
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(e) => Err(PageError(e.into(), t)),
    }
}

pub async fn create(
    state: State<Shared>,
    agent: Agent,
    body: Bytes,
) -> Result<Response, PageError> {
    save(state, agent, None, body).await
}

pub async fn update(
    state: State<Shared>,
    agent: Agent,
    id: Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    save(state, agent, Some(id), body).await
}

#[derive(askama::Template)]
#[template(path = "kb_diff.html")]
struct DiffPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    a: Article,
    from: i64,
    to: i64,
    lines: Vec<(char, String)>,
}

#[derive(Deserialize)]
pub struct DiffQuery {
    from: i64,
    to: i64,
}

pub async fn diff(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, PageError> {
    let id: ArticleId = id
        .parse()
        .map_err(|_| PageError(Problem::not_found(), agent.tr()))?;
    let (a, old, new) = state
        .store
        .read(op!(c => Ok((
            knowledge::get(c, id).await?,
            knowledge::revision(c, id, q.from).await?,
            knowledge::revision(c, id, q.to).await?,
        ))))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    let lines = crate::knowledge::diff(
        &format!("{}\n\n{}", old.title, old.body),
        &format!("{}\n\n{}", new.title, new.body),
    );
    Ok(render(&DiffPage {
        t: agent.tr(),
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        a,
        from: q.from,
        to: q.to,
        lines,
    }))
}

pub async fn restore(
    State(state): State<Shared>,
    agent: Agent,
    Path((id, n)): Path<(String, i64)>,
    body: Bytes,
) -> Result<Response, PageError> {
    posted(&agent, &body)?;
    let id: ArticleId = id
        .parse()
        .map_err(|_| PageError(Problem::not_found(), agent.tr()))?;
    crate::knowledge::restore(&state.store, id, n, Some(agent.0.agent.id))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    Ok(Redirect::to(&format!("/kb/{id}?saved=1")).into_response())
}

pub async fn flag(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = posted(&agent, &body)?;
    let id: ArticleId = id
        .parse()
        .map_err(|_| PageError(Problem::not_found(), agent.tr()))?;
    let reason = form.one("reason").unwrap_or("").to_string();
    let me = agent.0.agent.id;
    state
        .store
        .write(op!(c => knowledge::flag(c, id, me, &reason).await))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    Ok(Redirect::to(&format!("/kb/{id}?saved=1#flags")).into_response())
}

pub async fn resolve_flags(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    posted(&agent, &body)?;
    let id: ArticleId = id
        .parse()
        .map_err(|_| PageError(Problem::not_found(), agent.tr()))?;
    state
        .store
        .write(op!(c => knowledge::resolve_flags(c, id).await))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    Ok(Redirect::to(&format!("/kb/{id}?saved=1#flags")).into_response())
}

/// A help-center category (supervisors and admins).
pub async fn create_category(
    State(state): State<Shared>,
    agent: Agent,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = posted(&agent, &body)?;
    if !agent.0.agent.role.sees_every_team() {
        return Err(PageError(
            Problem::forbidden("only supervisors and admins arrange the help center"),
            agent.tr(),
        ));
    }
    let slug = form.one("slug").unwrap_or("").to_string();
    let mut names = serde_json::Map::new();
    for (code, _) in LANGUAGES {
        if let Some(name) = form.one(&format!("name_{code}")) {
            names.insert(code.to_string(), name.into());
        }
    }
    let names = serde_json::Value::Object(names);
    state
        .store
        .write(op!(c => knowledge::create_category(c, &slug, &names, 0).await))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    Ok(Redirect::to("/kb").into_response())
}

/// An article offered beside a conversation.
pub struct Suggestion {
    pub id: String,
    pub title: String,
    pub lang: String,
    pub internal: bool,
    /// Its public address (public articles only).
    pub link: String,
    /// Its text in the customer's language when translated, else as found.
    pub text: String,
}

/// The articles for a conversation's text, for the agent answering it.
pub async fn suggestions(
    state: &Shared,
    question: &str,
    customer_lang: Option<&str>,
) -> Vec<Suggestion> {
    let question: String = question
        .chars()
        .take(crate::knowledge::MAX_QUERY_CHARS)
        .collect();
    let Some(found) = crate::knowledge::articles(
        state,
        &question,
        customer_lang,
        crate::knowledge::Audience::Agents,
        5,
    ) else {
        return Vec::new();
    };
    let ids: Vec<ArticleId> = found
        .hits
        .iter()
        .filter_map(|h| h.id.parse().ok())
        .collect();
    let want = customer_lang.map(str::to_string);
    let loaded = state
        .store
        .read(op!(c => {
            let mut out = Vec::new();
            for id in &ids {
                let group = knowledge::translations(c, *id).await?;
                let found = group.iter().find(|a| a.id == *id).cloned();
                let best = want.as_deref().and_then(|l| group.iter().find(|a| a.lang == l && a.status == "published").cloned());
                if let Some(found) = found {
                    out.push(best.unwrap_or(found));
                }
            }
            Ok(out)
        }))
        .await
        .unwrap_or_default();
    loaded
        .into_iter()
        .map(|a| Suggestion {
            id: a.id.to_string(),
            link: if a.is_public() {
                crate::knowledge::public_url(state, &a.lang, &a.slug)
            } else {
                String::new()
            },
            internal: a.visibility == "internal",
            title: a.title,
            lang: a.lang,
            text: a.body,
        })
        .collect()
}
