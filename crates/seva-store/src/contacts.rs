//! Contacts (customers) and their identities on channels. A customer who writes from the
//! web form today and by email tomorrow with the same address is one contact with one
//! history; two contacts found to be the same person are merged.

use serde::Serialize;
use seva_core::contact::IdentityKind;
use seva_core::time::Timestamp;
use seva_core::{ContactId, OrganizationId};

use crate::db::Conn;
use crate::{Error, Result, args};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contact {
    pub id: ContactId,
    pub name: String,
    pub language: Option<String>,
    pub organization_id: Option<OrganizationId>,
    pub identities: Vec<Identity>,
    pub attributes: serde_json::Value,
    pub conversation_count: i64,
    pub created_at: Timestamp,
    /// The contact this one was merged into; its identities and conversations are there.
    pub merged_into: Option<ContactId>,
    /// When an agent marked the contact a spammer: what they send is filed as spam.
    pub blocked_at: Option<Timestamp>,
}

const COLUMNS: &str =
    "id, name, language, organization_id, attributes, created_at, merged_into, blocked_at";

async fn decode(conn: &mut dyn Conn, row: &crate::Row) -> Result<Contact> {
    let id: ContactId = row.parse(0)?;
    let identities = conn
        .query(
            "SELECT kind, value FROM contact_identities WHERE contact_id = $1 ORDER BY kind, value",
            args![id.to_string()],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Identity {
                kind: r.parse(0)?,
                value: r.text(1)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let conversation_count = conn
        .query_one(
            "SELECT count(*) FROM conversations WHERE contact_id = $1",
            args![id.to_string()],
        )
        .await?
        .int(0)?;
    Ok(Contact {
        id,
        name: row.text(1)?,
        language: row.opt_text(2)?,
        organization_id: row.opt_parse(3)?,
        attributes: serde_json::from_str(&row.text(4)?).unwrap_or_default(),
        created_at: Timestamp(row.int(5)?),
        merged_into: row.opt_parse(6)?,
        blocked_at: row.opt_int(7)?.map(Timestamp),
        identities,
        conversation_count,
    })
}

/// The contact known by this identity, created if it is new. The identity value must already be normalised by its type
/// (`Email::identity_key`, `PhoneE164`).
pub async fn resolve(
    conn: &mut dyn Conn,
    kind: IdentityKind,
    value: &str,
    name: Option<&str>,
) -> Result<Resolved> {
    if let Some(row) = conn
        .query_opt(
            "SELECT i.contact_id, c.blocked_at FROM contact_identities i JOIN contacts c ON c.id = i.contact_id \
             WHERE i.kind = $1 AND i.value = $2",
            args![kind.as_str(), value],
        )
        .await?
    {
        return Ok(Resolved {
            id: row.parse(0)?,
            created: false,
            blocked: row.opt_int(1)?.is_some(),
        });
    }
    let id = ContactId::new();
    let now = crate::now().micros();
    // Someone who gives no name is shown by the identity they wrote from.
    let name = name
        .and_then(seva_core::contact::clean_name)
        .unwrap_or_else(|| value.to_string());
    let key = seva_core::text::fold(&name);
    // Someone who writes from an organization's domain joins it.
    let domain = match kind {
        IdentityKind::Email => value.rsplit_once('@').map(|(_, d)| d),
        _ => None,
    };
    conn.execute(
        "INSERT INTO contacts (id, name, name_key, created_at, updated_at, organization_id) \
         VALUES ($1, $2, $3, $4, $4, (SELECT id FROM organizations WHERE domain = $5))",
        args![id.to_string(), name, key, now, domain],
    )
    .await?;
    conn.execute(
        "INSERT INTO contact_identities (kind, value, contact_id, created_at) VALUES ($1, $2, $3, $4)",
        args![kind.as_str(), value, id.to_string(), now],
    )
    .await?;
    Ok(Resolved {
        id,
        created: true,
        blocked: false,
    })
}

/// The contact an identity belongs to, as [`resolve`] found or made it.
pub struct Resolved {
    pub id: ContactId,
    pub created: bool,
    /// Marked a spammer: what they send is filed as spam.
    pub blocked: bool,
}

/// Blocks a contact (what they send from now on is filed as spam) or lets them write
/// again; recorded in the event log.
pub async fn set_blocked(
    conn: &mut dyn Conn,
    id: ContactId,
    blocked: bool,
    actor: &str,
) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE contacts SET blocked_at = $1, updated_at = $2 WHERE id = $3",
            args![
                blocked.then(|| crate::now().micros()),
                crate::now().micros(),
                id.to_string()
            ],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    crate::events::append(
        conn,
        if blocked {
            "contact.blocked"
        } else {
            "contact.unblocked"
        },
        None,
        actor,
        serde_json::json!({"contact_id": id}),
    )
    .await
}

/// The contact an identity (an email address as [`seva_core::contact::Email::identity_key`]
/// writes it, an E.164 number, …) belongs to.
pub async fn by_identity(
    conn: &mut dyn Conn,
    kind: IdentityKind,
    value: &str,
) -> Result<ContactId> {
    conn.query_opt(
        "SELECT contact_id FROM contact_identities WHERE kind = $1 AND value = $2",
        args![kind.as_str(), value],
    )
    .await?
    .ok_or(Error::NotFound)?
    .parse(0)
}

pub async fn get(conn: &mut dyn Conn, id: ContactId) -> Result<Contact> {
    let sql = format!("SELECT {COLUMNS} FROM contacts WHERE id = $1");
    let row = conn
        .query_opt(&sql, args![id.to_string()])
        .await?
        .ok_or(Error::NotFound)?;
    decode(conn, &row).await
}

/// An organization's people, by name.
pub async fn of_organization(
    conn: &mut dyn Conn,
    organization: OrganizationId,
    limit: i64,
) -> Result<Vec<Contact>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM contacts WHERE organization_id = $1 AND merged_into IS NULL ORDER BY name LIMIT $2"
    );
    let rows = conn
        .query(&sql, args![organization.to_string(), limit])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(decode(conn, row).await?);
    }
    Ok(out)
}

/// Contacts by name or identity containing `query` (case-insensitive; names also without
/// regard to accents), newest first.
pub async fn list(conn: &mut dyn Conn, query: Option<&str>, limit: i64) -> Result<Vec<Contact>> {
    let rows = match query.map(str::trim).filter(|q| !q.is_empty()) {
        None => {
            let sql = format!(
                "SELECT {COLUMNS} FROM contacts WHERE merged_into IS NULL ORDER BY created_at DESC LIMIT $1"
            );
            conn.query(&sql, args![limit]).await?
        }
        Some(q) => {
            let like = |text: String| {
                format!(
                    "%{}%",
                    text.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                )
            };
            // Names are matched folded (any case, with or without accents); identities
            // (addresses, numbers) lower-cased.
            let sql = format!(
                "SELECT {COLUMNS} FROM contacts c WHERE merged_into IS NULL AND (name_key LIKE $1 ESCAPE '\\' \
                 OR EXISTS (SELECT 1 FROM contact_identities i WHERE i.contact_id = c.id AND lower(i.value) LIKE $2 ESCAPE '\\')) \
                 ORDER BY created_at DESC LIMIT $3"
            );
            let (name, identity) = (like(seva_core::text::fold(q)), like(q.to_lowercase()));
            conn.query(&sql, args![name, identity, limit]).await?
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(decode(conn, row).await?);
    }
    Ok(out)
}

pub async fn update(
    conn: &mut dyn Conn,
    id: ContactId,
    name: Option<&str>,
    language: Option<&str>,
    organization: Option<Option<OrganizationId>>,
    attributes: Option<&serde_json::Map<String, serde_json::Value>>,
    actor: &str,
) -> Result<Contact> {
    let before = get(conn, id).await?;
    if let Some(changes) = attributes {
        let mut merged = before.attributes.as_object().cloned().unwrap_or_default();
        for (k, v) in changes {
            if k.is_empty() || k.chars().count() > 64 {
                return Err(Error::invalid(
                    "attributes",
                    "attribute names have 1 to 64 characters",
                ));
            }
            if v.is_null() {
                merged.remove(k);
            } else {
                merged.insert(k.clone(), v.clone());
            }
        }
        let text = serde_json::Value::Object(merged).to_string();
        if text.len() > 64 * 1024 {
            return Err(Error::invalid(
                "attributes",
                "attributes hold at most 64 KiB",
            ));
        }
        conn.execute(
            "UPDATE contacts SET attributes = $1, updated_at = $2 WHERE id = $3",
            args![text, crate::now().micros(), id.to_string()],
        )
        .await?;
    }
    if let Some(name) = name {
        let name = seva_core::contact::clean_name(name)
            .ok_or_else(|| Error::invalid("name", "a name cannot be empty"))?;
        let key = seva_core::text::fold(&name);
        conn.execute(
            "UPDATE contacts SET name = $1, name_key = $2, updated_at = $3 WHERE id = $4",
            args![name, key, crate::now().micros(), id.to_string()],
        )
        .await?;
    }
    if let Some(language) = language {
        conn.execute(
            "UPDATE contacts SET language = $1, updated_at = $2 WHERE id = $3",
            args![language, crate::now().micros(), id.to_string()],
        )
        .await?;
    }
    if let Some(org) = organization {
        if let Some(o) = org {
            check_organization(conn, o).await?;
        }
        conn.execute(
            "UPDATE contacts SET organization_id = $1, updated_at = $2 WHERE id = $3",
            args![
                org.map(|o| o.to_string()),
                crate::now().micros(),
                id.to_string()
            ],
        )
        .await?;
    }
    crate::events::append(
        conn,
        "contact.updated",
        None,
        actor,
        serde_json::json!({"contact_id": id}),
    )
    .await?;
    get(conn, id).await
}

/// Refuses an organization that does not exist, naming the field.
async fn check_organization(conn: &mut dyn Conn, organization: OrganizationId) -> Result<()> {
    crate::organizations::get(conn, organization)
        .await
        .map_err(|_| Error::invalid("organization_id", "no such organization"))?;
    Ok(())
}

/// Adds a contact by hand, before they ever write: a name, one way to reach them and,
/// if given, an organization (else the one whose domain their address is at). An
/// address or number another contact has is refused.
pub async fn create(
    conn: &mut dyn Conn,
    name: &str,
    identity: (IdentityKind, &str),
    organization: Option<OrganizationId>,
    actor: &str,
) -> Result<Contact> {
    let name = seva_core::contact::clean_name(name)
        .ok_or_else(|| Error::invalid("name", "a name cannot be empty"))?;
    if let Some(o) = organization {
        check_organization(conn, o).await?;
    }
    let Resolved { id, created, .. } = resolve(conn, identity.0, identity.1, Some(&name)).await?;
    if !created {
        return Err(Error::Conflict(
            "a contact with this address or number exists".into(),
        ));
    }
    if let Some(o) = organization {
        conn.execute(
            "UPDATE contacts SET organization_id = $1 WHERE id = $2",
            args![o.to_string(), id.to_string()],
        )
        .await?;
    }
    crate::events::append(
        conn,
        "contact.created",
        None,
        actor,
        serde_json::json!({"contact_id": id}),
    )
    .await?;
    get(conn, id).await
}

/// Gives a contact another way to reach them: an email address (as
/// [`seva_core::contact::Email::identity_key`] writes it) or an E.164 number. One that
/// belongs to another contact is refused (merge the two instead); one the contact has
/// already changes nothing. A contact in no organization joins the one whose domain a new
/// address is at.
pub async fn add_identity(
    conn: &mut dyn Conn,
    id: ContactId,
    kind: IdentityKind,
    value: &str,
    actor: &str,
) -> Result<Contact> {
    let contact = get(conn, id).await?;
    if contact.merged_into.is_some() {
        return Err(Error::invalid(
            "contact",
            "this contact was merged into another",
        ));
    }
    match by_identity(conn, kind, value).await {
        Ok(owner) if owner == id => return Ok(contact),
        Ok(_) => {
            return Err(Error::Conflict(
                "another contact has this address or number: merge the two instead".into(),
            ));
        }
        Err(Error::NotFound) => {}
        Err(e) => return Err(e),
    }
    let now = crate::now().micros();
    conn.execute(
        "INSERT INTO contact_identities (kind, value, contact_id, created_at) VALUES ($1, $2, $3, $4)",
        args![kind.as_str(), value, id.to_string(), now],
    )
    .await?;
    if kind == IdentityKind::Email
        && contact.organization_id.is_none()
        && let Some((_, domain)) = value.rsplit_once('@')
    {
        conn.execute(
            "UPDATE contacts SET organization_id = (SELECT id FROM organizations WHERE domain = $1), \
             updated_at = $2 WHERE id = $3",
            args![domain, now, id.to_string()],
        )
        .await?;
    }
    crate::events::append(
        conn,
        "contact.updated",
        None,
        actor,
        serde_json::json!({"contact_id": id, "identity_added": {"kind": kind, "value": value}}),
    )
    .await?;
    get(conn, id).await
}

/// Takes an email address or a phone number from a contact, who keeps at least one way to
/// be reached. (Chat and messaging identities stay: their channels find the contact by them.)
pub async fn remove_identity(
    conn: &mut dyn Conn,
    id: ContactId,
    kind: IdentityKind,
    value: &str,
    actor: &str,
) -> Result<Contact> {
    let contact = get(conn, id).await?;
    if !matches!(kind, IdentityKind::Email | IdentityKind::Phone) {
        return Err(Error::invalid(
            "kind",
            "only an email address or a phone number can be taken away",
        ));
    }
    if !contact
        .identities
        .iter()
        .any(|i| i.kind == kind && i.value == value)
    {
        return Err(Error::invalid("value", "the contact has no such identity"));
    }
    if contact.identities.len() == 1 {
        return Err(Error::invalid(
            "value",
            "a contact keeps at least one way to be reached",
        ));
    }
    conn.execute(
        "DELETE FROM contact_identities WHERE kind = $1 AND value = $2 AND contact_id = $3",
        args![kind.as_str(), value, id.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "contact.updated",
        None,
        actor,
        serde_json::json!({"contact_id": id, "identity_removed": {"kind": kind, "value": value}}),
    )
    .await?;
    get(conn, id).await
}

/// The contact that stands for a team asking for help (an internal customer), created if
/// new, with the tier `internal`.
pub async fn internal(conn: &mut dyn Conn, team_id: &str, team_name: &str) -> Result<ContactId> {
    let Resolved { id, created, .. } =
        resolve(conn, IdentityKind::Team, team_id, Some(team_name)).await?;
    if created {
        conn.execute(
            "UPDATE contacts SET attributes = $1 WHERE id = $2",
            args![
                serde_json::json!({"tier": "internal", "internal": true}).to_string(),
                id.to_string()
            ],
        )
        .await?;
    }
    Ok(id)
}

/// Merges `from` into `into`: identities and conversations move, `from` is kept only as a
/// pointer so that old links still resolve.
pub async fn merge(
    conn: &mut dyn Conn,
    from: ContactId,
    into: ContactId,
    actor: &str,
) -> Result<Contact> {
    if from == into {
        return Err(Error::invalid(
            "into",
            "a contact cannot be merged into itself",
        ));
    }
    get(conn, from).await?;
    get(conn, into).await?;
    let (f, i) = (from.to_string(), into.to_string());
    conn.execute(
        "UPDATE contact_identities SET contact_id = $1 WHERE contact_id = $2",
        args![&i, &f],
    )
    .await?;
    conn.execute(
        "UPDATE conversations SET contact_id = $1 WHERE contact_id = $2",
        args![&i, &f],
    )
    .await?;
    conn.execute(
        "UPDATE messages SET author_contact_id = $1 WHERE author_contact_id = $2",
        args![&i, &f],
    )
    .await?;
    conn.execute(
        "UPDATE contacts SET merged_into = $1, updated_at = $2 WHERE id = $3",
        args![&i, crate::now().micros(), &f],
    )
    .await?;
    crate::events::append(
        conn,
        "contact.merged",
        None,
        actor,
        serde_json::json!({"from": from, "into": into}),
    )
    .await?;
    get(conn, into).await
}
