//! `/api/v1/teams`, `/api/v1/agents`, `/api/v1/me`, `/api/v1/tags`: the people of the desk.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use seva_core::agent::Role;
use seva_core::{AgentId, TeamId};
use seva_store::agents::{self, Agent, NewAgent};
use seva_store::teams::{self, Team};
use seva_store::{args, op};
use utoipa::ToSchema;

use super::{ApiJson, create_once, json, parse_id, stored};
use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;
use seva_core::shapes::EmailAddress;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/teams", get(list).post(create))
        .route("/api/v1/teams/{id}/members", post(add_member))
        .route(
            "/api/v1/teams/{id}/members/{agent_id}",
            delete(remove_member),
        )
        .route("/api/v1/agents", get(agents).post(create_agent))
        .route("/api/v1/agents/{id}/disabled", post(disable_agent))
        .route("/api/v1/agents/{id}/password", post(reset_password))
        .route("/api/v1/agents/{id}/two-step", delete(turn_off_two_step))
        .route("/api/v1/me", get(me))
        .route("/api/v1/tags", get(tags))
}

/// All teams.
#[utoipa::path(get, path = "/api/v1/teams", operation_id = "list_teams", tag = "teams", responses((status = 200, body = Vec<Team>)))]
pub async fn list(State(state): State<Shared>, _caller: Caller) -> Result<Response, Problem> {
    let list = state.store.read(op!(c => teams::list(c).await)).await?;
    Ok(json(StatusCode::OK, &list))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\x00-\\x1f\\x7f-\\x9f]"
    )]
    pub name: String,
    /// Only members, supervisors and admins see a private team's conversations.
    #[serde(default)]
    pub private: bool,
}

/// Create a team (admins).
#[utoipa::path(post, path = "/api/v1/teams", operation_id = "create_team", request_body = NewTeam, tag = "teams",
    responses((status = 201, body = Team), (status = 409, body = Problem)))]
pub async fn create(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<NewTeam>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let actor = caller.actor();
    create_once(
        &state,
        &caller,
        &headers,
        &raw,
        op!(c => {
            let team = teams::create(c, &body.name, body.private, &actor).await?;
            stored(StatusCode::CREATED, &team)
        }),
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    pub agent_id: AgentId,
}

/// Add an agent to a team (admins).
#[utoipa::path(post, path = "/api/v1/teams/{id}/members", request_body = MemberBody, tag = "teams",
    responses((status = 200, body = Team), (status = 404, body = Problem, description = "No such team"),
        (status = 422, body = Problem, description = "No such agent (`agent_id`)")))]
pub async fn add_member(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<MemberBody>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: TeamId = parse_id("id", &id)?;
    let actor = caller.actor();
    let team = state
        .store
        .write(op!(c => {
            teams::add_member(c, id, body.agent_id, &actor).await?;
            teams::get(c, id).await
        }))
        .await?;
    // Callers' cached token checks hold their teams: forget them before answering.
    state.tokens.clear();
    Ok(json(StatusCode::OK, &team))
}

/// Remove an agent from a team (admins).
#[utoipa::path(delete, path = "/api/v1/teams/{id}/members/{agent_id}", tag = "teams",
    responses((status = 200, body = Team), (status = 404, body = Problem)))]
pub async fn remove_member(
    State(state): State<Shared>,
    caller: Caller,
    Path((id, agent)): Path<(String, String)>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: TeamId = parse_id("id", &id)?;
    let agent: AgentId = parse_id("agent_id", &agent)?;
    let actor = caller.actor();
    let team = state
        .store
        .write(op!(c => {
            teams::remove_member(c, id, agent, &actor).await?;
            teams::get(c, id).await
        }))
        .await?;
    // Callers' cached token checks hold their teams: forget them before answering.
    state.tokens.clear();
    Ok(json(StatusCode::OK, &team))
}

/// All agents.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", responses((status = 200, body = Vec<Agent>)))]
pub async fn agents(State(state): State<Shared>, _caller: Caller) -> Result<Response, Problem> {
    let list = state.store.read(op!(c => agents::list(c).await)).await?;
    Ok(json(StatusCode::OK, &list))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgentBody {
    #[schema(value_type = EmailAddress)]
    pub email: String,
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\x00-\\x1f\\x7f-\\x9f]"
    )]
    pub name: String,
    pub role: Role,
    pub language: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AgentCreated {
    pub agent: Agent,
    /// Shown once: the agent logs in with it and is asked to choose their own.
    pub one_time_password: String,
}

/// Create an agent (admins). Answers with a one-time password.
#[utoipa::path(post, path = "/api/v1/agents", request_body = NewAgentBody, tag = "agents",
    responses((status = 201, body = AgentCreated), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_agent(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<NewAgentBody>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let language = body.language.as_deref().unwrap_or("en");
    let (agent, password) = add_agent(
        &state,
        caller.agent.id,
        &body.email,
        &body.name,
        body.role,
        language,
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &AgentCreated {
            agent,
            one_time_password: password,
        },
    ))
}

/// Creates an agent with a one-time password (they choose their own at first login), in
/// one of the UI's languages (English for a code it does not know). Returns the agent
/// and the password, which is not stored anywhere but as its hash. `by` is the admin.
pub(crate) async fn add_agent(
    state: &Shared,
    by: AgentId,
    email: &str,
    name: &str,
    role: Role,
    language: &str,
) -> Result<(Agent, String), Problem> {
    let language = crate::i18n::Tr::new(language).lang;
    let (password, hash) = one_time_password().await?;
    let (email, name) = (email.to_string(), name.to_string());
    let actor = format!("agent:{by}");
    let agent = state
        .store
        .write(op!(c => agents::create(c, NewAgent {
            email: &email, name: &name, role, language,
            password_hash: Some(hash), must_change_password: true,
        }, &actor).await))
        .await?;
    Ok((agent, password))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisabledBody {
    pub disabled: bool,
}

/// Disable an agent (their sessions end and their API tokens are revoked at once) or
/// enable them again (admins; not themselves).
#[utoipa::path(post, path = "/api/v1/agents/{id}/disabled", request_body = DisabledBody, tag = "agents",
    responses((status = 200, body = Agent), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn disable_agent(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<DisabledBody>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: AgentId = parse_id("id", &id)?;
    let agent = set_agent_disabled(&state, caller.agent.id, id, body.disabled).await?;
    Ok(json(StatusCode::OK, &agent))
}

/// Disables or enables an agent on behalf of the admin `by`, who may not disable
/// themselves (nor lock the desk's last admin out that way).
pub(crate) async fn set_agent_disabled(
    state: &Shared,
    by: AgentId,
    id: AgentId,
    disabled: bool,
) -> Result<Agent, Problem> {
    if disabled && id == by {
        return Err(Problem::bad_request(
            "disabled",
            "you cannot disable yourself; another admin can",
        ));
    }
    let actor = format!("agent:{by}");
    let agent = state
        .store
        .write(op!(c => {
            agents::set_disabled(c, id, disabled, &actor).await?;
            agents::get(c, id).await
        }))
        .await?;
    // Cached token checks must not outlive the agent's tokens.
    state.tokens.clear();
    Ok(agent)
}

#[derive(Serialize, ToSchema)]
pub struct PasswordIssued {
    /// Shown once: the agent logs in with it and is asked to choose their own.
    pub one_time_password: String,
}

/// Give an agent a new one-time password, for one who forgot theirs (admins). Their
/// sessions end; their API tokens stay.
#[utoipa::path(post, path = "/api/v1/agents/{id}/password", tag = "agents",
    responses((status = 200, body = PasswordIssued), (status = 404, body = Problem)))]
pub async fn reset_password(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: AgentId = parse_id("id", &id)?;
    let (_, password) = issue_password(&state, caller.agent.id, id).await?;
    Ok(json(
        StatusCode::OK,
        &PasswordIssued {
            one_time_password: password,
        },
    ))
}

/// A new one-time password for an agent, stored as its hash; their sessions end. Returns
/// the agent and the password. `by` is the admin.
pub(crate) async fn issue_password(
    state: &Shared,
    by: AgentId,
    id: AgentId,
) -> Result<(Agent, String), Problem> {
    let (password, hash) = one_time_password().await?;
    let actor = format!("agent:{by}");
    let agent = state
        .store
        .write(op!(c => {
            agents::reset_password(c, id, hash, &actor).await?;
            agents::get(c, id).await
        }))
        .await?;
    Ok((agent, password))
}

/// A new one-time password and its argon2 hash (hashed off the async workers).
async fn one_time_password() -> Result<(String, String), Problem> {
    let password = crate::auth::new_password();
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&pw))
        .await
        .map_err(|_| Problem::internal())??;
    Ok((password, hash))
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "agents", responses((status = 200, body = Agent)))]
pub async fn me(caller: Caller) -> Response {
    json(StatusCode::OK, &caller.agent)
}

#[derive(Serialize, ToSchema)]
pub struct TagCount {
    pub tag: String,
    pub conversations: i64,
}

/// Tags in use, most used first.
#[utoipa::path(get, path = "/api/v1/tags", operation_id = "list_tags", tag = "conversations", responses((status = 200, body = Vec<TagCount>)))]
pub async fn tags(State(state): State<Shared>, _caller: Caller) -> Result<Response, Problem> {
    let list = state
        .store
        .read(op!(c => {
            let rows = c.query("SELECT tag, count(*) FROM conversation_tags GROUP BY tag ORDER BY count(*) DESC, tag LIMIT $1", args![500]).await?;
            rows.iter().map(|r| Ok(TagCount { tag: r.text(0)?, conversations: r.int(1)? })).collect::<seva_store::Result<Vec<_>>>()
        }))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

/// Turn an agent's two-step verification off, for one who lost their phone (admins; not
/// their own: an admin turns theirs off with a code, in the browser). They log in with
/// their password alone until they turn it on again.
#[utoipa::path(delete, path = "/api/v1/agents/{id}/two-step", tag = "agents",
    responses((status = 200, body = Agent), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn turn_off_two_step(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: AgentId = parse_id("id", &id)?;
    let agent = two_step_off(&state, &caller, id).await?;
    Ok(json(StatusCode::OK, &agent))
}

pub(crate) async fn two_step_off(
    state: &Shared,
    caller: &Caller,
    id: AgentId,
) -> Result<Agent, Problem> {
    caller.require_admin()?;
    if caller.agent.id == id {
        return Err(Problem::bad_request(
            "id",
            "turn your own two-step verification off with a code, under Settings",
        ));
    }
    let actor = caller.actor();
    let agent = state
        .store
        .write(op!(c => {
            agents::turn_off_two_step(c, id, &actor).await?;
            agents::get(c, id).await
        }))
        .await?;
    state.tokens.clear();
    Ok(agent)
}
