//! The knowledge base and search in the API: articles and their translations, revisions
//! (with diff and restore), categories, flags, helpfulness, the answering bot's figures,
//! and one search over articles and conversations.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use seva_core::{ArticleId, CategoryId, ConversationId};
use seva_store::knowledge::{self, Article, Category, Coverage, Filter, Helpfulness, Revision};
use seva_store::{conversations, op};
use utoipa::{IntoParams, ToSchema};

use super::{ApiJson, ApiQuery, json, parse_id};
use crate::Shared;
use crate::auth::Caller;
use crate::knowledge::{Audience, Input, MAX_QUERY_CHARS};
use crate::problem::Problem;
use seva_core::shapes::{Label, LanguageTag, Names, Slug};

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/articles", get(list).post(create))
        .route(
            "/api/v1/articles/{id}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/v1/articles/{id}/translations", get(translations))
        .route("/api/v1/articles/{id}/revisions", get(revisions))
        .route("/api/v1/articles/{id}/diff", get(diff))
        .route("/api/v1/articles/{id}/revisions/{n}/restore", post(restore))
        .route("/api/v1/articles/{id}/flags", get(flags).post(flag))
        .route("/api/v1/articles/{id}/helpfulness", get(helpfulness))
        .route("/api/v1/knowledge/coverage", get(coverage))
        .route(
            "/api/v1/knowledge/categories",
            get(categories).post(create_category),
        )
        .route("/api/v1/search", get(search))
        .route("/api/v1/conversations/{id}/suggestions", get(suggestions))
        .route("/api/v1/bot/stats", get(bot_stats))
}

/// An article as written.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleBody {
    /// The language it is written in (`en`, `te`, `el`, `tl`, …).
    #[schema(value_type = LanguageTag)]
    pub lang: String,
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
        max_length = 300
    )]
    pub title: String,
    /// Markdown.
    #[serde(default)]
    pub body: String,
    /// The last part of its address, as a `Slug` says; made from the title when not given
    /// or empty.
    #[schema(value_type = Option<String>, max_length = 100)]
    pub slug: Option<String>,
    pub category_id: Option<CategoryId>,
    #[serde(default)]
    #[schema(value_type = Vec<Label>, max_items = 50)]
    pub tags: Vec<String>,
    /// `public` (help center, the default) or `internal` (agents only).
    #[schema(pattern = "^(public|internal)$")]
    pub visibility: Option<String>,
    /// `draft` (the default), `published` or `archived`.
    #[schema(pattern = "^(draft|published|archived)$")]
    pub status: Option<String>,
    /// Makes it a translation of that article.
    pub translation_of: Option<ArticleId>,
    /// What changed, kept with the revision.
    pub note: Option<String>,
}

impl ArticleBody {
    fn input(self) -> Input {
        Input {
            lang: self.lang,
            slug: self.slug,
            title: self.title,
            body: self.body,
            category_id: self.category_id,
            tags: self.tags,
            visibility: self.visibility.unwrap_or_else(|| "public".into()),
            status: self.status.unwrap_or_else(|| "draft".into()),
            translation_of: self.translation_of,
            note: self.note,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub lang: Option<String>,
    pub status: Option<String>,
    pub visibility: Option<String>,
    #[param(value_type = Option<CategoryId>)]
    pub category_id: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Articles, by title (agents see internal ones and drafts too).
#[utoipa::path(get, path = "/api/v1/articles", operation_id = "list_articles", tag = "knowledge", params(ListQuery), responses((status = 200, body = [Article])))]
pub async fn list(
    State(state): State<Shared>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, Problem> {
    let category_id = match q.category_id.as_deref() {
        Some(c) => Some(
            c.parse::<CategoryId>()
                .map_err(|_| Problem::bad_request("category_id", format!("{c:?} is not an id")))?,
        ),
        None => None,
    };
    let (limit, offset) = (
        q.limit.unwrap_or(100).clamp(1, 500),
        q.offset.unwrap_or(0).max(0),
    );
    let list = state
        .store
        .read(op!(c => {
            let f = Filter { lang: q.lang.as_deref(), status: q.status.as_deref(), visibility: q.visibility.as_deref(), category_id };
            knowledge::list(c, &f, limit, offset).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

/// Write an article (or a translation of one).
#[utoipa::path(post, path = "/api/v1/articles", operation_id = "create_article", tag = "knowledge", request_body = ArticleBody,
    responses((status = 201, body = Article), (status = 400, body = Problem)))]
pub async fn create(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<ArticleBody>,
) -> Result<Response, Problem> {
    let a =
        crate::knowledge::save(&state.store, None, &body.input(), Some(caller.agent.id)).await?;
    Ok(json(StatusCode::CREATED, &a))
}

#[utoipa::path(get, path = "/api/v1/articles/{id}", operation_id = "get_article", tag = "knowledge", responses((status = 200, body = Article), (status = 404, body = Problem)))]
pub async fn get_one(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ArticleId = parse_id("id", &id)?;
    let a = state
        .store
        .read(op!(c => knowledge::get(c, id).await))
        .await?;
    Ok(json(StatusCode::OK, &a))
}

/// Save a new version (a changed title or body is a new revision).
#[utoipa::path(put, path = "/api/v1/articles/{id}", operation_id = "update_article", tag = "knowledge", request_body = ArticleBody,
    responses((status = 200, body = Article), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn update(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<ArticleBody>,
) -> Result<Response, Problem> {
    let id: ArticleId = parse_id("id", &id)?;
    let a = crate::knowledge::save(&state.store, Some(id), &body.input(), Some(caller.agent.id))
        .await?;
    Ok(json(StatusCode::OK, &a))
}

/// Remove an article (supervisors and admins; archiving keeps it).
#[utoipa::path(delete, path = "/api/v1/articles/{id}", operation_id = "delete_article", tag = "knowledge", responses((status = 204), (status = 403, body = Problem)))]
pub async fn delete(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    if !caller.agent.role.sees_every_team() {
        return Err(Problem::forbidden(
            "only supervisors and admins remove articles; archive it instead",
        ));
    }
    let id: ArticleId = parse_id("id", &id)?;
    let agent = caller.agent.id;
    state
        .store
        .write(op!(c => knowledge::delete(c, id, Some(agent)).await))
        .await?;
    Ok(json(StatusCode::NO_CONTENT, &()))
}

/// The article in every language it has, the original first.
#[utoipa::path(get, path = "/api/v1/articles/{id}/translations", tag = "knowledge", responses((status = 200, body = [Article])))]
pub async fn translations(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ArticleId = parse_id("id", &id)?;
    let list = state
        .store
        .read(op!(c => knowledge::translations(c, id).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[utoipa::path(get, path = "/api/v1/articles/{id}/revisions", tag = "knowledge", responses((status = 200, body = [Revision])))]
pub async fn revisions(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ArticleId = parse_id("id", &id)?;
    let list = state
        .store
        .read(op!(c => knowledge::revisions(c, id).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    pub from: i64,
    pub to: i64,
}

/// What changed between two revisions, line by line: `[[" ", line], ["-", line], ["+", line]]`.
#[utoipa::path(get, path = "/api/v1/articles/{id}/diff", tag = "knowledge", params(DiffQuery), responses((status = 200, body = Object)))]
pub async fn diff(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Response, Problem> {
    let id: ArticleId = parse_id("id", &id)?;
    let (a, b) = state
        .store
        .read(op!(c => Ok((knowledge::revision(c, id, q.from).await?, knowledge::revision(c, id, q.to).await?))))
        .await?;
    let lines: Vec<(String, String)> = crate::knowledge::diff(
        &format!("{}\n\n{}", a.title, a.body),
        &format!("{}\n\n{}", b.title, b.body),
    )
    .into_iter()
    .map(|(s, l)| (s.to_string(), l))
    .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"from": q.from, "to": q.to, "lines": lines}),
    ))
}

/// Make an old revision the newest one again.
#[utoipa::path(post, path = "/api/v1/articles/{id}/revisions/{n}/restore", tag = "knowledge",
    params(("n" = i64, Path, description = "The revision's number")),
    responses((status = 200, body = Article)))]
pub async fn restore(
    State(state): State<Shared>,
    caller: Caller,
    Path((id, n)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id: ArticleId = parse_id("id", &id)?;
    let n: i64 = parse_id("n", &n)?;
    let a = crate::knowledge::restore(&state.store, id, n, Some(caller.agent.id)).await?;
    Ok(json(StatusCode::OK, &a))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagBody {
    /// What is wrong or out of date.
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
        max_length = 2000
    )]
    pub reason: String,
}

/// Flag an article as wrong or out of date: its author is told.
#[utoipa::path(post, path = "/api/v1/articles/{id}/flags", tag = "knowledge", request_body = FlagBody, responses((status = 204)))]
pub async fn flag(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<FlagBody>,
) -> Result<Response, Problem> {
    let id: ArticleId = parse_id("id", &id)?;
    let agent = caller.agent.id;
    state
        .store
        .write(op!(c => knowledge::flag(c, id, agent, &body.reason).await))
        .await?;
    Ok(json(StatusCode::NO_CONTENT, &()))
}

#[utoipa::path(get, path = "/api/v1/articles/{id}/flags", tag = "knowledge", responses((status = 200, body = [knowledge::Flag])))]
pub async fn flags(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ArticleId = parse_id("id", &id)?;
    let list = state
        .store
        .read(op!(c => knowledge::flags(c, id).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

/// Readers' feedback and the bot's outcomes for one article.
#[utoipa::path(get, path = "/api/v1/articles/{id}/helpfulness", tag = "knowledge", responses((status = 200, body = Helpfulness)))]
pub async fn helpfulness(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ArticleId = parse_id("id", &id)?;
    let h = state
        .store
        .read(op!(c => knowledge::helpfulness(c, id).await))
        .await?;
    Ok(json(StatusCode::OK, &h))
}

/// Which translations are missing or made from an older revision of the original.
#[utoipa::path(get, path = "/api/v1/knowledge/coverage", tag = "knowledge", responses((status = 200, body = [Coverage])))]
pub async fn coverage(State(state): State<Shared>, _caller: Caller) -> Result<Response, Problem> {
    let list = state
        .store
        .read(op!(c => knowledge::coverage(c).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[utoipa::path(get, path = "/api/v1/knowledge/categories", tag = "knowledge", responses((status = 200, body = [Category])))]
pub async fn categories(State(state): State<Shared>, _caller: Caller) -> Result<Response, Problem> {
    let list = state
        .store
        .read(op!(c => knowledge::categories(c).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    #[schema(value_type = Slug)]
    pub slug: String,
    /// The name by language: `{"en": "Billing", "te": "బిల్లింగ్"}`.
    #[schema(value_type = Names)]
    pub names: serde_json::Value,
    #[serde(default)]
    pub position: i64,
}

#[utoipa::path(post, path = "/api/v1/knowledge/categories", tag = "knowledge", request_body = CategoryBody,
    responses((status = 201, body = Category), (status = 409, body = Problem, description = "Another category has this slug")))]
pub async fn create_category(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<CategoryBody>,
) -> Result<Response, Problem> {
    if !caller.agent.role.sees_every_team() {
        return Err(Problem::forbidden(
            "only supervisors and admins arrange the help center",
        ));
    }
    let c = state
        .store
        .write(
            op!(c => knowledge::create_category(c, &body.slug, &body.names, body.position).await),
        )
        .await?;
    Ok(json(StatusCode::CREATED, &c))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The words to look for, in any language and script.
    #[param(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub q: String,
    /// `articles` (the default) or `messages`.
    #[param(pattern = "^(articles|messages)$")]
    pub kind: Option<String>,
    /// The language to prefer.
    pub lang: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// Checks a search query: not empty, not longer than [`MAX_QUERY_CHARS`].
pub fn check_query(q: &str) -> Result<(), Problem> {
    if q.trim().is_empty() {
        return Err(Problem::bad_request("q", "write something to look for"));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(Problem::bad_request(
            "q",
            format!("at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Search articles (agents find internal ones and drafts too) or messages (only those of
/// conversations the caller may see), with highlighted snippets.
#[utoipa::path(get, path = "/api/v1/search", tag = "knowledge", params(SearchQuery), responses((status = 200, body = Object), (status = 422, body = Problem)))]
pub async fn search(
    State(state): State<Shared>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Response, Problem> {
    check_query(&q.q)?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(Problem::bad_request("limit", "between 1 and 100"));
    }
    let limit = limit as usize;
    let found = match q.kind.as_deref().unwrap_or("articles") {
        "articles" => {
            let query = seva_search::Query {
                text: &q.q,
                kind: seva_search::Kind::Article,
                lang: q.lang.as_deref(),
                public_only: false,
                published_only: false,
                one_per_group: false,
                limit,
                now: seva_store::now().micros() / 1_000_000,
            };
            crate::search::search(&state, &query)?
        }
        "messages" => {
            crate::search::visible_messages(
                &state,
                &caller.viewer(),
                &q.q,
                q.lang.as_deref(),
                limit,
            )
            .await?
            .0
        }
        _ => return Err(Problem::bad_request("kind", "articles or messages")),
    };
    Ok(json(StatusCode::OK, &found))
}

/// Articles (internal and public) for what a conversation is about, best first.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/suggestions", tag = "knowledge", responses((status = 200, body = Vec<Object>)))]
pub async fn suggestions(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let (c, text) = state
        .store
        .read(op!(x => {
            let c = conversations::get_for(x, &viewer, id).await?;
            let text = seva_store::messages::for_conversation(x, id, false).await?
                .iter().rev().filter(|m| m.kind == seva_core::conversation::MessageKind::Inbound).take(3)
                .map(|m| m.text.clone()).collect::<Vec<_>>().join("\n");
            Ok((c, text))
        }))
        .await?;
    let question: String = format!("{} {text}", c.subject)
        .chars()
        .take(MAX_QUERY_CHARS)
        .collect();
    let found = crate::knowledge::articles(
        &state,
        &question,
        c.language.as_deref(),
        Audience::Agents,
        5,
    );
    Ok(json(
        StatusCode::OK,
        &found.map(|f| f.hits).unwrap_or_default(),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// The last this many days (30 unless given).
    pub days: Option<i64>,
}

/// The bot's deflection (self-served) and handoff rates, and per article and language.
#[utoipa::path(get, path = "/api/v1/bot/stats", tag = "knowledge", params(StatsQuery), responses((status = 200, body = seva_store::bot::Stats)))]
pub async fn bot_stats(
    State(state): State<Shared>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Response, Problem> {
    let since = seva_store::now().micros() - q.days.unwrap_or(30).clamp(1, 3650) * 86_400_000_000;
    let s = state
        .store
        .read(op!(c => seva_store::bot::stats(c, since).await))
        .await?;
    Ok(json(StatusCode::OK, &s))
}
