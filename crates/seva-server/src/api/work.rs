//! The tools agents use every minute beyond replying: transfers to another team with the
//! follow-up they leave for the owner, tasks, notifications, the teams' live queues, and
//! presence on a conversation (collision notices).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use seva_core::{ConversationId, NotificationId, TaskId, TeamId};
use seva_store::notifications::{self, Notification};
use seva_store::op;
use seva_store::routing::{self, Waiting};
use seva_store::transfers::{self, Task, Transfer};
use utoipa::{IntoParams, ToSchema};

use super::{ApiJson, ApiQuery, json, parse_id};
use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;

pub fn router() -> Router<Shared> {
    Router::new()
        .route(
            "/api/v1/conversations/{id}/transfers",
            get(transfers_of).post(transfer),
        )
        .route(
            "/api/v1/conversations/{id}/transfers/done",
            post(transfer_done),
        )
        .route("/api/v1/tasks", get(tasks))
        .route("/api/v1/tasks/{id}/done", post(task_done))
        .route("/api/v1/notifications", get(my_notifications))
        .route("/api/v1/notifications/{id}/read", post(read_notification))
        .route(
            "/api/v1/me/notifications",
            get(notification_settings).put(set_notification_settings),
        )
        .route("/api/v1/teams/{id}/queue", get(team_queue))
        .route("/api/v1/queues", get(queues))
        .route(
            "/api/v1/conversations/{id}/presence",
            get(presence).post(announce),
        )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    pub state: crate::presence::State,
}

/// Who else is viewing or replying in a conversation now.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/presence", tag = "conversations",
    responses((status = 200, body = [crate::presence::Present]), (status = 404, body = Problem)))]
pub async fn presence(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = visible_conversation(&state, &caller, &id).await?;
    Ok(json(
        StatusCode::OK,
        &state.presence.others(id, caller.agent.id),
    ))
}

/// Say that the caller is viewing, replying in, or has left a conversation (pages renew
/// this every 10 s; it lapses after 30 s). Answers who else is there.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/presence", tag = "conversations", request_body = PresenceBody,
    responses((status = 200, body = [crate::presence::Present]), (status = 404, body = Problem)))]
pub async fn announce(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<PresenceBody>,
) -> Result<Response, Problem> {
    let id = visible_conversation(&state, &caller, &id).await?;
    let others = state
        .presence
        .announce(id, caller.agent.id, &caller.agent.name, body.state);
    Ok(json(StatusCode::OK, &others))
}

async fn visible_conversation(
    state: &Shared,
    caller: &Caller,
    id: &str,
) -> Result<ConversationId, Problem> {
    let id: ConversationId = parse_id("id", id)?;
    let viewer = caller.viewer();
    state
        .store
        .read(op!(c => seva_store::conversations::get_for(c, &viewer, id).await))
        .await?;
    Ok(id)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    pub team_id: TeamId,
    /// What the other team should do; they see it as an internal note.
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub note: String,
}

/// Transfer a conversation to another team. The owner stays accountable: the conversation
/// goes on hold for them and into the other team's queue.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/transfers", tag = "conversations", request_body = TransferBody,
    responses((status = 201, body = Transfer), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn transfer(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<TransferBody>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let t = state
        .store
        .write(op!(c => transfers::start(c, &viewer, id, body.team_id, &body.note).await))
        .await?;
    Ok(json(StatusCode::CREATED, &t))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DoneBody {
    /// What the team did, for the owner (an internal note).
    #[serde(default)]
    pub note: String,
}

/// The team a conversation was transferred to marks its part done: the conversation goes
/// back and its owner gets one follow-up task.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/transfers/done", tag = "conversations", request_body = DoneBody,
    responses((status = 200, body = Task), (status = 409, body = Problem)))]
pub async fn transfer_done(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<DoneBody>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let task = state
        .store
        .write(op!(c => transfers::finish(c, &viewer, id, &body.note).await))
        .await?;
    Ok(json(StatusCode::OK, &task))
}

#[utoipa::path(get, path = "/api/v1/conversations/{id}/transfers", tag = "conversations",
    responses((status = 200, body = [Transfer]), (status = 404, body = Problem)))]
pub async fn transfers_of(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let list = state
        .store
        .read(op!(c => {
            seva_store::conversations::get_for(c, &viewer, id).await?;
            transfers::of_conversation(c, id).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// Include finished tasks.
    #[serde(default)]
    pub all: bool,
    /// A conversation's tasks instead of the caller's.
    pub conversation_id: Option<ConversationId>,
}

/// The caller's open tasks (follow-ups), or a conversation's.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "work", params(TaskQuery),
    responses((status = 200, body = [Task]), (status = 404, body = Problem, description = "No conversation the agent may see has this id")))]
pub async fn tasks(
    State(state): State<Shared>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TaskQuery>,
) -> Result<Response, Problem> {
    let viewer = caller.viewer();
    let list = state
        .store
        .read(op!(c => match q.conversation_id {
            Some(id) => {
                seva_store::conversations::get_for(c, &viewer, id).await?;
                transfers::tasks(c, None, Some(id), !q.all).await
            }
            None => transfers::tasks(c, Some(viewer.agent_id), None, !q.all).await,
        }))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/done", tag = "work",
    responses((status = 200, body = Task), (status = 404, body = Problem)))]
pub async fn task_done(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: TaskId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let task = state
        .store
        .write(op!(c => transfers::complete(c, &viewer, id).await))
        .await?;
    Ok(json(StatusCode::OK, &task))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    #[serde(default)]
    pub unread: bool,
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "work", params(NotificationQuery),
    responses((status = 200, body = [Notification])))]
pub async fn my_notifications(
    State(state): State<Shared>,
    caller: Caller,
    ApiQuery(q): ApiQuery<NotificationQuery>,
) -> Result<Response, Problem> {
    let agent = caller.agent.id;
    let list = state
        .store
        .read(op!(c => notifications::list_for(c, agent, q.unread).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "work",
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn read_notification(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: NotificationId = parse_id("id", &id)?;
    let agent = caller.agent.id;
    state
        .store
        .write(op!(c => notifications::mark_read(c, agent, id).await))
        .await?;
    Ok(json(StatusCode::NO_CONTENT, &()))
}

/// How the caller is told of notifications beyond the desk.
#[derive(Serialize, ToSchema)]
pub struct NotificationSettings {
    /// Whether notifications left unread are mailed to the caller.
    pub email: bool,
    /// How long a notification stays unread before it is mailed.
    pub email_after_seconds: u64,
    /// Whether an email inbox sends such mail at all (an admin sets `notify_agents` on one).
    pub email_sender: bool,
    /// What the mail is about: any of `mentions`, `assignments`, `followed` (activity on
    /// conversations the caller follows), `transfers`, `alerts` (nobody took a
    /// conversation, a snooze ran out, a rule said so) and `knowledge` (an article flagged).
    pub email_kinds: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettingsBody {
    pub email: bool,
    /// What to be mailed about (see `NotificationSettings`); unchanged when left out.
    #[serde(default)]
    #[schema(value_type = Option<Vec<EmailGroup>>)]
    pub email_kinds: Option<Vec<String>>,
}

/// A kind of notification an agent may be mailed about (`seva_store::notifications::EMAIL_GROUPS`).
pub struct EmailGroup;

impl utoipa::PartialSchema for EmailGroup {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(
                seva_store::notifications::EMAIL_GROUPS.iter().copied(),
            ))
            .into()
    }
}

impl ToSchema for EmailGroup {}

async fn read_notification_settings(
    state: &Shared,
    agent: seva_core::AgentId,
) -> Result<NotificationSettings, Problem> {
    let (email, kinds, inboxes) = state
        .store
        .read(op!(c => Ok((
            seva_store::agents::email_notifications(c, agent).await?,
            seva_store::agents::email_groups(c, agent).await?,
            seva_store::inboxes::list(c).await?,
        ))))
        .await?;
    Ok(NotificationSettings {
        email,
        email_after_seconds: state.config.notify_email_after_seconds,
        email_sender: inboxes.iter().any(crate::mail::notify::sends),
        email_kinds: kinds.into_iter().map(String::from).collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/me/notifications", tag = "work",
    responses((status = 200, body = NotificationSettings)))]
pub async fn notification_settings(
    State(state): State<Shared>,
    caller: Caller,
) -> Result<Response, Problem> {
    let settings = read_notification_settings(&state, caller.agent.id).await?;
    Ok(json(StatusCode::OK, &settings))
}

/// Turns the mailing of the caller's unread notifications on or off, and chooses what it
/// is about.
#[utoipa::path(put, path = "/api/v1/me/notifications", tag = "work",
    request_body = NotificationSettingsBody,
    responses((status = 200, body = NotificationSettings), (status = 422, body = Problem)))]
pub async fn set_notification_settings(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<NotificationSettingsBody>,
) -> Result<Response, Problem> {
    let agent = caller.agent.id;
    state
        .store
        .write(op!(c => {
            if let Some(kinds) = &body.email_kinds {
                seva_store::agents::set_email_groups(c, agent, kinds).await?;
            }
            seva_store::agents::set_email_notifications(c, agent, body.email).await
        }))
        .await?;
    let settings = read_notification_settings(&state, agent).await?;
    Ok(json(StatusCode::OK, &settings))
}

/// A team's queue: its unowned active conversations, most urgent and longest waiting
/// first, in the order routing hands them out.
#[utoipa::path(get, path = "/api/v1/teams/{id}/queue", tag = "teams",
    responses((status = 200, body = [Waiting]), (status = 404, body = Problem)))]
pub async fn team_queue(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: TeamId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let list = state
        .store
        .read(op!(c => {
            let team = seva_store::teams::get(c, id).await?;
            if team.private && !viewer.role.sees_every_team() && !viewer.teams.contains(&id) {
                return Err(seva_store::Error::NotFound);
            }
            routing::queue(c, id, 200).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

/// One team's live queue figures.
#[derive(Serialize, ToSchema)]
pub struct QueueSummary {
    pub team_id: TeamId,
    pub team: String,
    pub waiting: i64,
    /// Microseconds the longest-waiting conversation has waited.
    pub longest_wait: i64,
    pub urgent_waiting: i64,
    pub agents: Vec<routing::AgentLoad>,
}

/// Supervisors' view of every team: how many wait, the longest wait, and each agent's
/// load and availability.
#[utoipa::path(get, path = "/api/v1/queues", tag = "teams", responses((status = 200, body = [QueueSummary])))]
pub async fn queues(State(state): State<Shared>, caller: Caller) -> Result<Response, Problem> {
    if !caller.agent.role.sees_every_team() {
        return Err(Problem::forbidden(
            "only supervisors and admins see every queue",
        ));
    }
    let list = state
        .store
        .read(op!(c => {
            let mut out = Vec::new();
            for team in seva_store::teams::list(c).await? {
                let stats = routing::queue_stats(c, team.id).await?;
                out.push(QueueSummary {
                    team_id: team.id,
                    team: team.name.clone(),
                    waiting: stats.waiting,
                    longest_wait: stats.longest_wait,
                    urgent_waiting: stats.urgent,
                    agents: routing::loads(c, team.id).await?,
                });
            }
            Ok(out)
        }))
        .await?;
    Ok(json(StatusCode::OK, &list))
}
