//! `/api/v1/rules`: routing, priority and automation rules as data, with a dry run that
//! shows what a rule would have done to the last conversations.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use seva_core::RuleId;
use seva_store::op;
use seva_store::rules::{self, DryRunResult, StoredRule};
use utoipa::ToSchema;

use super::{ApiJson, json, parse_id};
use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/rules", get(list).post(create))
        .route("/api/v1/rules/dry-run", post(dry_run))
        .route(
            "/api/v1/rules/{id}",
            get(get_one).put(update).delete(delete),
        )
}

fn require_steering(caller: &Caller) -> Result<(), Problem> {
    if caller.agent.role.sees_every_team() {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "only supervisors and admins change rules",
        ))
    }
}

#[utoipa::path(get, path = "/api/v1/rules", operation_id = "list_rules", tag = "rules", responses((status = 200, body = [StoredRule])))]
pub async fn list(State(state): State<Shared>, _caller: Caller) -> Result<Response, Problem> {
    let rules = state.store.read(op!(c => rules::list(c).await)).await?;
    Ok(json(StatusCode::OK, &rules))
}

#[utoipa::path(get, path = "/api/v1/rules/{id}", operation_id = "get_rule", tag = "rules",
    responses((status = 200, body = StoredRule), (status = 404, body = Problem)))]
pub async fn get_one(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: RuleId = parse_id("id", &id)?;
    let rule = state.store.read(op!(c => rules::get(c, id).await)).await?;
    Ok(json(StatusCode::OK, &rule))
}

/// Create a rule (supervisors and admins). The body is the rule: `name`, `trigger`
/// (`conversation.created`, `conversation.updated`, `sla.breached`), `conditions`
/// (`{field, op, value}`, all must hold) and `actions` (`{type, value}`), with optional
/// `position` and `enabled`. A rule that is malformed, names an unknown field, team or
/// agent, has a bad regular expression, or would set other rules off in a circle is
/// refused with the path of the part at fault.
#[utoipa::path(post, path = "/api/v1/rules", operation_id = "create_rule", tag = "rules", request_body = Object,
    responses((status = 201, body = StoredRule), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<serde_json::Value>,
) -> Result<Response, Problem> {
    require_steering(&caller)?;
    let actor = caller.viewer().actor();
    let rule = state
        .store
        .write(op!(c => rules::create(c, &body, &actor).await))
        .await?;
    Ok(json(StatusCode::CREATED, &rule))
}

/// Replace a rule's definition.
#[utoipa::path(put, path = "/api/v1/rules/{id}", operation_id = "update_rule", tag = "rules", request_body = Object,
    responses((status = 200, body = StoredRule), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<serde_json::Value>,
) -> Result<Response, Problem> {
    require_steering(&caller)?;
    let id: RuleId = parse_id("id", &id)?;
    let actor = caller.viewer().actor();
    let rule = state
        .store
        .write(op!(c => rules::update(c, id, &body, &actor).await))
        .await?;
    Ok(json(StatusCode::OK, &rule))
}

#[utoipa::path(delete, path = "/api/v1/rules/{id}", operation_id = "delete_rule", tag = "rules",
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    require_steering(&caller)?;
    let id: RuleId = parse_id("id", &id)?;
    let actor = caller.viewer().actor();
    state
        .store
        .write(op!(c => rules::delete(c, id, &actor).await))
        .await?;
    Ok(json(StatusCode::NO_CONTENT, &()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunBody {
    /// The rule to try, saved or not.
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
    /// How many of the latest conversations to try it on (1 to 1000).
    #[serde(default = "default_last")]
    pub last: i64,
}

fn default_last() -> i64 {
    100
}

/// What a rule would have done to the last `last` conversations; changes nothing
/// (supervisors and admins).
#[utoipa::path(post, path = "/api/v1/rules/dry-run", tag = "rules", request_body = DryRunBody,
    responses((status = 200, body = [DryRunResult]), (status = 422, body = Problem)))]
pub async fn dry_run(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<DryRunBody>,
) -> Result<Response, Problem> {
    // It reads every team's conversations, private ones included.
    require_steering(&caller)?;
    let results = state
        .store
        .read(op!(c => rules::dry_run(c, &body.rule, body.last).await))
        .await?;
    Ok(json(StatusCode::OK, &results))
}
