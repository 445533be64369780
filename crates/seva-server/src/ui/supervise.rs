//! Supervisors' pages: the live queues of every team (how many wait, the longest wait,
//! each agent's load and availability) and the rules, with a form to write one and a dry
//! run that shows what it would have done to the last conversations.

use super::Form;
use super::Query;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_core::RuleId;
use seva_store::rules::{self, DryRunResult, StoredRule};
use seva_store::{op, routing, teams};

use super::{Agent, CsrfForm, Me, PageError, render};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;

/// One team's line on the queues page.
pub struct QueueLine {
    pub team: String,
    pub waiting: i64,
    pub urgent: i64,
    pub longest_minutes: i64,
    /// Name, active conversations, available, online.
    pub agents: Vec<(String, i64, bool, bool)>,
}

#[derive(askama::Template)]
#[template(path = "queues.html")]
struct QueuesPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    lines: Vec<QueueLine>,
    /// With no teams yet, admins get a link to where teams are made.
    is_admin: bool,
}

#[derive(askama::Template)]
#[template(path = "queues_live.html")]
struct QueuesLive {
    t: Tr,
    lines: Vec<QueueLine>,
    is_admin: bool,
}

pub(super) fn require_supervisor(agent: &Agent) -> Result<(), PageError> {
    if agent.0.agent.role.sees_every_team() {
        Ok(())
    } else {
        Err(PageError(
            Problem::forbidden("only supervisors and admins see this page"),
            agent.tr(),
        ))
    }
}

#[derive(Deserialize)]
pub struct PartialQuery {
    partial: Option<String>,
}

pub async fn queues(
    State(state): State<Shared>,
    agent: Agent,
    Query(q): Query<PartialQuery>,
) -> Result<Response, PageError> {
    require_supervisor(&agent)?;
    let t = agent.tr();
    let lines = state
        .store
        .read(op!(c => {
            let mut lines = Vec::new();
            for team in teams::list(c).await? {
                let stats = routing::queue_stats(c, team.id).await?;
                lines.push(QueueLine {
                    team: team.name.clone(),
                    waiting: stats.waiting,
                    urgent: stats.urgent,
                    longest_minutes: stats.longest_wait / 60_000_000,
                    agents: routing::loads(c, team.id)
                        .await?
                        .into_iter()
                        .map(|a| (a.name, a.active, a.available, a.online))
                        .collect(),
                });
            }
            Ok(lines)
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let is_admin = agent.0.agent.role.manages_users();
    if q.partial.is_some() {
        return Ok(render(&QueuesLive { t, lines, is_admin }));
    }
    Ok(render(&QueuesPage {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        lines,
        is_admin,
    }))
}

#[derive(askama::Template)]
#[template(path = "rules.html")]
struct RulesPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    rules: Vec<StoredRule>,
    /// What the form held, to show again with an error or a dry run.
    draft: Draft,
    error: Option<String>,
    dry_run: Option<Vec<DryRunResult>>,
    /// How many of the dry run's conversations the rule matched.
    matched: usize,
}

#[derive(Deserialize, Default)]
pub struct Draft {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    trigger: String,
    #[serde(default)]
    conditions: String,
    #[serde(default)]
    actions: String,
    /// `save` or `try`.
    #[serde(default)]
    intent: String,
}

impl Draft {
    fn example() -> Self {
        Draft {
            trigger: "conversation.created".into(),
            conditions: r#"[{"field": "text", "op": "contains_any", "value": ["broke down", "χάλασε", "ఆగిపోయింది", "nasira"]}]"#.into(),
            actions: r#"[{"type": "set_priority", "value": "urgent"}, {"type": "notify", "value": "supervisors"}]"#.into(),
            ..Draft::default()
        }
    }

    /// The rule as JSON, or which box does not hold JSON.
    fn spec(&self, t: Tr) -> Result<serde_json::Value, String> {
        let parse = |text: &str, field: &str| -> Result<serde_json::Value, String> {
            if text.trim().is_empty() {
                return Ok(serde_json::json!([]));
            }
            serde_json::from_str(text).map_err(|e| format!("{}: {e}", t.s(field)))
        };
        Ok(serde_json::json!({
            "name": self.name,
            "trigger": self.trigger,
            "conditions": parse(&self.conditions, "rule-conditions")?,
            "actions": parse(&self.actions, "rule-actions")?,
        }))
    }
}

async fn rules_page(
    state: &Shared,
    agent: &Agent,
    draft: Draft,
    error: Option<String>,
    dry_run: Option<Vec<DryRunResult>>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let list = state
        .store
        .read(op!(c => rules::list(c).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(render(&RulesPage {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        rules: list,
        draft,
        error,
        matched: dry_run
            .as_ref()
            .map_or(0, |r| r.iter().filter(|r| r.matches).count()),
        dry_run,
    }))
}

pub async fn rules_list(State(state): State<Shared>, agent: Agent) -> Result<Response, PageError> {
    require_supervisor(&agent)?;
    rules_page(&state, &agent, Draft::example(), None, None).await
}

/// Saves the rule, or (intent `try`) shows what it would have done to the last 50
/// conversations. A rule that is refused comes back with the reason and the form as it was.
pub async fn rules_submit(
    State(state): State<Shared>,
    agent: Agent,
    Form(draft): Form<Draft>,
) -> Result<Response, PageError> {
    require_supervisor(&agent)?;
    agent.check_csrf(&draft.csrf)?;
    let t = agent.tr();
    let spec = match draft.spec(t) {
        Ok(spec) => spec,
        Err(e) => return rules_page(&state, &agent, draft, Some(e), None).await,
    };
    let describe = |e: seva_store::Error| match e {
        seva_store::Error::Invalid { field, message } => format!("{field}: {message}"),
        e => e.to_string(),
    };
    if draft.intent == "try" {
        return match state
            .store
            .read(op!(c => rules::dry_run(c, &spec, 50).await))
            .await
        {
            Ok(results) => rules_page(&state, &agent, draft, None, Some(results)).await,
            Err(e) => rules_page(&state, &agent, draft, Some(describe(e)), None).await,
        };
    }
    let actor = agent.0.viewer().actor();
    match state
        .store
        .write(op!(c => rules::create(c, &spec, &actor).await))
        .await
    {
        Ok(_) => Ok(Redirect::to("/rules").into_response()),
        Err(e) => rules_page(&state, &agent, draft, Some(describe(e)), None).await,
    }
}

pub async fn rules_delete(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    require_supervisor(&agent)?;
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: RuleId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let actor = agent.0.viewer().actor();
    state
        .store
        .write(op!(c => rules::delete(c, id, &actor).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(Redirect::to("/rules").into_response())
}
