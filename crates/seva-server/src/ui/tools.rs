//! The inbox's bulk bar and the conversation page's merge and split forms.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use seva_core::conversation::{Priority, Status};
use seva_core::{ConversationId, MessageId};
use seva_store::conversations::{self, Bulk};
use seva_store::fields::FieldDef;
use seva_store::{Error, op};

use super::desk::back_to;
use super::{Agent, Fields, PageError};
use crate::Shared;
use crate::i18n::Tr;
use crate::problem::Problem;

fn bad(t: Tr, field: &'static str, message: impl Into<String>) -> PageError {
    PageError(Problem::bad_request(field, message), t)
}

/// A conversation page's form: its fields (CSRF checked), the agent's words, and the
/// conversation it is about.
fn conversation_form(
    agent: &Agent,
    id: &str,
    body: &[u8],
) -> Result<(Fields, Tr, ConversationId), PageError> {
    let fields = Fields::parse(body);
    agent.check_csrf(fields.one("csrf").unwrap_or(""))?;
    let t = agent.tr();
    let id = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    Ok((fields, t, id))
}

/// The bulk bar: one change (status, priority, owner, a tag) to every ticked conversation,
/// all or none; then back to the same inbox view.
pub async fn bulk(
    State(state): State<Shared>,
    agent: Agent,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = Fields::parse(&body);
    agent.check_csrf(fields.one("csrf").unwrap_or(""))?;
    let t = agent.tr();
    let ids = fields
        .all("ids")
        .map(|id| id.parse().map_err(|_| bad(t, "ids", "not a conversation")))
        .collect::<Result<Vec<ConversationId>, _>>()?;
    if ids.is_empty() {
        return Err(bad(t, "ids", t.s("bulk-none")));
    }
    let owner = match fields.one("owner") {
        None => None,
        Some("me") => Some(Some(agent.0.agent.id)),
        Some("none") => Some(None),
        Some(_) => return Err(bad(t, "owner", "me or none")),
    };
    let change = Bulk {
        ids,
        status: fields
            .parsed::<Status>("status", "not a status")
            .map_err(|e| PageError(e.into(), t))?,
        priority: fields
            .parsed::<Priority>("priority", "not a priority")
            .map_err(|e| PageError(e.into(), t))?,
        owner,
        team: None,
        add_tags: fields
            .one("tag")
            .map(|s| s.to_string())
            .into_iter()
            .collect(),
        remove_tags: Vec::new(),
    };
    let viewer = agent.0.viewer();
    state
        .store
        .write(op!(c => conversations::bulk(c, &viewer, &change).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    // Back to the view it came from; only an inbox address is followed.
    let back = fields
        .one("back")
        .filter(|b| b.starts_with("/inbox") && !b.starts_with("//"))
        .unwrap_or("/inbox");
    Ok(Redirect::to(back).into_response())
}

/// Merges this conversation into another, named by its reference (`#1042` or `1042`).
pub async fn merge(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let (fields, t, id) = conversation_form(&agent, &id, &body)?;
    let reference: i64 = fields
        .one("into")
        .map(|r| r.trim_start_matches('#'))
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| bad(t, "into", t.s("merge-reference")))?;
    let viewer = agent.0.viewer();
    let into = state
        .store
        .write(op!(c => {
            let into = seva_store::email::by_reference(c, reference)
                .await?
                .ok_or_else(|| Error::invalid("into", format!("no conversation #{reference}")))?;
            conversations::merge(c, &viewer, id, into.id).await
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(back_to(into.id))
}

/// Splits one of the customer's messages off into a new conversation, and opens it.
pub async fn split(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let (fields, t, id) = conversation_form(&agent, &id, &body)?;
    let message: MessageId = fields
        .one("message")
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| bad(t, "message", "not a message"))?;
    let viewer = agent.0.viewer();
    let new = state
        .store
        .write(op!(c => conversations::split(c, &viewer, id, message).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(back_to(new.id))
}

/// A custom field on the conversation page: its definition and the value it holds.
pub struct FieldInput {
    pub key: String,
    pub label: String,
    pub kind: String,
    pub options: Vec<String>,
    /// The value as the input shows it ("" when unset).
    pub value: String,
}

/// The fields that apply to a conversation (its team's and everyone's), with its values.
pub fn field_inputs(defs: &[FieldDef], values: &serde_json::Value) -> Vec<FieldInput> {
    defs.iter()
        .map(|d| FieldInput {
            key: d.key.clone(),
            label: d.label.clone(),
            kind: d.kind.clone(),
            options: d.options.clone(),
            value: match &values[&d.key] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        })
        .collect()
}

/// The conversation page's custom fields form: each field of the conversation's team, as
/// its kind reads it; an empty field is cleared.
pub async fn fields(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let (form, t, id) = conversation_form(&agent, &id, &body)?;
    let viewer = agent.0.viewer();
    let pairs: Vec<(String, Option<String>)> = form
        .0
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("f_")
                .map(|k| (k.to_string(), Some(v.clone())))
        })
        .chain(
            // Unticked boxes send nothing: their marker says they were on the form.
            form.0
                .iter()
                .filter_map(|(k, _)| k.strip_prefix("box_").map(|k| (k.to_string(), None))),
        )
        .collect();
    state
        .store
        .write(op!(c => {
            let conv = conversations::get_for(c, &viewer, id).await?;
            let defs = seva_store::fields::list(c, Some(conv.team_id)).await?;
            let mut values = serde_json::Map::new();
            for (key, raw) in &pairs {
                let Some(def) = defs.iter().find(|d| &d.key == key) else {
                    return Err(Error::invalid(format!("custom_fields.{key}"), "no such field here"));
                };
                let value = match (def.kind.as_str(), raw.as_deref().map(str::trim)) {
                    ("checkbox", Some(_)) => serde_json::Value::Bool(true),
                    ("checkbox", None) => serde_json::Value::Bool(false),
                    (_, None | Some("")) => serde_json::Value::Null,
                    ("number", Some(n)) => n
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(serde_json::Value::Number)
                        .ok_or_else(|| Error::invalid(format!("custom_fields.{key}"), format!("{n:?} is not a number")))?,
                    (_, Some(s)) => serde_json::Value::String(s.to_string()),
                };
                if !values.contains_key(key) || def.kind == "checkbox" && value == serde_json::Value::Bool(true) {
                    values.insert(key.clone(), value);
                }
            }
            conversations::set_custom_fields(c, &viewer, id, values).await
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(back_to(id))
}
