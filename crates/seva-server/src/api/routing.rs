//! `/api/v1/teams/{id}/routing` and `/api/v1/agents/{id}/routing`: how a team hands out
//! new conversations, and what each agent can take.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use seva_core::{AgentId, TeamId};
use seva_store::op;
use seva_store::routing::{self, AgentRouting, TeamRouting};

use super::{ApiJson, json, parse_id};
use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/teams/{id}/routing", get(team).put(set_team))
        .route("/api/v1/agents/{id}/routing", get(agent).put(set_agent))
}

#[utoipa::path(get, path = "/api/v1/teams/{id}/routing", tag = "teams",
    responses((status = 200, body = TeamRouting), (status = 404, body = Problem)))]
pub async fn team(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: TeamId = parse_id("id", &id)?;
    let r = state
        .store
        .read(op!(c => {
            seva_store::teams::get(c, id).await?;
            routing::team(c, id).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &r))
}

/// Set a team's routing (admins): `manual`, `round_robin` or `least_busy`, and a capacity.
#[utoipa::path(put, path = "/api/v1/teams/{id}/routing", request_body = TeamRouting, tag = "teams",
    responses((status = 200, body = TeamRouting), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_team(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<TeamRouting>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: TeamId = parse_id("id", &id)?;
    let saved = body.clone();
    state
        .store
        .write(op!(c => routing::set_team(c, id, &body).await))
        .await?;
    Ok(json(StatusCode::OK, &saved))
}

#[utoipa::path(get, path = "/api/v1/agents/{id}/routing", tag = "teams",
    responses((status = 200, body = AgentRouting), (status = 404, body = Problem)))]
pub async fn agent(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: AgentId = parse_id("id", &id)?;
    let r = state
        .store
        .read(op!(c => routing::agent(c, id).await))
        .await?;
    Ok(json(StatusCode::OK, &r))
}

/// Set an agent's availability and languages (admins, or the agent themselves).
#[utoipa::path(put, path = "/api/v1/agents/{id}/routing", request_body = AgentRouting, tag = "teams",
    responses((status = 200, body = AgentRouting), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_agent(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<AgentRouting>,
) -> Result<Response, Problem> {
    let id: AgentId = parse_id("id", &id)?;
    if caller.agent.id != id {
        caller.require_admin()?;
    }
    let saved = state
        .store
        .write(op!(c => {
            seva_store::agents::get(c, id).await?;
            routing::set_agent(c, id, &body).await?;
            routing::agent(c, id).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &saved))
}
