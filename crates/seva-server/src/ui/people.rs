//! The admins' people page: agents (add one with a one-time password, give one a new
//! one-time password, disable, enable), teams (add one, add and remove members) and API
//! tokens (make one, shown once; revoke one). The command line and the API do the same.

use super::Form;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_core::agent::Role;
use seva_core::{AgentId, TeamId, TokenId};
use seva_store::{agents, op, teams};

use super::settings::require_admin;
use super::{Agent, CsrfForm, Me, PageError, render, short_time};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;

pub struct AgentLine {
    pub id: AgentId,
    pub name: String,
    pub email: String,
    pub role: String,
    pub teams: String,
    pub disabled: bool,
    pub two_step: bool,
    /// The admin looking at the page: they cannot disable themselves.
    pub is_me: bool,
}

pub struct TokenLine {
    pub id: TokenId,
    pub name: String,
    pub agent: String,
    pub created: String,
    /// A time, or none if never used.
    pub last_used: Option<String>,
    pub revoked: Option<String>,
}

pub struct TeamLine {
    pub id: TeamId,
    pub name: String,
    pub private: bool,
    pub members: Vec<(AgentId, String)>,
    /// Agents not in the team yet, for its "add" list.
    pub others: Vec<(AgentId, String)>,
}

#[derive(askama::Template)]
#[template(path = "people.html")]
struct PeoplePage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    agents: Vec<AgentLine>,
    teams: Vec<TeamLine>,
    tokens: Vec<TokenLine>,
    /// Active agents, for the new token's "acts as" list.
    holders: Vec<(AgentId, String)>,
    roles: Vec<(&'static str, String)>,
    /// Just issued: what happened (the words' key), the agent's name and their one-time
    /// password, shown this once.
    issued: Option<Issued>,
}

pub struct Issued {
    pub what: &'static str,
    pub name: String,
    pub password: String,
}

/// The page, with a one-time password just issued when there is one.
async fn people_page(
    state: &Shared,
    agent: &Agent,
    issued: Option<Issued>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let (all, team_list, tokens) = state
        .store
        .read(op!(c => Ok((
            agents::list(c).await?,
            teams::list(c).await?,
            agents::list_tokens(c).await?,
        ))))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let name_of = |id: AgentId| {
        all.iter()
            .find(|a| a.id == id)
            .map(|a| a.name.clone())
            .unwrap_or_default()
    };
    let team_name = |id: TeamId| {
        team_list
            .iter()
            .find(|tm| tm.id == id)
            .map(|tm| tm.name.clone())
            .unwrap_or_default()
    };
    let agent_lines = all
        .iter()
        .map(|a| AgentLine {
            id: a.id,
            name: a.name.clone(),
            email: a.email.clone(),
            role: t.word("role", a.role.as_str()),
            teams: a
                .teams
                .iter()
                .map(|&id| team_name(id))
                .collect::<Vec<_>>()
                .join(", "),
            disabled: a.disabled,
            two_step: a.two_step,
            is_me: a.id == agent.0.agent.id,
        })
        .collect();
    let team_lines = team_list
        .iter()
        .map(|tm| TeamLine {
            id: tm.id,
            name: tm.name.clone(),
            private: tm.private,
            members: tm.members.iter().map(|&id| (id, name_of(id))).collect(),
            others: all
                .iter()
                .filter(|a| !a.disabled && !tm.members.contains(&a.id))
                .map(|a| (a.id, a.name.clone()))
                .collect(),
        })
        .collect();
    let tokens = tokens
        .into_iter()
        .map(|k| TokenLine {
            id: k.id,
            name: k.name,
            agent: k.agent_name,
            created: short_time(k.created_at),
            last_used: k.last_used_at.map(short_time),
            revoked: k.revoked_at.map(short_time),
        })
        .collect();
    let holders = all
        .iter()
        .filter(|a| !a.disabled)
        .map(|a| (a.id, a.name.clone()))
        .collect();
    // A page showing a password is kept by no cache, the browser's history included.
    let no_store = issued.is_some();
    let page = render(&PeoplePage {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        agents: agent_lines,
        teams: team_lines,
        tokens,
        holders,
        roles: Role::ALL
            .iter()
            .map(|r| (r.as_str(), t.word("role", r.as_str())))
            .collect(),
        issued,
    });
    Ok(if no_store {
        ([(header::CACHE_CONTROL, "no-store")], page).into_response()
    } else {
        page
    })
}

pub async fn page(State(state): State<Shared>, agent: Agent) -> Result<Response, PageError> {
    require_admin(&agent)?;
    people_page(&state, &agent, None).await
}

#[derive(Deserialize)]
pub struct NewAgentForm {
    csrf: String,
    name: String,
    email: String,
    role: String,
    #[serde(default)]
    language: String,
}

/// Adds an agent and shows their one-time password once, on the page the form answers
/// with (not after a redirect, so that it is never in a URL or a second response).
pub async fn create_agent(
    State(state): State<Shared>,
    agent: Agent,
    Form(form): Form<NewAgentForm>,
) -> Result<Response, PageError> {
    require_admin(&agent)?;
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let role: Role = form.role.parse().map_err(|_| {
        PageError(
            Problem::bad_request("role", "admin, supervisor or agent"),
            t,
        )
    })?;
    let (added, password) = crate::api::teams::add_agent(
        &state,
        agent.0.agent.id,
        &form.email,
        &form.name,
        role,
        &form.language,
    )
    .await
    .map_err(|p| PageError(p, t))?;
    let issued = Issued {
        what: "people-created",
        name: added.name,
        password,
    };
    people_page(&state, &agent, Some(issued)).await
}

/// Disables an agent (logged out everywhere, their API tokens revoked), enables them
/// again, gives them a new one-time password (their sessions end; the page the form
/// answers with shows it once), or turns their two-step verification off (a lost phone). An admin cannot disable themselves.
pub async fn agent_action(
    State(state): State<Shared>,
    agent: Agent,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    require_admin(&agent)?;
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: AgentId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let disabled = match action.as_str() {
        "disable" => true,
        "enable" => false,
        "password" => return new_password(&state, &agent, id).await,
        "two-step-off" => {
            crate::api::teams::two_step_off(&state, &agent.0, id)
                .await
                .map_err(|p| PageError(p, t))?;
            return Ok(Redirect::to("/settings/people").into_response());
        }
        _ => return Err(PageError(Problem::not_found(), t)),
    };
    crate::api::teams::set_agent_disabled(&state, agent.0.agent.id, id, disabled)
        .await
        .map_err(|p| PageError(p, t))?;
    Ok(Redirect::to("/settings/people").into_response())
}

async fn new_password(state: &Shared, agent: &Agent, id: AgentId) -> Result<Response, PageError> {
    let t = agent.tr();
    let (changed, password) = crate::api::teams::issue_password(state, agent.0.agent.id, id)
        .await
        .map_err(|p| PageError(p, t))?;
    let issued = Issued {
        what: "people-reset",
        name: changed.name,
        password,
    };
    people_page(state, agent, Some(issued)).await
}

#[derive(Deserialize)]
pub struct NewTeamForm {
    csrf: String,
    name: String,
    #[serde(default)]
    private: String,
}

pub async fn create_team(
    State(state): State<Shared>,
    agent: Agent,
    Form(form): Form<NewTeamForm>,
) -> Result<Response, PageError> {
    require_admin(&agent)?;
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let private = !form.private.is_empty();
    let actor = agent.0.actor();
    state
        .store
        .write(op!(c => teams::create(c, &form.name, private, &actor).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(Redirect::to("/settings/people").into_response())
}

#[derive(Deserialize)]
pub struct MemberForm {
    csrf: String,
    agent_id: String,
}

/// Adds an agent to a team (`add`) or takes them out (`remove`).
pub async fn member(
    State(state): State<Shared>,
    agent: Agent,
    Path((team, action)): Path<(String, String)>,
    Form(form): Form<MemberForm>,
) -> Result<Response, PageError> {
    require_admin(&agent)?;
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let team: TeamId = team
        .parse()
        .map_err(|_| PageError(Problem::not_found(), t))?;
    let member: AgentId = form
        .agent_id
        .parse()
        .map_err(|_| PageError(Problem::bad_request("agent_id", "no such agent"), t))?;
    let add = match action.as_str() {
        "add" => true,
        "remove" => false,
        _ => return Err(PageError(Problem::not_found(), t)),
    };
    let actor = agent.0.actor();
    state
        .store
        .write(op!(c => if add {
            teams::add_member(c, team, member, &actor).await
        } else {
            teams::remove_member(c, team, member, &actor).await
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    // Cached token checks hold their agents' teams.
    state.tokens.clear();
    Ok(Redirect::to("/settings/people").into_response())
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    csrf: String,
    name: String,
    agent_id: String,
}

/// Makes an API token and shows its secret once, on the page the form answers with.
pub async fn create_token(
    State(state): State<Shared>,
    agent: Agent,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, PageError> {
    require_admin(&agent)?;
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let holder: AgentId = form
        .agent_id
        .parse()
        .map_err(|_| PageError(Problem::bad_request("agent_id", "no such agent"), t))?;
    let issued = crate::api::tokens::issue(&state, &agent.0, holder, &form.name, None)
        .await
        .map_err(|p| PageError(p, t))?;
    let crate::api::tokens::Issued::New(made) = issued else {
        return Err(PageError(Problem::internal(), t));
    };
    let issued = Issued {
        what: "tokens-issued",
        name: made.token.name,
        password: made.secret,
    };
    people_page(&state, &agent, Some(issued)).await
}

/// Revokes an API token: it stops working at once.
pub async fn revoke_token(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    require_admin(&agent)?;
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: TokenId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    crate::api::tokens::revoke_token(&state, &agent.0, id)
        .await
        .map_err(|p| PageError(p, t))?;
    Ok(Redirect::to("/settings/people#tokens-h").into_response())
}
