//! Organizations: the companies contacts belong to, so that an account's people and
//! their history can be seen together.

use serde::Serialize;
use seva_core::OrganizationId;
use seva_core::time::Timestamp;

use crate::db::Conn;
use crate::{Error, Result, args};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    /// The email domain its people write from, e.g. `example.com`.
    pub domain: Option<String>,
    pub contacts: i64,
    pub created_at: Timestamp,
}

const SELECT: &str = "SELECT o.id, o.name, o.domain, o.created_at, \
    (SELECT count(*) FROM contacts c WHERE c.organization_id = o.id AND c.merged_into IS NULL) FROM organizations o";

fn decode(r: &crate::Row) -> Result<Organization> {
    Ok(Organization {
        id: r.parse(0)?,
        name: r.text(1)?,
        domain: r.opt_text(2)?,
        created_at: Timestamp(r.int(3)?),
        contacts: r.int(4)?,
    })
}

/// A domain as stored (`example.com`, lower-cased), or the refusal naming the field.
fn clean_domain(domain: Option<&str>) -> Result<Option<String>> {
    match domain.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => Ok(Some(
            seva_core::contact::Email::parse(&format!("x@{d}"))
                .map_err(|_| Error::invalid("domain", "a domain name such as example.com"))?
                .as_str()[2..]
                .to_string(),
        )),
        None => Ok(None),
    }
}

/// Makes an organization. With a domain, the contacts who write from it and belong to no
/// organization yet join it (as new ones will).
pub async fn create(
    conn: &mut dyn Conn,
    name: &str,
    domain: Option<&str>,
    actor: &str,
) -> Result<Organization> {
    let name = seva_core::contact::clean_name(name)
        .ok_or_else(|| Error::invalid("name", "an organization needs a name"))?;
    let domain = clean_domain(domain)?;
    let id = OrganizationId::new();
    let r = conn
        .execute(
            "INSERT INTO organizations (id, name, domain, created_at) VALUES ($1, $2, $3, $4)",
            args![
                id.to_string(),
                &name,
                domain.as_deref(),
                crate::now().micros()
            ],
        )
        .await;
    refuse_taken_domain(r)?;
    let joined = gather(conn, id, domain.as_deref()).await?;
    crate::events::append(
        conn,
        "organization.created",
        None,
        actor,
        serde_json::json!({"organization_id": id, "name": name, "joined": joined}),
    )
    .await?;
    get(conn, id).await
}

/// Renames an organization or changes its domain (`Some(None)` removes it). Contacts of a
/// new domain who belong to no organization join; those who joined by the old one stay.
pub async fn update(
    conn: &mut dyn Conn,
    id: OrganizationId,
    name: Option<&str>,
    domain: Option<Option<&str>>,
    actor: &str,
) -> Result<Organization> {
    get(conn, id).await?;
    if let Some(name) = name {
        let name = seva_core::contact::clean_name(name)
            .ok_or_else(|| Error::invalid("name", "an organization needs a name"))?;
        conn.execute(
            "UPDATE organizations SET name = $1 WHERE id = $2",
            args![name, id.to_string()],
        )
        .await?;
    }
    let mut joined = 0;
    if let Some(domain) = domain {
        let domain = clean_domain(domain)?;
        let r = conn
            .execute(
                "UPDATE organizations SET domain = $1 WHERE id = $2",
                args![domain.as_deref(), id.to_string()],
            )
            .await;
        refuse_taken_domain(r)?;
        joined = gather(conn, id, domain.as_deref()).await?;
    }
    crate::events::append(
        conn,
        "organization.updated",
        None,
        actor,
        serde_json::json!({"organization_id": id, "joined": joined}),
    )
    .await?;
    get(conn, id).await
}

/// Deletes an organization; its people stay, in no organization.
pub async fn delete(conn: &mut dyn Conn, id: OrganizationId, actor: &str) -> Result<()> {
    get(conn, id).await?;
    conn.execute(
        "UPDATE contacts SET organization_id = NULL, updated_at = $1 WHERE organization_id = $2",
        args![crate::now().micros(), id.to_string()],
    )
    .await?;
    conn.execute(
        "DELETE FROM organizations WHERE id = $1",
        args![id.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "organization.deleted",
        None,
        actor,
        serde_json::json!({"organization_id": id}),
    )
    .await
}

fn refuse_taken_domain(r: Result<u64>) -> Result<()> {
    match r {
        Err(e) if e.is_unique_violation() => Err(Error::Conflict(
            "an organization with that domain exists".into(),
        )),
        other => other.map(|_| ()),
    }
}

/// Puts the contacts with an address at `domain` who belong to no organization into `id`;
/// returns how many joined.
async fn gather(conn: &mut dyn Conn, id: OrganizationId, domain: Option<&str>) -> Result<u64> {
    let Some(domain) = domain else {
        return Ok(0);
    };
    conn.execute(
        "UPDATE contacts SET organization_id = $1, updated_at = $2 \
         WHERE organization_id IS NULL AND merged_into IS NULL AND id IN \
         (SELECT contact_id FROM contact_identities WHERE kind = 'email' AND value LIKE $3)",
        args![id.to_string(), crate::now().micros(), format!("%@{domain}")],
    )
    .await
}

pub async fn get(conn: &mut dyn Conn, id: OrganizationId) -> Result<Organization> {
    let sql = format!("{SELECT} WHERE o.id = $1");
    decode(
        &conn
            .query_opt(&sql, args![id.to_string()])
            .await?
            .ok_or(Error::NotFound)?,
    )
}

/// Organizations whose name (in any case, with or without accents) or domain holds
/// `query`, by name. Organizations are few: they are matched here rather than in SQL,
/// whose `lower()` knows only ASCII on SQLite.
pub async fn search(conn: &mut dyn Conn, query: &str, limit: usize) -> Result<Vec<Organization>> {
    let q = seva_core::text::fold(query.trim());
    if q.is_empty() {
        return Ok(Vec::new());
    }
    Ok(list(conn)
        .await?
        .into_iter()
        .filter(|o| {
            seva_core::text::fold(&o.name).contains(&q)
                || o.domain.as_deref().is_some_and(|d| d.contains(&q))
        })
        .take(limit)
        .collect())
}

pub async fn list(conn: &mut dyn Conn) -> Result<Vec<Organization>> {
    let sql = format!("{SELECT} ORDER BY o.name");
    conn.query(&sql, &[]).await?.iter().map(decode).collect()
}
