//! `/api/v1/calendars`, `/api/v1/sla_policies` and a conversation's SLA clocks. Admins
//! define business hours and targets; everyone sees a conversation's deadlines.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use seva_core::CalendarId;
use seva_core::hours::CalendarSpec;
use seva_store::op;
use seva_store::sla::{self, Clock, Conditions, NewPolicy, Policy, StoredCalendar};
use utoipa::ToSchema;

use super::{ApiJson, json, parse_id};
use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;
use seva_core::shapes::CalendarShape;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/calendars", get(calendars).post(create_calendar))
        .route("/api/v1/sla_policies", get(policies).post(create_policy))
        .route("/api/v1/conversations/{id}/sla", get(conversation_clocks))
        .route("/api/v1/test/clock", post(set_clock))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCalendar {
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
        max_length = 100
    )]
    pub name: String,
    /// `{"time_zone": "Europe/Athens", "week": {"monday": [["09:00", "18:00"]]}, "holidays": ["2026-12-25"]}`
    #[schema(value_type = CalendarShape)]
    pub spec: CalendarSpec,
}

/// Business-hours calendars.
#[utoipa::path(get, path = "/api/v1/calendars", tag = "sla", responses((status = 200, body = Vec<StoredCalendar>)))]
pub async fn calendars(State(state): State<Shared>, _caller: Caller) -> Result<Response, Problem> {
    let list = state.store.read(op!(c => sla::calendars(c).await)).await?;
    Ok(json(StatusCode::OK, &list))
}

/// Create a calendar (admins). Unknown time zones, bad hours and overlaps are refused.
#[utoipa::path(post, path = "/api/v1/calendars", request_body = NewCalendar, tag = "sla",
    responses((status = 201, body = StoredCalendar), (status = 422, body = Problem)))]
pub async fn create_calendar(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<NewCalendar>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let created = state
        .store
        .write(op!(c => sla::create_calendar(c, &body.name, &body.spec).await))
        .await?;
    Ok(json(StatusCode::CREATED, &created))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSlaPolicy {
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\x00-\\x1f\\x7f-\\x9f]",
        max_length = 100
    )]
    pub name: String,
    /// Lower comes first; the first policy whose conditions match a new conversation applies.
    #[serde(default)]
    pub position: i64,
    #[serde(default)]
    pub conditions: Conditions,
    pub calendar_id: Option<CalendarId>,
    /// At least one of the three targets is required: 1 minute to a year (527,040) each.
    #[schema(minimum = 1, maximum = 527040)]
    pub first_response_minutes: Option<i64>,
    /// Each answer after the first, from the customer message it answers.
    #[schema(minimum = 1, maximum = 527040)]
    pub next_response_minutes: Option<i64>,
    #[schema(minimum = 1, maximum = 527040)]
    pub resolution_minutes: Option<i64>,
    /// Business minutes before a deadline when the warning comes (default 60).
    #[schema(minimum = 0)]
    pub warn_minutes: Option<i64>,
}

/// SLA policies, in the order they are tried.
#[utoipa::path(get, path = "/api/v1/sla_policies", tag = "sla", responses((status = 200, body = Vec<Policy>)))]
pub async fn policies(State(state): State<Shared>, _caller: Caller) -> Result<Response, Problem> {
    let list = state.store.read(op!(c => sla::policies(c).await)).await?;
    Ok(json(StatusCode::OK, &list))
}

/// Create an SLA policy (admins).
#[utoipa::path(post, path = "/api/v1/sla_policies", request_body = NewSlaPolicy, tag = "sla",
    responses((status = 201, body = Policy), (status = 422, body = Problem)))]
pub async fn create_policy(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<NewSlaPolicy>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let created = state
        .store
        .write(op!(c => sla::create_policy(c, NewPolicy {
            name: &body.name,
            position: body.position,
            conditions: &body.conditions,
            calendar_id: body.calendar_id,
            first_response_minutes: body.first_response_minutes,
            next_response_minutes: body.next_response_minutes,
            resolution_minutes: body.resolution_minutes,
            warn_minutes: body.warn_minutes.unwrap_or(60),
        }).await))
        .await?;
    Ok(json(StatusCode::CREATED, &created))
}

/// A conversation's SLA clocks: targets, deadlines, pauses, warnings and breaches.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/sla", tag = "sla",
    responses((status = 200, body = Vec<Clock>), (status = 404, body = Problem)))]
pub async fn conversation_clocks(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let list = state
        .store
        .read(op!(c => {
            seva_store::conversations::get_for(c, &viewer, id).await?;
            sla::clocks(c, id).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockBody {
    /// The instant "now" becomes (RFC 3339).
    pub now: seva_core::time::Timestamp,
}

/// Moves the server's clock: only on a server started with `test_clock = true`, for
/// tests of timers; anywhere else it does not exist.
pub async fn set_clock(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<ClockBody>,
) -> Result<Response, Problem> {
    if !state.config.test_clock {
        return Err(Problem::not_found());
    }
    caller.require_admin()?;
    seva_core::time::Timestamp::set_test_now(body.now);
    state.tokens.clear();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"now": seva_store::now()}),
    ))
}
