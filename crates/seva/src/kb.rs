//! `seva kb import DIR` and `seva kb export DIR`: the knowledge base as a folder of
//! Markdown files, one article each, with a front matter of `key: value` lines between
//! `---` lines:
//!
//! ```text
//! ---
//! id: 0193…            (on export; on import, updates that article)
//! lang: te
//! title: కస్టమర్ సేవ అంటే ఏమిటి?
//! slug: kastamar-seva
//! translation_of: en/what-is-customer-service   (lang/slug, or an id)
//! category: basics
//! tags: [service, basics]
//! visibility: public
//! status: published
//! ---
//! The body, in Markdown.
//! ```
//!
//! A file with no front matter is taken whole: its first line is the title (a leading `#`
//! dropped) and its language is detected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use seva_core::ArticleId;
use seva_server::knowledge::{Input, save};
use seva_store::knowledge::{self, Article, Filter};
use seva_store::{Store, op};

struct File {
    path: PathBuf,
    meta: BTreeMap<String, String>,
    body: String,
}

/// Splits a file into its front matter and body.
fn parse(path: &Path, text: &str) -> Result<File> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut meta = BTreeMap::new();
    let body = match text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    {
        Some(rest) => {
            let end = rest.find("\n---").with_context(|| {
                format!("{}: the front matter has no closing ---", path.display())
            })?;
            for (n, line) in rest[..end].lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (k, v) = line.split_once(':').with_context(|| {
                    format!(
                        "{}: front matter line {} is not `key: value`",
                        path.display(),
                        n + 2
                    )
                })?;
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                meta.insert(k.trim().to_string(), v.to_string());
            }
            let after = &rest[end + 4..];
            after
                .strip_prefix('\n')
                .or_else(|| after.strip_prefix("\r\n"))
                .unwrap_or(after)
                .to_string()
        }
        None => text.to_string(),
    };
    Ok(File {
        path: path.to_path_buf(),
        meta,
        body,
    })
}

fn list(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| {
            v.trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(|t| t.trim().trim_matches('"').to_string())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            markdown_files(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e == "md" || e == "markdown" || e == "txt")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Imports every Markdown file under `dir`: originals first, then translations. Files that
/// set no status are published when `publish` is set, else drafts.
pub async fn import(store: &Store, dir: &Path, publish: bool) -> Result<()> {
    let mut paths = Vec::new();
    markdown_files(dir, &mut paths)?;
    paths.sort();
    if paths.is_empty() {
        bail!("no Markdown files (.md) under {}", dir.display());
    }
    let mut files = Vec::new();
    for p in &paths {
        let raw = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        let text = String::from_utf8(raw)
            .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", p.display()))?;
        files.push(parse(p, &text)?);
    }
    files.sort_by_key(|f| f.meta.contains_key("translation_of"));
    let (mut created, mut updated, mut failed) = (0, 0, 0);
    for f in &files {
        match import_one(store, f, publish).await {
            Ok((a, new)) => {
                if new {
                    created += 1
                } else {
                    updated += 1
                }
                eprintln!(
                    "{}: {} /{}/{}",
                    f.path.display(),
                    if new { "created" } else { "updated" },
                    a.lang,
                    a.slug
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("{}: not imported: {e:#}", f.path.display());
            }
        }
    }
    println!("{created} created, {updated} updated, {failed} not imported");
    if failed > 0 {
        bail!("{failed} files were not imported");
    }
    Ok(())
}

async fn import_one(store: &Store, f: &File, publish: bool) -> Result<(Article, bool)> {
    let m = &f.meta;
    let (title, body) = match m.get("title") {
        Some(t) => (t.clone(), f.body.clone()),
        None => {
            let mut lines = f.body.splitn(2, '\n');
            let first = lines
                .next()
                .unwrap_or("")
                .trim()
                .trim_start_matches('#')
                .trim()
                .to_string();
            if first.chars().count() <= 150 {
                (first, lines.next().unwrap_or("").trim_start().to_string())
            } else {
                // A text that opens with a paragraph, not a title: its start names it.
                (seva_core::text::preview(&first, 80), f.body.clone())
            }
        }
    };
    let lang = match m.get("lang") {
        Some(l) => l.clone(),
        None => seva_search::language::detect(&format!("{title}\n{body}")).context(
            "no `lang` in the front matter, and the language could not be told from the text",
        )?,
    };
    let translation_of = match m.get("translation_of") {
        Some(r) => Some(find(store, r).await?),
        None => None,
    };
    let category_id = match m.get("category") {
        Some(slug) => Some(category(store, slug, &lang).await?),
        None => None,
    };
    let existing = match m.get("id") {
        Some(id) => {
            let id: ArticleId = id
                .parse()
                .map_err(|_| anyhow::anyhow!("id {id:?} is not an article id"))?;
            store.read(op!(c => knowledge::get(c, id).await)).await.ok()
        }
        None => match m.get("slug") {
            Some(slug) => {
                let (l, s) = (lang.clone(), slug.clone());
                store
                    .read(op!(c => knowledge::by_slug(c, &l, &s).await))
                    .await
                    .ok()
            }
            None => None,
        },
    };
    let input = Input {
        lang,
        slug: m.get("slug").cloned(),
        title,
        body,
        category_id,
        tags: list(m.get("tags")),
        visibility: m
            .get("visibility")
            .cloned()
            .unwrap_or_else(|| "public".into()),
        status: m
            .get("status")
            .cloned()
            .unwrap_or_else(|| if publish { "published" } else { "draft" }.into()),
        translation_of: if existing.is_some() {
            None
        } else {
            translation_of
        },
        note: Some("imported".into()),
    };
    let id = existing.as_ref().map(|a| a.id);
    let a = save(store, id, &input, None).await?;
    Ok((a, id.is_none()))
}

/// An article named by id, or by `lang/slug`.
async fn find(store: &Store, reference: &str) -> Result<ArticleId> {
    if let Ok(id) = reference.parse::<ArticleId>() {
        return Ok(id);
    }
    let (lang, slug) = reference
        .split_once('/')
        .with_context(|| format!("translation_of {reference:?} is neither an id nor lang/slug"))?;
    let (l, s) = (lang.to_string(), slug.to_string());
    let a = store
        .read(op!(c => knowledge::by_slug(c, &l, &s).await))
        .await
        .with_context(|| format!("translation_of {reference:?}: no such article"))?;
    Ok(a.id)
}

async fn category(store: &Store, slug: &str, lang: &str) -> Result<seva_core::CategoryId> {
    let s = slug.to_string();
    let wanted = s.clone();
    if let Ok(c) = store
        .read(op!(c => knowledge::category_by_slug(c, &wanted).await))
        .await
    {
        return Ok(c.id);
    }
    let names = serde_json::json!({ lang: slug });
    let c = store
        .write(op!(c => knowledge::create_category(c, &s, &names, 0).await))
        .await
        .with_context(|| format!("category {slug:?}"))?;
    Ok(c.id)
}

/// Writes every article to `dir/<lang>/<slug>.md`.
pub async fn export(store: &Store, dir: &Path) -> Result<()> {
    let mut all = Vec::new();
    loop {
        let offset = all.len() as i64;
        let page = store
            .read(op!(c => knowledge::list(c, &Filter::default(), 500, offset).await))
            .await?;
        let done = page.len() < 500;
        all.extend(page);
        if done {
            break;
        }
    }
    let categories = store.read(op!(c => knowledge::categories(c).await)).await?;
    for a in &all {
        let folder = dir.join(&a.lang);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let mut text = String::from("---\n");
        text.push_str(&format!(
            "id: {}\nlang: {}\ntitle: \"{}\"\nslug: {}\n",
            a.id,
            a.lang,
            a.title.replace('"', "'"),
            a.slug
        ));
        if !a.is_original() {
            text.push_str(&format!("translation_of: {}\n", a.group_id));
        }
        if let Some(c) = a
            .category_id
            .and_then(|id| categories.iter().find(|c| c.id == id))
        {
            text.push_str(&format!("category: {}\n", c.slug));
        }
        if !a.tags.is_empty() {
            text.push_str(&format!("tags: [{}]\n", a.tags.join(", ")));
        }
        text.push_str(&format!(
            "visibility: {}\nstatus: {}\n---\n",
            a.visibility, a.status
        ));
        text.push_str(&a.body);
        if !a.body.ends_with('\n') {
            text.push('\n');
        }
        let path = folder.join(format!("{}.md", a.slug));
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("{} articles written under {}", all.len(), dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_and_body() {
        let f = parse(
            Path::new("a.md"),
            "---\nlang: el\ntitle: \"Πώς: επιστροφές\"\ntags: [a, b]\n---\n# Body\n\ntext\n",
        )
        .unwrap();
        assert_eq!(f.meta["lang"], "el");
        assert_eq!(f.meta["title"], "Πώς: επιστροφές");
        assert_eq!(list(f.meta.get("tags")), ["a", "b"]);
        assert_eq!(f.body, "# Body\n\ntext\n");
        assert!(parse(Path::new("b.md"), "---\nlang: el\nno end").is_err());
        let plain = parse(Path::new("c.md"), "Title\nbody").unwrap();
        assert!(plain.meta.is_empty());
    }
}
