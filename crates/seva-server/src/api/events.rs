//! `/api/v1/events` (the feed integrators follow), `/api/v1/audit` (changes to the desk
//! itself, for admins), `/api/v1/jobs` (the queue, for admins) and
//! `/api/v1/attachments/{id}` (file downloads, with the conversation's access check).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use seva_core::{AttachmentId, JobId};
use seva_store::events::{self, Event};
use seva_store::jobs::{self, Job};
use seva_store::op;
use utoipa::ToSchema;

use super::{ApiQuery, json, parse_id};
use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/events", get(feed))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/jobs", get(jobs))
        .route("/api/v1/messages/{id}/original", get(original))
        .route("/api/v1/jobs/{id}/retry", post(retry_job))
        .route("/api/v1/attachments/{id}", get(attachment))
}

#[derive(Deserialize)]
pub struct FeedQuery {
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Feed {
    pub data: Vec<Event>,
    /// Pass as `after` to get the events that follow.
    pub next_after: i64,
}

/// Events after a sequence number, oldest first. Follow it by passing `next_after` back.
/// Supervisors and admins see every event; agents see those of conversations they may see.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(("after" = Option<i64>, Query), ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000)),
    responses((status = 200, body = Feed), (status = 422, body = Problem)))]
pub async fn feed(
    State(state): State<Shared>,
    caller: Caller,
    ApiQuery(q): ApiQuery<FeedQuery>,
) -> Result<Response, Problem> {
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request("limit", "between 1 and 1000"));
    }
    let viewer = caller.viewer();
    let (data, next_after) = state
        .store
        .read(op!(c => {
            let all = events::after(c, after, limit).await?;
            let next = all.last().map_or(after, |e| e.seq);
            let mut visible = Vec::with_capacity(all.len());
            for e in all {
                let ok = match e.conversation_id {
                    None => viewer.role.sees_every_team(),
                    Some(id) => viewer.role.sees_every_team()
                        || seva_store::conversations::get_for(c, &viewer, id).await.is_ok(),
                };
                if ok {
                    visible.push(e);
                }
            }
            Ok((visible, next))
        }))
        .await?;
    Ok(json(StatusCode::OK, &Feed { data, next_after }))
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    pub before: Option<i64>,
    pub area: Option<String>,
    /// `agent:<id>`, or `system` for Seva itself and the command line.
    pub actor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<Event>,
    /// Pass as `before` for the page of older changes; none when this page is the last.
    pub next_before: Option<i64>,
}

/// The audit log, newest first (admins): changes to the desk itself, that is every event
/// about no conversation but a new contact's. `area` keeps one kind of thing (`agent`,
/// `token`, `team`, `inbox`, `rule`, `webhook`, `organization`, `contact`), `actor` one
/// doer.
#[utoipa::path(get, path = "/api/v1/audit", tag = "events",
    params(("before" = Option<i64>, Query),
        ("area" = Option<String>, Query, pattern = "^(agent|token|team|inbox|rule|webhook|organization|contact)?$"),
        ("actor" = Option<String>, Query), ("limit" = Option<i64>, Query, minimum = 1, maximum = 200)),
    responses((status = 200, body = AuditPage), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn audit(
    State(state): State<Shared>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let page = audit_page(&state, q).await?;
    Ok(json(StatusCode::OK, &page))
}

/// A page of the audit log, for the API and the admins' page.
pub(crate) async fn audit_page(state: &Shared, q: AuditQuery) -> Result<AuditPage, Problem> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Problem::bad_request("limit", "between 1 and 200"));
    }
    let area = q.area.filter(|a| !a.is_empty());
    let actor = q.actor.filter(|a| !a.is_empty());
    let mut data = state
        .store
        .read(op!(c => events::audit(c, q.before, area.as_deref(), actor.as_deref(), limit + 1).await))
        .await?;
    let more = data.len() as i64 > limit;
    data.truncate(limit as usize);
    let next_before = more.then(|| data.last().map(|e| e.seq)).flatten();
    Ok(AuditPage { data, next_before })
}

#[derive(Deserialize)]
pub struct JobsQuery {
    pub state: Option<String>,
}

/// Background jobs, newest first; `state=dead` lists those that ran out of attempts (admins).
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(("state" = Option<String>, Query, pattern = "^(queued|running|done|dead)$")),
    responses((status = 200, body = Vec<Job>), (status = 403, body = Problem)))]
pub async fn jobs(
    State(state): State<Shared>,
    caller: Caller,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    if let Some(s) = &q.state
        && !["queued", "running", "done", "dead"].contains(&s.as_str())
    {
        return Err(Problem::bad_request(
            "state",
            "one of queued, running, done, dead",
        ));
    }
    let list = state
        .store
        .read(op!(c => jobs::list(c, q.state.as_deref(), 200).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

/// Put a dead job back in the queue (admins).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn retry_job(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: JobId = parse_id("id", &id)?;
    state
        .store
        .write(op!(c => jobs::retry(c, id).await))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Download an attachment.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "conversations",
    responses((status = 200, description = "The file"), (status = 404, body = Problem)))]
pub async fn attachment(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: AttachmentId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let (_, file, _) = state
        .store
        .read(op!(c => {
            let found = seva_store::attachments::get(c, id).await?;
            seva_store::conversations::get_for(c, &viewer, found.0).await?;
            Ok(found)
        }))
        .await?;
    download(&state, &file.sha256, &file.filename).await
}

/// The original of an email message, as received (`message/rfc822`).
#[utoipa::path(get, path = "/api/v1/messages/{id}/original", tag = "conversations",
    responses((status = 200, description = "the message as received", content_type = "application/octet-stream"), (status = 404, body = Problem)))]
pub async fn original(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    original_for(&state, caller.viewer(), &id).await
}

/// The original of message `id`, if `viewer` may see its conversation.
pub async fn original_for(
    state: &Shared,
    viewer: seva_store::conversations::Viewer,
    id: &str,
) -> Result<Response, Problem> {
    use seva_store::messages::{self, Source};
    let id: seva_core::MessageId = parse_id("id", id)?;
    let source = state
        .store
        .read(op!(c => {
            let (conversation, source) = messages::source(c, id).await?;
            seva_store::conversations::get_for(c, &viewer, conversation).await?;
            source.ok_or(seva_store::Error::NotFound)
        }))
        .await?;
    match source {
        Source::Inline(bytes) => Ok(offer(bytes, "original.eml")),
        Source::File(sha256) => download(state, &sha256, "original.eml").await,
    }
}

/// The bytes of a file, offered for download (never rendered inline: a file from a
/// customer could be HTML with scripts).
pub async fn download(state: &Shared, sha256: &str, filename: &str) -> Result<Response, Problem> {
    let path = crate::files::path_for(&state.config.attachments_dir(), sha256);
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "attachment file missing");
        Problem::not_found()
    })?;
    Ok(offer(bytes, filename))
}

/// Bytes offered for download under `filename`, never rendered inline.
pub fn offer(bytes: Vec<u8>, filename: &str) -> Response {
    let disposition = format!("attachment; filename*=UTF-8''{}", percent_encode(filename));
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response()
}

/// RFC 5987 encoding for a file name in a header.
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
