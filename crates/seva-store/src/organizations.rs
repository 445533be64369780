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

pub async fn create(conn: &mut dyn Conn, name: &str, domain: Option<&str>) -> Result<Organization> {
    let name = seva_core::contact::clean_name(name)
        .ok_or_else(|| Error::invalid("name", "an organization needs a name"))?;
    let domain = match domain.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => Some(
            seva_core::contact::Email::parse(&format!("x@{d}"))
                .map_err(|_| Error::invalid("domain", "a domain name such as example.com"))?
                .as_str()[2..]
                .to_string(),
        ),
        None => None,
    };
    let id = OrganizationId::new();
    let r = conn
        .execute(
            "INSERT INTO organizations (id, name, domain, created_at) VALUES ($1, $2, $3, $4)",
            args![id.to_string(), &name, domain, crate::now().micros()],
        )
        .await;
    match r {
        Err(e) if e.is_unique_violation() => {
            return Err(Error::Conflict(
                "an organization with that domain exists".into(),
            ));
        }
        other => other?,
    };
    crate::events::append(
        conn,
        "organization.created",
        None,
        "system",
        serde_json::json!({"organization_id": id, "name": name}),
    )
    .await?;
    get(conn, id).await
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

pub async fn list(conn: &mut dyn Conn) -> Result<Vec<Organization>> {
    let sql = format!("{SELECT} ORDER BY o.name");
    conn.query(&sql, &[]).await?.iter().map(decode).collect()
}
