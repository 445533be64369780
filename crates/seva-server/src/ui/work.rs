//! The conversation page's transfer and follow-up parts, and their forms: hand the
//! conversation to another team with a note, mark the other team's part done, finish a
//! follow-up.

use super::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_core::{AgentId, ConversationId, TaskId, TeamId};
use seva_store::conversations::Viewer;
use seva_store::{op, transfers};

use super::desk::back_to;
use super::{Agent, PageError};
use crate::Shared;
use crate::problem::Problem;

/// A transfer under way, as the conversation page shows it.
pub struct TransferView {
    pub team: String,
    pub note: String,
    /// Whether the viewer is in the team it went to (or a supervisor): they mark it done.
    pub may_finish: bool,
}

/// An open follow-up on the conversation.
pub struct TaskView {
    pub id: TaskId,
    pub text: String,
    pub agent: String,
    pub mine: bool,
}

/// The transfer under way and the open follow-ups of a conversation, for its page.
pub async fn of_conversation(
    c: &mut dyn seva_store::Conn,
    viewer: &Viewer,
    id: ConversationId,
    names: &[(AgentId, String)],
    teams: &[(TeamId, String)],
) -> seva_store::Result<(Option<TransferView>, Vec<TaskView>)> {
    let transfer = transfers::of_conversation(c, id)
        .await?
        .into_iter()
        .find(|t| t.done_at.is_none())
        .map(|t| TransferView {
            team: teams
                .iter()
                .find(|(tid, _)| *tid == t.to_team_id)
                .map(|(_, n)| n.clone())
                .unwrap_or_default(),
            note: t.note,
            may_finish: viewer.role.sees_every_team() || viewer.teams.contains(&t.to_team_id),
        });
    let tasks = transfers::tasks(c, None, Some(id), true)
        .await?
        .into_iter()
        .map(|t| TaskView {
            id: t.id,
            text: t.text,
            agent: names
                .iter()
                .find(|(a, _)| *a == t.agent_id)
                .map(|(_, n)| n.clone())
                .unwrap_or_default(),
            mine: t.agent_id == viewer.agent_id,
        })
        .collect();
    Ok((transfer, tasks))
}

#[derive(Deserialize)]
pub struct TransferForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    note: String,
}

pub async fn transfer(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<TransferForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: ConversationId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let team: TeamId = form
        .team
        .parse()
        .map_err(|_| PageError(Problem::bad_request("team", "choose a team"), t))?;
    let viewer = agent.0.viewer();
    state
        .store
        .write(op!(c => transfers::start(c, &viewer, id, team, &form.note).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(back_to(id))
}

#[derive(Deserialize)]
pub struct DoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

pub async fn transfer_done(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<DoneForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: ConversationId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let viewer = agent.0.viewer();
    state
        .store
        .write(op!(c => transfers::finish(c, &viewer, id, &form.note).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(back_to(id))
}

pub async fn task_done(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<DoneForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: TaskId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let viewer = agent.0.viewer();
    let task = state
        .store
        .write(op!(c => transfers::complete(c, &viewer, id).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(back_to(task.conversation_id))
}

#[derive(Deserialize)]
pub struct SnoozeForm {
    #[serde(default)]
    csrf: String,
    /// `1h`, `4h`, `1d`, `1w`, or `reply` (until the customer replies).
    #[serde(default)]
    until: String,
}

pub async fn snooze(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<SnoozeForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: ConversationId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let hours = match form.until.as_str() {
        "1h" => Some(1),
        "4h" => Some(4),
        "1d" => Some(24),
        "1w" => Some(24 * 7),
        "reply" => None,
        _ => return Err(PageError(Problem::bad_request("until", "choose when"), t)),
    };
    let until = hours.map(|h| seva_store::now().plus_seconds(h * 3600));
    let viewer = agent.0.viewer();
    state
        .store
        .write(op!(c => seva_store::conversations::snooze(c, &viewer, id, until).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(back_to(id))
}

#[derive(Deserialize)]
pub struct MacroForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "macro")]
    macro_id: String,
}

pub async fn apply_macro(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<MacroForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: ConversationId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let macro_id: seva_core::MacroId = form
        .macro_id
        .parse()
        .map_err(|_| PageError(Problem::bad_request("macro", "choose a macro"), t))?;
    let viewer = agent.0.viewer();
    state
        .store
        .write(op!(c => seva_store::macros::apply(c, &viewer, id, macro_id).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(back_to(id))
}

pub async fn read_notification(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<DoneForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: seva_core::NotificationId =
        id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let me = agent.0.agent.id;
    state
        .store
        .write(op!(c => seva_store::notifications::mark_read(c, me, id).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(Redirect::to("/inbox").into_response())
}
