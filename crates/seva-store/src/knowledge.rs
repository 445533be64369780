//! The knowledge base: articles (public, for the help center, or internal, for agents) in
//! several languages, categories, every revision kept and restorable, readers' feedback,
//! and agents' flags that an article is wrong. Each change writes an `article.*` event,
//! which is how the search index hears of it.

use serde::Serialize;
use seva_core::time::Timestamp;
use seva_core::{AgentId, ArticleId, CategoryId};

use crate::db::Conn;
use crate::{Error, Result, args};

/// The longest article body accepted, in bytes of Markdown.
pub const MAX_BODY: usize = 2 * 1024 * 1024;
/// The languages the help center is written in, for the "missing translations" view.
pub const LANGUAGES: &[&str] = &["en", "te", "el", "tl"];

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Article {
    pub id: ArticleId,
    /// The original's id, shared by its translations.
    pub group_id: ArticleId,
    pub lang: String,
    pub slug: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    /// Safe HTML made from the Markdown.
    pub html: String,
    pub category_id: Option<CategoryId>,
    pub tags: Vec<String>,
    /// `public` (help center) or `internal` (agents only).
    pub visibility: String,
    /// `draft`, `published` or `archived`.
    pub status: String,
    pub author_id: Option<AgentId>,
    pub revision: i64,
    /// For a translation: the original's revision it follows.
    pub source_revision: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Article {
    pub fn is_original(&self) -> bool {
        self.group_id == self.id
    }
    pub fn is_public(&self) -> bool {
        self.visibility == "public" && self.status == "published"
    }
}

const COLUMNS: &str = "id, group_id, lang, slug, title, body, html, category_id, tags, visibility, status, \
    author_id, revision, source_revision, created_at, updated_at";

fn decode(r: &crate::Row) -> Result<Article> {
    Ok(Article {
        id: r.parse(0)?,
        group_id: r.parse(1)?,
        lang: r.text(2)?,
        slug: r.text(3)?,
        title: r.text(4)?,
        body: r.text(5)?,
        html: r.text(6)?,
        category_id: r.opt_parse(7)?,
        tags: serde_json::from_str(&r.text(8)?).unwrap_or_default(),
        visibility: r.text(9)?,
        status: r.text(10)?,
        author_id: r.opt_parse(11)?,
        revision: r.int(12)?,
        source_revision: r.opt_int(13)?,
        created_at: Timestamp(r.int(14)?),
        updated_at: Timestamp(r.int(15)?),
    })
}

/// What an author writes. `html` is the body rendered and sanitised by the caller.
#[derive(Debug, Clone, Default)]
pub struct Draft<'a> {
    pub lang: &'a str,
    pub slug: Option<&'a str>,
    pub title: &'a str,
    pub body: &'a str,
    pub html: &'a str,
    pub category_id: Option<CategoryId>,
    pub tags: &'a [String],
    pub visibility: &'a str,
    pub status: &'a str,
    /// Makes the article a translation of this one (of its group).
    pub translation_of: Option<ArticleId>,
    /// A word on what changed, kept with the revision.
    pub note: Option<&'a str>,
}

fn check(d: &Draft<'_>) -> Result<()> {
    if !seva_core::text::is_language_tag(d.lang) {
        return Err(Error::invalid(
            "lang",
            "a language tag such as 'te' or 'el'",
        ));
    }
    let title = d.title.trim();
    if title.is_empty() || title.chars().count() > 300 {
        return Err(Error::invalid("title", "1 to 300 characters"));
    }
    if d.body.len() > MAX_BODY {
        return Err(Error::invalid(
            "body",
            format!(
                "at most {} MiB of Markdown; split the article",
                MAX_BODY / 1024 / 1024
            ),
        ));
    }
    if !matches!(d.visibility, "public" | "internal") {
        return Err(Error::invalid("visibility", "public or internal"));
    }
    if !matches!(d.status, "draft" | "published" | "archived") {
        return Err(Error::invalid("status", "draft, published or archived"));
    }
    if d.tags.len() > 50
        || d.tags
            .iter()
            .any(|t| t.trim().is_empty() || t.chars().count() > 50)
    {
        return Err(Error::invalid(
            "tags",
            "up to 50 tags of 1 to 50 characters",
        ));
    }
    Ok(())
}

pub use seva_core::text::{is_slug, slug};

/// `wanted` (or `article` when it is empty) if no other article of the language has it,
/// else with the first number that makes it free; a slug that is not one is refused.
async fn free_slug(
    conn: &mut dyn Conn,
    lang: &str,
    wanted: &str,
    except: Option<ArticleId>,
) -> Result<String> {
    let base = if wanted.is_empty() {
        "article".to_string()
    } else if is_slug(wanted) {
        wanted.to_string()
    } else {
        return Err(Error::invalid(
            "slug",
            "lower-case letters (any script), digits and single dashes",
        ));
    };
    let except = except.map(|e| e.to_string()).unwrap_or_default();
    for n in 1..1000 {
        let candidate = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let taken = conn
            .query_opt(
                "SELECT 1 FROM articles WHERE lang = $1 AND slug = $2 AND id <> $3",
                args![lang, candidate.as_str(), except.as_str()],
            )
            .await?
            .is_some();
        if !taken {
            return Ok(candidate);
        }
    }
    Err(Error::invalid("slug", "taken; choose another"))
}

pub async fn create(
    conn: &mut dyn Conn,
    d: &Draft<'_>,
    author: Option<AgentId>,
) -> Result<Article> {
    check(d)?;
    let id = ArticleId::new();
    let (group, source_revision) = match d.translation_of {
        Some(of) => {
            let original = get(conn, of).await.map_err(|e| match e {
                Error::NotFound => Error::invalid("translation_of", "no such article"),
                e => e,
            })?;
            let root = get(conn, original.group_id).await?;
            if conn
                .query_opt(
                    "SELECT 1 FROM articles WHERE group_id = $1 AND lang = $2",
                    args![root.id.to_string(), d.lang],
                )
                .await?
                .is_some()
            {
                return Err(Error::invalid(
                    "lang",
                    "this article already has a translation in that language",
                ));
            }
            (root.id, Some(root.revision))
        }
        None => (id, None),
    };
    if let Some(c) = d.category_id {
        category(conn, c).await?;
    }
    let slug = free_slug(
        conn,
        d.lang,
        &d.slug
            .filter(|s| !s.is_empty())
            .map_or_else(|| slug(d.title), str::to_string),
        None,
    )
    .await?;
    let now = crate::now().micros();
    conn.execute(
        "INSERT INTO articles (id, group_id, lang, slug, title, body, html, category_id, tags, visibility, status, \
         author_id, revision, source_revision, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $14, $14)",
        args![
            id.to_string(),
            group.to_string(),
            d.lang,
            slug,
            d.title.trim(),
            d.body,
            d.html,
            d.category_id.map(|c| c.to_string()),
            serde_json::to_string(d.tags).unwrap_or_default(),
            d.visibility,
            d.status,
            author.map(|a| a.to_string()),
            source_revision,
            now
        ],
    )
    .await?;
    add_revision(conn, id, 1, d.title.trim(), d.body, author, d.note).await?;
    changed(conn, "article.created", id, author).await?;
    get(conn, id).await
}

async fn add_revision(
    conn: &mut dyn Conn,
    id: ArticleId,
    revision: i64,
    title: &str,
    body: &str,
    author: Option<AgentId>,
    note: Option<&str>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO article_revisions (article_id, revision, title, body, author_id, note, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            id.to_string(),
            revision,
            title,
            body,
            author.map(|a| a.to_string()),
            note,
            crate::now().micros()
        ],
    )
    .await?;
    Ok(())
}

async fn changed(
    conn: &mut dyn Conn,
    kind: &str,
    id: ArticleId,
    author: Option<AgentId>,
) -> Result<()> {
    let actor = author.map_or_else(|| "system".to_string(), |a| format!("agent:{a}"));
    crate::events::append(
        conn,
        kind,
        None,
        &actor,
        serde_json::json!({"article_id": id}),
    )
    .await
}

/// Saves a new version. A changed title or body is a new revision; a translation that is
/// saved is taken to follow the original's current revision (it was brought up to date).
pub async fn update(
    conn: &mut dyn Conn,
    id: ArticleId,
    d: &Draft<'_>,
    author: Option<AgentId>,
) -> Result<Article> {
    check(d)?;
    let old = get(conn, id).await?;
    if d.lang != old.lang {
        return Err(Error::invalid(
            "lang",
            "an article keeps its language; add a translation instead",
        ));
    }
    if let Some(c) = d.category_id {
        category(conn, c).await?;
    }
    let slug = match d.slug {
        // A slug made before today's rule stays while it is not changed.
        Some(s) if !s.is_empty() && s != old.slug => {
            free_slug(conn, &old.lang, s, Some(id)).await?
        }
        _ => old.slug.clone(),
    };
    let text_changed = old.title != d.title.trim() || old.body != d.body;
    let revision = if text_changed {
        old.revision + 1
    } else {
        old.revision
    };
    let source_revision = if old.is_original() {
        None
    } else {
        Some(get(conn, old.group_id).await?.revision)
    };
    conn.execute(
        "UPDATE articles SET slug = $1, title = $2, body = $3, html = $4, category_id = $5, tags = $6, visibility = $7, \
         status = $8, revision = $9, source_revision = $10, updated_at = $11 WHERE id = $12",
        args![
            slug,
            d.title.trim(),
            d.body,
            d.html,
            d.category_id.map(|c| c.to_string()),
            serde_json::to_string(d.tags).unwrap_or_default(),
            d.visibility,
            d.status,
            revision,
            source_revision,
            crate::now().micros(),
            id.to_string()
        ],
    )
    .await?;
    if text_changed {
        add_revision(conn, id, revision, d.title.trim(), d.body, author, d.note).await?;
    }
    changed(conn, "article.updated", id, author).await?;
    get(conn, id).await
}

pub async fn get(conn: &mut dyn Conn, id: ArticleId) -> Result<Article> {
    let sql = format!("SELECT {COLUMNS} FROM articles WHERE id = $1");
    decode(
        &conn
            .query_opt(&sql, args![id.to_string()])
            .await?
            .ok_or(Error::NotFound)?,
    )
}

pub async fn by_slug(conn: &mut dyn Conn, lang: &str, slug: &str) -> Result<Article> {
    let sql = format!("SELECT {COLUMNS} FROM articles WHERE lang = $1 AND slug = $2");
    decode(
        &conn
            .query_opt(&sql, args![lang, slug])
            .await?
            .ok_or(Error::NotFound)?,
    )
}

/// Which articles to list.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    pub lang: Option<&'a str>,
    pub status: Option<&'a str>,
    pub visibility: Option<&'a str>,
    pub category_id: Option<CategoryId>,
}

pub async fn list(
    conn: &mut dyn Conn,
    f: &Filter<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Article>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM articles WHERE ($1 = '' OR lang = $1) AND ($2 = '' OR status = $2) \
         AND ($3 = '' OR visibility = $3) AND ($4 = '' OR category_id = $4) ORDER BY title LIMIT $5 OFFSET $6"
    );
    conn.query(
        &sql,
        args![
            f.lang.unwrap_or(""),
            f.status.unwrap_or(""),
            f.visibility.unwrap_or(""),
            f.category_id.map(|c| c.to_string()).unwrap_or_default(),
            limit,
            offset
        ],
    )
    .await?
    .iter()
    .map(decode)
    .collect()
}

/// Every article in the group of `id`: the original first.
pub async fn translations(conn: &mut dyn Conn, id: ArticleId) -> Result<Vec<Article>> {
    let group = get(conn, id).await?.group_id;
    let sql = format!(
        "SELECT {COLUMNS} FROM articles WHERE group_id = $1 ORDER BY CASE WHEN id = group_id THEN 0 ELSE 1 END, lang"
    );
    conn.query(&sql, args![group.to_string()])
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// Where one translation group stands.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Coverage {
    pub original: Article,
    /// Languages with a translation that follows the original's current revision.
    pub current: Vec<String>,
    /// Languages whose translation was made from an older revision of the original.
    pub outdated: Vec<String>,
    /// Help-center languages with no translation at all.
    pub missing: Vec<String>,
}

/// The translation state of every original that is not archived.
pub async fn coverage(conn: &mut dyn Conn) -> Result<Vec<Coverage>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM articles WHERE status <> 'archived' ORDER BY group_id, lang"
    );
    let all: Vec<Article> = conn
        .query(&sql, args![])
        .await?
        .iter()
        .map(decode)
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for original in all.iter().filter(|a| a.is_original()) {
        let mut c = Coverage {
            original: original.clone(),
            current: Vec::new(),
            outdated: Vec::new(),
            missing: Vec::new(),
        };
        for t in all
            .iter()
            .filter(|a| a.group_id == original.id && !a.is_original())
        {
            if t.source_revision.unwrap_or(0) >= original.revision {
                c.current.push(t.lang.clone());
            } else {
                c.outdated.push(t.lang.clone());
            }
        }
        for lang in LANGUAGES {
            if *lang != original.lang && !c.current.iter().chain(&c.outdated).any(|l| l == lang) {
                c.missing.push(lang.to_string());
            }
        }
        out.push(c);
    }
    out.sort_by(|a, b| a.original.title.cmp(&b.original.title));
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revision {
    pub revision: i64,
    pub title: String,
    pub body: String,
    pub author_id: Option<AgentId>,
    pub note: Option<String>,
    pub created_at: Timestamp,
}

pub async fn revisions(conn: &mut dyn Conn, id: ArticleId) -> Result<Vec<Revision>> {
    get(conn, id).await?;
    conn.query(
        "SELECT revision, title, body, author_id, note, created_at FROM article_revisions WHERE article_id = $1 ORDER BY revision DESC",
        args![id.to_string()],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Revision {
            revision: r.int(0)?,
            title: r.text(1)?,
            body: r.text(2)?,
            author_id: r.opt_parse(3)?,
            note: r.opt_text(4)?,
            created_at: Timestamp(r.int(5)?),
        })
    })
    .collect()
}

pub async fn revision(conn: &mut dyn Conn, id: ArticleId, n: i64) -> Result<Revision> {
    revisions(conn, id)
        .await?
        .into_iter()
        .find(|r| r.revision == n)
        .ok_or(Error::NotFound)
}

/// Removes an article and its revisions (its translations stay; a removed original
/// leaves them without one, so the oldest translation becomes the original).
pub async fn delete(conn: &mut dyn Conn, id: ArticleId, actor: Option<AgentId>) -> Result<()> {
    let a = get(conn, id).await?;
    conn.execute("DELETE FROM articles WHERE id = $1", args![id.to_string()])
        .await?;
    if a.is_original()
        && let Some(heir) = conn
            .query_opt(
                "SELECT id FROM articles WHERE group_id = $1 ORDER BY created_at LIMIT 1",
                args![id.to_string()],
            )
            .await?
    {
        let heir: String = heir.text(0)?;
        conn.execute(
            "UPDATE articles SET group_id = $1, source_revision = CASE WHEN id = $1 THEN NULL ELSE source_revision END WHERE group_id = $2",
            args![heir.as_str(), id.to_string()],
        )
        .await?;
    }
    changed(conn, "article.deleted", id, actor).await
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Category {
    pub id: CategoryId,
    pub slug: String,
    /// The name by language.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub names: serde_json::Value,
    pub position: i64,
}

impl Category {
    /// The name in `lang`, else in English, else the slug.
    pub fn name(&self, lang: &str) -> String {
        self.names
            .get(lang)
            .or_else(|| self.names.get("en"))
            .and_then(|v| v.as_str())
            .unwrap_or(&self.slug)
            .to_string()
    }
}

fn decode_category(r: &crate::Row) -> Result<Category> {
    Ok(Category {
        id: r.parse(0)?,
        slug: r.text(1)?,
        names: serde_json::from_str(&r.text(2)?).unwrap_or_default(),
        position: r.int(3)?,
    })
}

pub async fn create_category(
    conn: &mut dyn Conn,
    slug_: &str,
    names: &serde_json::Value,
    position: i64,
) -> Result<Category> {
    if !is_slug(slug_) {
        return Err(Error::invalid(
            "slug",
            "lower-case letters (any script), digits and single dashes",
        ));
    }
    let ok = names.as_object().is_some_and(|m| {
        !m.is_empty()
            && m.iter().all(|(k, v)| {
                seva_core::text::is_language_tag(k)
                    && v.as_str()
                        .is_some_and(|s| !s.trim().is_empty() && s.chars().count() <= 100)
            })
    });
    if !ok {
        return Err(Error::invalid(
            "names",
            "an object of language tag to name, such as {\"en\": \"Billing\"}",
        ));
    }
    if category_by_slug(conn, slug_).await.is_ok() {
        return Err(Error::Conflict(format!(
            "a category already has the slug {slug_:?}"
        )));
    }
    let id = CategoryId::new();
    conn.execute(
        "INSERT INTO kb_categories (id, slug, names, position, created_at) VALUES ($1, $2, $3, $4, $5)",
        args![id.to_string(), slug_, names.to_string(), position, crate::now().micros()],
    )
    .await?;
    category(conn, id).await
}

pub async fn category(conn: &mut dyn Conn, id: CategoryId) -> Result<Category> {
    let row = conn
        .query_opt(
            "SELECT id, slug, names, position FROM kb_categories WHERE id = $1",
            args![id.to_string()],
        )
        .await?
        .ok_or_else(|| Error::invalid("category_id", "no such category"))?;
    decode_category(&row)
}

pub async fn category_by_slug(conn: &mut dyn Conn, slug: &str) -> Result<Category> {
    let row = conn
        .query_opt(
            "SELECT id, slug, names, position FROM kb_categories WHERE slug = $1",
            args![slug],
        )
        .await?
        .ok_or(Error::NotFound)?;
    decode_category(&row)
}

pub async fn categories(conn: &mut dyn Conn) -> Result<Vec<Category>> {
    conn.query(
        "SELECT id, slug, names, position FROM kb_categories ORDER BY position, slug",
        args![],
    )
    .await?
    .iter()
    .map(decode_category)
    .collect()
}

/// A reader's answer to "was this helpful?".
pub async fn feedback(
    conn: &mut dyn Conn,
    id: ArticleId,
    helpful: bool,
    comment: Option<&str>,
    source: &str,
) -> Result<()> {
    let a = get(conn, id).await?;
    if source == "help_center" && !a.is_public() {
        return Err(Error::NotFound);
    }
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > 2000) {
        return Err(Error::invalid("comment", "at most 2000 characters"));
    }
    conn.execute(
        "INSERT INTO article_feedback (id, article_id, helpful, comment, source, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            seva_core::EventId::new().to_string(),
            id.to_string(),
            helpful,
            comment,
            source,
            crate::now().micros()
        ],
    )
    .await?;
    Ok(())
}

/// How readers and the bot found one article, in its language.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Helpfulness {
    pub article_id: String,
    pub lang: String,
    pub helpful: i64,
    pub not_helpful: i64,
    /// Times the bot offered it, and of those: solved (self-served), handed over.
    pub offered: i64,
    pub solved: i64,
    pub handed_off: i64,
    /// Readers' comments, newest first (at most ten).
    pub comments: Vec<String>,
}

pub async fn helpfulness(conn: &mut dyn Conn, id: ArticleId) -> Result<Helpfulness> {
    let a = get(conn, id).await?;
    let f = conn
        .query_one(
            "SELECT coalesce(sum(CASE WHEN helpful = 1 THEN 1 ELSE 0 END), 0), coalesce(sum(CASE WHEN helpful = 1 THEN 0 ELSE 1 END), 0) \
             FROM article_feedback WHERE article_id = $1",
            args![id.to_string()],
        )
        .await?;
    let b = conn
        .query_one(
            "SELECT count(*), coalesce(sum(CASE WHEN outcome = 'solved' THEN 1 ELSE 0 END), 0), \
             coalesce(sum(CASE WHEN outcome = 'handed_off' THEN 1 ELSE 0 END), 0) FROM bot_offers WHERE article_id = $1",
            args![id.to_string()],
        )
        .await?;
    let comments = conn
        .query(
            "SELECT comment FROM article_feedback WHERE article_id = $1 AND comment IS NOT NULL ORDER BY created_at DESC LIMIT 10",
            args![id.to_string()],
        )
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<_>>()?;
    Ok(Helpfulness {
        article_id: id.to_string(),
        lang: a.lang,
        helpful: f.int(0)?,
        not_helpful: f.int(1)?,
        offered: b.int(0)?,
        solved: b.int(1)?,
        handed_off: b.int(2)?,
        comments,
    })
}

/// An agent says an article is wrong or out of date: its author (else every admin and
/// supervisor) is told.
pub async fn flag(conn: &mut dyn Conn, id: ArticleId, agent: AgentId, reason: &str) -> Result<()> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(Error::invalid(
            "reason",
            "1 to 2000 characters: what is wrong or out of date",
        ));
    }
    let a = get(conn, id).await?;
    conn.execute(
        "INSERT INTO article_flags (id, article_id, agent_id, reason, created_at) VALUES ($1, $2, $3, $4, $5)",
        args![seva_core::EventId::new().to_string(), id.to_string(), agent.to_string(), reason, crate::now().micros()],
    )
    .await?;
    let text = format!("“{}” ({}) was flagged: {reason}", a.title, a.lang);
    let to: Vec<AgentId> = match a.author_id.filter(|author| *author != agent) {
        Some(author) => vec![author],
        None => conn
            .query("SELECT id FROM agents WHERE disabled = 0 AND role IN ('admin', 'supervisor') AND id <> $1", args![agent.to_string()])
            .await?
            .iter()
            .map(|r| r.parse(0))
            .collect::<Result<_>>()?,
    };
    for author in to {
        crate::notifications::to_agent(conn, author, None, "article_flagged", &text).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Flag {
    pub article_id: ArticleId,
    pub agent_id: AgentId,
    pub reason: String,
    pub created_at: Timestamp,
}

/// The open flags on an article.
pub async fn flags(conn: &mut dyn Conn, id: ArticleId) -> Result<Vec<Flag>> {
    conn.query(
        "SELECT article_id, agent_id, reason, created_at FROM article_flags WHERE article_id = $1 AND resolved_at IS NULL ORDER BY created_at",
        args![id.to_string()],
    )
    .await?
    .iter()
    .map(|r| Ok(Flag { article_id: r.parse(0)?, agent_id: r.parse(1)?, reason: r.text(2)?, created_at: Timestamp(r.int(3)?) }))
    .collect()
}

/// Marks an article's flags dealt with.
pub async fn resolve_flags(conn: &mut dyn Conn, id: ArticleId) -> Result<u64> {
    conn.execute(
        "UPDATE article_flags SET resolved_at = $1 WHERE article_id = $2 AND resolved_at IS NULL",
        args![crate::now().micros(), id.to_string()],
    )
    .await
}

/// Every article, `limit` at a time after `after` (an id), for rebuilding the index.
pub async fn page(
    conn: &mut dyn Conn,
    after: Option<ArticleId>,
    limit: i64,
) -> Result<Vec<Article>> {
    let sql = format!("SELECT {COLUMNS} FROM articles WHERE id > $1 ORDER BY id LIMIT $2");
    conn.query(
        &sql,
        args![after.map(|a| a.to_string()).unwrap_or_default(), limit],
    )
    .await?
    .iter()
    .map(decode)
    .collect()
}

/// Articles whose id is one of `ids`, in no particular order (missing ones left out).
pub async fn some(conn: &mut dyn Conn, ids: &[ArticleId]) -> Result<Vec<Article>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match get(conn, *id).await {
            Ok(a) => out.push(a),
            Err(Error::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
