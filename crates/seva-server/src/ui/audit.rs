//! The admins' audit log: who changed the desk itself (agents, tokens, teams, inboxes,
//! rules, ...), when, and what, newest first, with a filter by area and by who did it.

use super::Query;
use axum::extract::State;
use axum::response::Response;
use seva_core::{AgentId, TeamId};
use seva_store::{agents, events, op, teams};

use super::settings::require_admin;
use super::{Agent, Me, PageError, render, short_time};
use crate::Shared;
use crate::api::events::{AuditQuery, audit_page};
use crate::i18n::{LANGUAGES, Tr};

pub struct AuditRow {
    pub at_iso: String,
    pub at: String,
    pub who: String,
    pub kind: String,
    /// The event's facts, ids of agents and teams given as their names.
    pub details: String,
}

#[derive(askama::Template)]
#[template(path = "audit.html")]
struct AuditPageView {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    rows: Vec<AuditRow>,
    areas: &'static [&'static str],
    area: String,
    /// Who may be chosen: `agent:<id>` or `system`, with their names.
    actors: Vec<(String, String)>,
    actor: String,
    /// The link to older changes, if there are any.
    older: Option<String>,
}

pub async fn page(
    State(state): State<Shared>,
    agent: Agent,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    require_admin(&agent)?;
    let t = agent.tr();
    let (area, actor) = (
        q.area.clone().unwrap_or_default(),
        q.actor.clone().unwrap_or_default(),
    );
    let page = audit_page(
        &state,
        AuditQuery {
            limit: Some(100),
            ..q
        },
    )
    .await
    .map_err(|p| PageError(p, t))?;
    let (people, team_list) = state
        .store
        .read(op!(c => Ok((agents::list(c).await?, teams::list(c).await?))))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let names: Vec<(AgentId, String)> = people.iter().map(|a| (a.id, a.name.clone())).collect();
    let team_names: Vec<(TeamId, String)> = team_list
        .iter()
        .map(|tm| (tm.id, tm.name.clone()))
        .collect();
    let rows = page
        .data
        .iter()
        .map(|e| AuditRow {
            at_iso: e.created_at.rfc3339(),
            at: short_time(e.created_at),
            who: super::desk::actor_name(t, &e.actor, &names),
            kind: e.kind.clone(),
            details: details(&e.data, &names, &team_names),
        })
        .collect();
    let mut actors = vec![("system".to_string(), t.s("actor-seva"))];
    actors.extend(
        people
            .iter()
            .map(|a| (format!("agent:{}", a.id), a.name.clone())),
    );
    let older = page.next_before.map(|before| {
        let mut link = format!("/settings/audit?before={before}");
        for (key, value) in [("area", &area), ("actor", &actor)] {
            if !value.is_empty() {
                link.push_str(&format!("&{key}={}", urlencode(value)));
            }
        }
        link
    });
    Ok(render(&AuditPageView {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        rows,
        areas: events::AUDIT_AREAS,
        area,
        actors,
        actor,
        older,
    }))
}

/// `key: value` pairs of an event's data, agents and teams by name (`agent: Ravi`).
fn details(
    data: &serde_json::Value,
    names: &[(AgentId, String)],
    teams: &[(TeamId, String)],
) -> String {
    let Some(map) = data.as_object() else {
        return String::new();
    };
    map.iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                // A long list of ids (an erasure's) is told by its length.
                serde_json::Value::Array(items) if items.len() > 3 => items.len().to_string(),
                other => other.to_string(),
            };
            let named = if key.ends_with("agent_id") || key == "owner_id" {
                text.parse::<AgentId>()
                    .ok()
                    .and_then(|id| names.iter().find(|(a, _)| *a == id))
                    .map(|(_, n)| n.clone())
            } else if key.ends_with("team_id") {
                text.parse::<TeamId>()
                    .ok()
                    .and_then(|id| teams.iter().find(|(tm, _)| *tm == id))
                    .map(|(_, n)| n.clone())
            } else {
                None
            };
            match named {
                Some(name) => format!("{}: {name}", key.trim_end_matches("_id")),
                None => format!("{key}: {text}"),
            }
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
