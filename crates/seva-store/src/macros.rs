//! Macros: canned replies, per language, with variables and actions. Applying one posts
//! its reply (with the customer's and the agent's names filled in) and carries out its
//! actions (set status, tag, assign, …) in one transaction.

use serde::Serialize;
use seva_core::conversation::MessageKind;
use seva_core::rules::{Action, parse_actions};
use seva_core::time::Timestamp;
use seva_core::{ConversationId, MacroId};

use crate::conversations::{self, Conversation, Reply, Viewer};
use crate::db::Conn;
use crate::{Error, Result, args};

/// The variables a macro's text may use.
pub const VARIABLES: &[&str] = &[
    "customer.name",
    "customer.first_name",
    "agent.name",
    "conversation.reference",
    "conversation.subject",
];

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Macro {
    pub id: MacroId,
    pub name: String,
    pub language: Option<String>,
    pub text: String,
    /// Its actions, as in rules: `[{"type": "set_status", "value": "pending"}]`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub actions: serde_json::Value,
    pub created_at: Timestamp,
}

/// The `{{variable}}` names in a text, or the first problem with them.
fn variables(text: &str) -> std::result::Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a {{ without its }}".to_string())?;
        let name = after[..end].trim();
        if !VARIABLES.contains(&name) {
            return Err(format!(
                "unknown variable {{{{{name}}}}}; known: {}",
                VARIABLES.join(", ")
            ));
        }
        out.push(name);
        rest = &after[end + 2..];
    }
    Ok(out)
}

/// Fills in the variables for this conversation and agent.
pub fn render(text: &str, c: &Conversation, agent_name: &str) -> String {
    let first = c
        .contact_name
        .split_whitespace()
        .next()
        .unwrap_or(&c.contact_name);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        match after[..end].trim() {
            "customer.name" => out.push_str(&c.contact_name),
            "customer.first_name" => out.push_str(first),
            "agent.name" => out.push_str(agent_name),
            "conversation.reference" => out.push_str(&c.reference.to_string()),
            "conversation.subject" => out.push_str(&c.subject),
            other => {
                out.push_str("{{");
                out.push_str(other);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn decode(r: &crate::Row) -> Result<Macro> {
    Ok(Macro {
        id: r.parse(0)?,
        name: r.text(1)?,
        language: r.opt_text(2)?,
        text: r.text(3)?,
        // A macro made without actions stored `null`: it has none.
        actions: serde_json::from_str(&r.text(4)?)
            .ok()
            .filter(|a: &serde_json::Value| !a.is_null())
            .unwrap_or_else(|| serde_json::json!([])),
        created_at: Timestamp(r.int(5)?),
    })
}

const COLUMNS: &str = "id, name, language, text, actions, created_at";

pub async fn create(
    conn: &mut dyn Conn,
    name: &str,
    language: Option<&str>,
    text: &str,
    actions: &serde_json::Value,
    actor: &str,
) -> Result<Macro> {
    let name = check(conn, name, language, text, actions).await?;
    let id = MacroId::new();
    conn.execute(
        "INSERT INTO macros (id, name, language, text, actions, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            id.to_string(),
            name,
            language,
            text,
            actions.to_string(),
            actor,
            crate::now().micros()
        ],
    )
    .await?;
    get(conn, id).await
}

/// Checks a macro's parts; returns its name, trimmed.
async fn check<'a>(
    conn: &mut dyn Conn,
    name: &'a str,
    language: Option<&str>,
    text: &str,
    actions: &serde_json::Value,
) -> Result<&'a str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::invalid("name", "1 to 200 characters"));
    }
    if let Some(l) = language
        && !seva_core::text::is_language_tag(l)
    {
        return Err(Error::invalid(
            "language",
            "a language tag such as 'te' or 'el'",
        ));
    }
    if text.len() > 64 * 1024 {
        return Err(Error::invalid("text", "at most 64 KiB"));
    }
    variables(text).map_err(|m| Error::invalid("text", m))?;
    let parsed = parse_actions(actions).map_err(|e| Error::invalid(e.path, e.message))?;
    if text.trim().is_empty() && parsed.is_empty() {
        return Err(Error::invalid(
            "text",
            "a macro needs a reply, actions, or both",
        ));
    }
    crate::rules::check_referents(conn, &parsed).await?;
    Ok(name)
}

/// Rewrites a macro: the same checks as [`create`].
pub async fn update(
    conn: &mut dyn Conn,
    id: MacroId,
    name: &str,
    language: Option<&str>,
    text: &str,
    actions: &serde_json::Value,
) -> Result<Macro> {
    let name = check(conn, name, language, text, actions).await?;
    if conn
        .execute(
            "UPDATE macros SET name = $1, language = $2, text = $3, actions = $4 WHERE id = $5",
            args![name, language, text, actions.to_string(), id.to_string()],
        )
        .await?
        == 0
    {
        return Err(Error::NotFound);
    }
    get(conn, id).await
}

pub async fn get(conn: &mut dyn Conn, id: MacroId) -> Result<Macro> {
    let sql = format!("SELECT {COLUMNS} FROM macros WHERE id = $1");
    decode(
        &conn
            .query_opt(&sql, args![id.to_string()])
            .await?
            .ok_or(Error::NotFound)?,
    )
}

/// All macros; those in `language` (and those for any language) first.
pub async fn list(conn: &mut dyn Conn, language: Option<&str>) -> Result<Vec<Macro>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM macros ORDER BY CASE WHEN language = $1 OR language IS NULL THEN 0 ELSE 1 END, name"
    );
    conn.query(&sql, args![language.unwrap_or("")])
        .await?
        .iter()
        .map(decode)
        .collect()
}

pub async fn delete(conn: &mut dyn Conn, id: MacroId) -> Result<()> {
    if conn
        .execute("DELETE FROM macros WHERE id = $1", args![id.to_string()])
        .await?
        == 0
    {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Applies a macro: its reply goes to the customer and its actions are carried out, as
/// the agent, in one transaction.
pub async fn apply(
    conn: &mut dyn Conn,
    viewer: &Viewer,
    id: ConversationId,
    macro_id: MacroId,
) -> Result<Conversation> {
    let c = conversations::get_for(conn, viewer, id).await?;
    let m = get(conn, macro_id).await?;
    let agent = crate::agents::get(conn, viewer.agent_id).await?;
    let text = render(&m.text, &c, &agent.name);
    if !text.trim().is_empty() {
        conversations::reply(
            conn,
            viewer,
            id,
            Reply {
                text: &text,
                kind: MessageKind::Outbound,
                files: &[],
                then: None,
            },
        )
        .await?;
    }
    let actions: Vec<Action> =
        parse_actions(&m.actions).map_err(|e| Error::Decode(e.to_string()))?;
    let facts = crate::rules::facts(conn, id).await?;
    crate::rules::apply_actions(conn, id, &viewer.actor(), &m.name, &actions, &facts).await?;
    crate::events::append(
        conn,
        "macro.applied",
        Some(id),
        &viewer.actor(),
        serde_json::json!({"macro_id": macro_id, "name": m.name}),
    )
    .await?;
    conversations::get(conn, id).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_known_variables_are_accepted() {
        assert_eq!(
            super::variables("Hi {{customer.first_name}}, {{ agent.name }} here").unwrap(),
            vec!["customer.first_name", "agent.name"]
        );
        assert!(super::variables("{{customer.password}}").is_err());
        assert!(super::variables("{{customer.name").is_err());
    }
}
