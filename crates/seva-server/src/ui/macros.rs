//! Settings → Macros, for supervisors and admins: canned replies with their variables,
//! and what each also does (status, priority, team, tags), written and rewritten on a
//! page instead of through the API. Agents apply them from the conversation page.

use super::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use seva_core::MacroId;
use seva_core::rules::{Action, ActionKind, parse_actions};
use seva_store::macros::{self, Macro};
use seva_store::{op, teams};

use super::supervise::require_supervisor;
use super::{Agent, CsrfForm, Me, PageError, refusal, render_form};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;

/// What the form holds: the macro's parts, and the actions it shows as fields.
#[derive(Deserialize, Default)]
pub struct MacroForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// A language code, or empty for any.
    #[serde(default)]
    language: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    team: String,
    /// Tags to add, separated by commas.
    #[serde(default)]
    tags: String,
}

/// The action kinds the form has fields for; a macro made through the API may hold
/// others, which the page lists and keeps when the macro is rewritten.
const ON_THE_FORM: &[ActionKind] = &[
    ActionKind::SetStatus,
    ActionKind::SetPriority,
    ActionKind::SetTeam,
    ActionKind::AddTag,
];

impl MacroForm {
    fn of(m: &Macro) -> MacroForm {
        let actions = parse_actions(&m.actions).unwrap_or_default();
        let first = |kind: ActionKind| {
            actions
                .iter()
                .find(|a| a.kind == kind)
                .map(|a| a.value.clone())
                .unwrap_or_default()
        };
        MacroForm {
            csrf: String::new(),
            name: m.name.clone(),
            language: m.language.clone().unwrap_or_default(),
            text: m.text.clone(),
            status: first(ActionKind::SetStatus),
            priority: first(ActionKind::SetPriority),
            team: first(ActionKind::SetTeam),
            tags: actions
                .iter()
                .filter(|a| a.kind == ActionKind::AddTag)
                .map(|a| a.value.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The actions as stored: the form's fields, then `kept` (those the form does not show).
    fn actions(&self, kept: &[Action]) -> Value {
        let mut out = Vec::new();
        for tag in self
            .tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            out.push(json!({"type": "add_tag", "value": tag}));
        }
        for (kind, value) in [
            ("set_team", &self.team),
            ("set_priority", &self.priority),
            ("set_status", &self.status),
        ] {
            if !value.is_empty() {
                out.push(json!({"type": kind, "value": value}));
            }
        }
        for a in kept {
            out.push(match a.kind {
                ActionKind::Unassign => json!({"type": "unassign"}),
                _ => json!({"type": a.kind.as_str(), "value": a.value}),
            });
        }
        Value::Array(out)
    }

    fn language(&self) -> Option<&str> {
        Some(self.language.trim()).filter(|l| !l.is_empty())
    }
}

/// Actions of `m` that the form does not show.
fn kept(m: &Macro) -> Vec<Action> {
    parse_actions(&m.actions)
        .unwrap_or_default()
        .into_iter()
        .filter(|a| !ON_THE_FORM.contains(&a.kind))
        .collect()
}

pub struct MacroLine {
    id: MacroId,
    name: String,
    language: String,
    reply: String,
    /// What it also does, in words.
    does: Vec<String>,
}

#[derive(askama::Template)]
#[template(path = "macros.html")]
struct MacrosPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    macros: Vec<MacroLine>,
    /// The macro being rewritten, or none for a new one.
    editing: Option<MacroId>,
    form: MacroForm,
    /// Actions the form keeps without showing them, in words.
    kept: Vec<String>,
    error: Option<String>,
    saved: bool,
    variables: &'static [&'static str],
    statuses: Vec<(&'static str, String)>,
    priorities: Vec<(&'static str, String)>,
    teams: Vec<(String, String)>,
}

/// An action in the agent's words.
fn in_words(t: Tr, a: &Action, team_name: &dyn Fn(&str) -> String) -> String {
    match a.kind {
        ActionKind::SetStatus => t.a("macro-does-status", "value", t.word("status", &a.value)),
        ActionKind::SetPriority => {
            t.a("macro-does-priority", "value", t.word("priority", &a.value))
        }
        ActionKind::SetTeam => t.a("macro-does-team", "value", team_name(&a.value)),
        ActionKind::AddTag => t.a("macro-does-tag", "value", &a.value),
        ActionKind::Unassign => a.kind.as_str().to_string(),
        _ => format!("{} {}", a.kind.as_str(), a.value),
    }
}

struct Shown {
    editing: Option<MacroId>,
    form: MacroForm,
    kept: Vec<Action>,
    error: Option<String>,
    saved: bool,
}

async fn macros_page(state: &Shared, agent: &Agent, shown: Shown) -> Result<Response, PageError> {
    let t = agent.tr();
    let (list, team_list) = state
        .store
        .read(op!(c => Ok((macros::list(c, Some(t.lang)).await?, teams::list(c).await?))))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let team_name = |id: &str| {
        team_list
            .iter()
            .find(|tm| tm.id.to_string() == id)
            .map(|tm| tm.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let macros = list
        .iter()
        .map(|m| MacroLine {
            id: m.id,
            name: m.name.clone(),
            language: m.language.clone().unwrap_or_default(),
            reply: seva_core::text::preview(&m.text, 120),
            does: parse_actions(&m.actions)
                .unwrap_or_default()
                .iter()
                .map(|a| in_words(t, a, &team_name))
                .collect(),
        })
        .collect();
    let refused = shown.error.is_some();
    let (statuses, priorities) = super::desk::choices(t);
    let page = MacrosPage {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        macros,
        editing: shown.editing,
        kept: shown
            .kept
            .iter()
            .map(|a| in_words(t, a, &team_name))
            .collect(),
        form: shown.form,
        error: shown.error,
        saved: shown.saved,
        variables: macros::VARIABLES,
        statuses,
        priorities,
        teams: team_list
            .iter()
            .map(|tm| (tm.id.to_string(), tm.name.clone()))
            .collect(),
    };
    Ok(render_form(&page, refused))
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn page(
    State(state): State<Shared>,
    agent: Agent,
    super::Query(q): super::Query<SavedQuery>,
) -> Result<Response, PageError> {
    require_supervisor(&agent)?;
    let shown = Shown {
        editing: None,
        form: MacroForm::default(),
        kept: Vec::new(),
        error: None,
        saved: q.saved.is_some(),
    };
    macros_page(&state, &agent, shown).await
}

fn macro_id(agent: &Agent, id: &str) -> Result<MacroId, PageError> {
    id.parse()
        .map_err(|_| PageError(Problem::not_found(), agent.tr()))
}

/// The form filled with one macro, to rewrite it.
pub async fn edit(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    require_supervisor(&agent)?;
    let id = macro_id(&agent, &id)?;
    let m = state
        .store
        .read(op!(c => macros::get(c, id).await))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    let shown = Shown {
        editing: Some(id),
        form: MacroForm::of(&m),
        kept: kept(&m),
        error: None,
        saved: false,
    };
    macros_page(&state, &agent, shown).await
}

/// Saves a new macro (no id) or rewrites one; a refused form comes back with what was
/// written and the reason, naming the field.
async fn save(
    state: &Shared,
    agent: &Agent,
    id: Option<MacroId>,
    form: MacroForm,
) -> Result<Response, PageError> {
    require_supervisor(agent)?;
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let kept = match id {
        Some(id) => kept(
            &state
                .store
                .read(op!(c => macros::get(c, id).await))
                .await
                .map_err(|e| PageError(e.into(), t))?,
        ),
        None => Vec::new(),
    };
    let actions = form.actions(&kept);
    let actor = agent.0.viewer().actor();
    let (name, language, text) = (
        form.name.clone(),
        form.language().map(str::to_string),
        form.text.clone(),
    );
    let written = state
        .store
        .write(op!(c => match id {
            Some(id) => macros::update(c, id, &name, language.as_deref(), &text, &actions).await,
            None => macros::create(c, &name, language.as_deref(), &text, &actions, &actor).await,
        }))
        .await;
    match written {
        Ok(_) => Ok(Redirect::to("/settings/macros?saved=1").into_response()),
        Err(e) => {
            let shown = Shown {
                editing: id,
                form,
                kept,
                error: Some(refusal(e, t)?),
                saved: false,
            };
            macros_page(state, agent, shown).await
        }
    }
}

pub async fn create(
    State(state): State<Shared>,
    agent: Agent,
    Form(form): Form<MacroForm>,
) -> Result<Response, PageError> {
    save(&state, &agent, None, form).await
}

pub async fn update(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<MacroForm>,
) -> Result<Response, PageError> {
    let id = macro_id(&agent, &id)?;
    save(&state, &agent, Some(id), form).await
}

pub async fn delete(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    require_supervisor(&agent)?;
    agent.check_csrf(&form.csrf)?;
    let id = macro_id(&agent, &id)?;
    state
        .store
        .write(op!(c => macros::delete(c, id).await))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    Ok(Redirect::to("/settings/macros?saved=1").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_fields_become_actions_and_the_others_are_kept() {
        let form = MacroForm {
            tags: "refund, , damaged".into(),
            status: "pending".into(),
            ..MacroForm::default()
        };
        let kept = vec![Action {
            kind: ActionKind::Notify,
            value: "supervisors".into(),
        }];
        let actions = form.actions(&kept);
        assert_eq!(
            actions,
            json!([
                {"type": "add_tag", "value": "refund"},
                {"type": "add_tag", "value": "damaged"},
                {"type": "set_status", "value": "pending"},
                {"type": "notify", "value": "supervisors"},
            ])
        );
        let parsed = parse_actions(&actions).unwrap();
        assert_eq!(parsed.len(), 4);
        assert!(form.language().is_none());
    }
}
