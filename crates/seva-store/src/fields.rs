//! Custom fields defined per team (or for every team): a key, a label, a kind (text,
//! number, checkbox, date, select with its options). The definitions that apply to a
//! conversation are its team's and those for every team; when any apply, only those
//! fields are accepted, each checked for its kind. Where none apply, fields stay free-form.

use serde::{Deserialize, Serialize};
use seva_core::time::Timestamp;
use seva_core::{FieldId, TeamId};

use crate::db::Conn;
use crate::{Error, Result, args};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldDef {
    pub id: FieldId,
    /// None: for every team.
    pub team_id: Option<TeamId>,
    pub key: String,
    pub label: String,
    /// `text`, `number`, `checkbox`, `date` (YYYY-MM-DD) or `select`.
    pub kind: String,
    /// For `select`: the allowed values.
    pub options: Vec<String>,
    pub created_at: Timestamp,
}

/// The kinds of field there are.
pub const KINDS: &[&str] = &["text", "number", "checkbox", "date", "select"];

pub async fn create(
    conn: &mut dyn Conn,
    team: Option<TeamId>,
    key: &str,
    label: &str,
    kind: &str,
    options: &[String],
) -> Result<FieldDef> {
    if key.is_empty()
        || key.len() > 64
        || !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(Error::invalid("key", "1 to 64 of a-z, 0-9 and _"));
    }
    if label.trim().is_empty() || label.chars().count() > 100 {
        return Err(Error::invalid("label", "1 to 100 characters"));
    }
    if !KINDS.contains(&kind) {
        return Err(Error::invalid(
            "kind",
            format!("one of: {}", KINDS.join(", ")),
        ));
    }
    if (kind == "select") == options.is_empty() || options.len() > 200 {
        return Err(Error::invalid(
            "options",
            "a select has 1 to 200 options; other kinds have none",
        ));
    }
    if let Some(t) = team {
        crate::teams::get(conn, t)
            .await
            .map_err(|_| Error::invalid("team_id", "no such team"))?;
    }
    let id = FieldId::new();
    let r = conn
        .execute(
            "INSERT INTO custom_field_defs (id, team_id, key, label, kind, options, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            args![
                id.to_string(),
                team.map(|t| t.to_string()),
                key,
                label.trim(),
                kind,
                serde_json::to_string(options).unwrap_or_default(),
                crate::now().micros()
            ],
        )
        .await;
    match r {
        Err(e) if e.is_unique_violation() => {
            return Err(Error::Conflict(format!(
                "the field {key} is already defined there"
            )));
        }
        other => other?,
    };
    list(conn, None)
        .await?
        .into_iter()
        .find(|f| f.id == id)
        .ok_or(Error::NotFound)
}

/// Definitions: all, or those that apply to `team` (its own and the ones for every team).
pub async fn list(conn: &mut dyn Conn, team: Option<Option<TeamId>>) -> Result<Vec<FieldDef>> {
    let rows = conn
        .query(
            "SELECT id, team_id, key, label, kind, options, created_at FROM custom_field_defs ORDER BY key",
            args![],
        )
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        let def = FieldDef {
            id: r.parse(0)?,
            team_id: r.opt_parse(1)?,
            key: r.text(2)?,
            label: r.text(3)?,
            kind: r.text(4)?,
            options: serde_json::from_str(&r.text(5)?).unwrap_or_default(),
            created_at: Timestamp(r.int(6)?),
        };
        let applies = match team {
            None => true,
            Some(t) => def.team_id.is_none() || def.team_id == t,
        };
        if applies {
            out.push(def);
        }
    }
    Ok(out)
}

pub async fn delete(conn: &mut dyn Conn, id: FieldId) -> Result<()> {
    if conn
        .execute(
            "DELETE FROM custom_field_defs WHERE id = $1",
            args![id.to_string()],
        )
        .await?
        == 0
    {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Checks one value against the definitions that apply; `Ok` when there are none.
pub fn check(defs: &[FieldDef], key: &str, value: &serde_json::Value) -> Result<()> {
    let field = || format!("custom_fields.{key}");
    if defs.is_empty() || value.is_null() {
        return Ok(());
    }
    let Some(def) = defs.iter().find(|d| d.key == key) else {
        let known: Vec<&str> = defs.iter().map(|d| d.key.as_str()).collect();
        return Err(Error::invalid(
            field(),
            format!("not a field of this team; its fields: {}", known.join(", ")),
        ));
    };
    let ok = match def.kind.as_str() {
        "text" => value.as_str().is_some_and(|s| s.len() <= 10_000),
        "number" => value.is_number(),
        "checkbox" => value.is_boolean(),
        "date" => value.as_str().is_some_and(|s| {
            time::Date::parse(
                s,
                &time::macros::format_description!("[year]-[month]-[day]"),
            )
            .is_ok()
        }),
        "select" => value
            .as_str()
            .is_some_and(|s| def.options.iter().any(|o| o == s)),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        let expected = match def.kind.as_str() {
            "select" => format!("one of: {}", def.options.join(", ")),
            "date" => "a date such as 2026-12-31".to_string(),
            k => format!("a {k}"),
        };
        Err(Error::invalid(
            field(),
            format!("{} must be {expected}", def.label),
        ))
    }
}
