//! `/api/v1/conversations`: open, list, read and work on conversations.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use seva_core::contact::IdentityKind;
use seva_core::conversation::{Channel, MessageKind, Priority, Status};
use seva_core::time::Timestamp;
use seva_core::{AgentId, ContactId, ConversationId, InboxId, MessageId, TeamId};
use seva_store::conversations::{
    self, Assignment, Conversation, Cursor, Filter, Reply, Start, Viewer,
};
use seva_store::events::Event;
use seva_store::messages::{self, Message};
use seva_store::op;
use utoipa::ToSchema;

use super::{ApiJson, ApiQuery, create_once, create_once_repeatable, json, parse_id, stored};
use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;
use seva_core::shapes::{EmailAddress, PhoneNumber, Tag};

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/conversations", post(create).get(list))
        .route("/api/v1/conversations/{id}", get(get_one))
        .route(
            "/api/v1/conversations/{id}/messages",
            get(messages).post(post_message),
        )
        .route("/api/v1/conversations/{id}/assign", post(assign))
        .route("/api/v1/conversations/{id}/status", post(status))
        .route("/api/v1/conversations/{id}/priority", post(priority))
        .route("/api/v1/conversations/{id}/snooze", post(snooze))
        .route("/api/v1/conversations/{id}/tags", post(tags))
        .route("/api/v1/conversations/{id}/followers", post(followers))
        .route("/api/v1/conversations/{id}/copy", post(copy))
        .route("/api/v1/conversations/{id}/spam", post(spam))
        .route("/api/v1/conversations/{id}/subject", post(subject))
        .route("/api/v1/conversations/{id}/fields", post(fields))
        .route("/api/v1/conversations/{id}/events", get(events))
        .route("/api/v1/messages/{id}/redact", post(redact))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// The customer's email address; `email` or `phone` is required.
    #[schema(value_type = Option<EmailAddress>)]
    pub email: Option<String>,
    /// An E.164 phone number (`+91…`).
    #[schema(value_type = Option<PhoneNumber>)]
    pub phone: Option<String>,
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    /// The customer; or, instead, `requester_team_id`.
    #[serde(default)]
    pub contact: Option<ContactInput>,
    /// A department asking as the customer (an internal customer): the caller's own team
    /// (supervisors and admins: any team). Its contact has the tier `internal`, which SLA
    /// policies and rules can select.
    pub requester_team_id: Option<TeamId>,
    pub subject: String,
    /// The customer's first message.
    pub text: String,
    pub priority: Option<Priority>,
    pub team_id: Option<TeamId>,
    /// The inbox it belongs to; with `direction: outbound`, the email inbox it is written
    /// and answered from.
    pub inbox_id: Option<InboxId>,
    /// `inbound` (the default): `text` is the customer's, recorded in their name.
    /// `outbound`: `text` is the caller's own first message to the customer, mailed from
    /// the email inbox `inbox_id` to `contact.email`; the conversation is answered by
    /// email from then on.
    pub direction: Option<Direction>,
    /// The agent it belongs to from the start (no routing then).
    pub owner_id: Option<AgentId>,
    /// Its status once written (default `open`): `solved` for a matter already settled.
    pub status: Option<Status>,
    /// Email addresses in copy from the start (with `direction: outbound`, or an email
    /// conversation): they receive the first message and every reply.
    #[serde(default)]
    #[schema(value_type = Vec<EmailAddress>)]
    pub copy: Vec<String>,
}

/// Whose words open a conversation.
#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    pub id: ConversationId,
    pub reference: i64,
    pub status: Status,
}

/// The most text one message may carry through the API.
const MAX_TEXT_BYTES: usize = 256 * 1024;

pub(crate) fn check_text(field: &'static str, text: &str) -> Result<(), Problem> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Problem::bad_request(
            field,
            "a message has at most 256 KiB of text",
        ));
    }
    Ok(())
}

/// Open a conversation on behalf of a customer.
#[utoipa::path(post, path = "/api/v1/conversations", operation_id = "create_conversation", request_body = NewConversation, tag = "conversations",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer", max_length = 200, pattern = "^[!-~]([\\t -~]*[!-~])?$")),
    responses((status = 201, body = Created), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<NewConversation>,
) -> Result<Response, Problem> {
    let contact = body.contact.as_ref();
    let identity = match (
        contact.and_then(|c| c.email.as_ref()),
        contact.and_then(|c| c.phone.as_ref()),
        body.requester_team_id,
    ) {
        (_, _, Some(_)) if contact.is_some() => {
            return Err(Problem::bad_request(
                "requester_team_id",
                "give either a contact or a requesting team, not both",
            ));
        }
        (_, _, Some(team)) => {
            if !caller.agent.role.sees_every_team() && !caller.agent.teams.contains(&team) {
                return Err(Problem::bad_request(
                    "requester_team_id",
                    "you may ask only on behalf of a team you belong to",
                ));
            }
            (IdentityKind::Team, team.to_string())
        }
        (Some(e), _, None) => (
            IdentityKind::Email,
            super::contacts::email_key("contact.email", e)?,
        ),
        (None, Some(p), None) => (
            IdentityKind::Phone,
            super::contacts::phone_key("contact.phone", p)?,
        ),
        (None, None, None) => {
            return Err(Problem::bad_request(
                "contact.email",
                "give the customer's email or phone",
            ));
        }
    };
    if body.text.trim().is_empty() {
        return Err(Problem::bad_request(
            "text",
            "the first message cannot be empty",
        ));
    }
    check_text("text", &body.text)?;
    let viewer = Arc::new(caller.viewer());
    let (body, identity) = (Arc::new(body), Arc::new(identity));
    let response = create_once_repeatable(&state, &caller, &headers, &raw, move |c| {
        let (body, identity, viewer) = (body.clone(), identity.clone(), viewer.clone());
        Box::pin(async move {
            let mut name = body.contact.as_ref().and_then(|c| c.name.clone());
            if let Some(team) = body.requester_team_id {
                let team = seva_store::teams::get(c, team)
                    .await
                    .map_err(|_| seva_store::Error::invalid("requester_team_id", "no such team"))?;
                seva_store::contacts::internal(c, &identity.1, &team.name).await?;
                name = Some(team.name);
            }
            let outbound = body.direction == Some(Direction::Outbound);
            let status = body.status.unwrap_or(Status::Open);
            let received = conversations::start(
                c,
                &viewer,
                Start {
                    identity: (identity.0, &identity.1),
                    name: name.as_deref(),
                    subject: &body.subject,
                    text: &body.text,
                    files: &[],
                    first: if outbound {
                        MessageKind::Outbound
                    } else {
                        MessageKind::Inbound
                    },
                    channel: if outbound {
                        Channel::Email
                    } else {
                        Channel::Api
                    },
                    inbox_id: body.inbox_id,
                    team_id: body.team_id,
                    priority: body.priority.unwrap_or(Priority::Normal),
                    owner: body.owner_id,
                    status,
                    copy: &body.copy,
                },
            )
            .await?;
            stored(
                StatusCode::CREATED,
                &Created {
                    id: received.conversation_id,
                    reference: received.reference,
                    status,
                },
            )
        })
    })
    .await?;
    state
        .metrics
        .conversations_created
        .fetch_add(1, Ordering::Relaxed);
    Ok(response)
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// Comma-separated statuses, e.g. `open,pending`.
    pub status: Option<String>,
    /// An agent id, `me`, or `none` for unassigned.
    pub owner: Option<String>,
    /// A team id, or `none`.
    pub team: Option<String>,
    pub tag: Option<String>,
    pub inbox: Option<String>,
    pub contact: Option<String>,
    /// An organization id: the conversations of its people.
    pub organization: Option<String>,
    /// RFC 3339; only conversations changed since then.
    pub updated_since: Option<String>,
    /// The order: `updated` (latest activity first, the default), `newest`, `oldest`
    /// (who has waited longest) or `priority` (most urgent first, then latest activity).
    /// A cursor pages on in the order it was given out in.
    pub sort: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Page {
    pub data: Vec<Conversation>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Builds a list filter from query parameters, naming the parameter at fault.
pub fn filter_from(q: &ListQuery, me: AgentId) -> Result<(Filter, Option<Cursor>, i64), Problem> {
    let mut f = Filter::default();
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        for word in s.split(',') {
            f.statuses.push(word.trim().parse().map_err(
                |e: seva_core::conversation::UnknownWord| {
                    Problem::bad_request("status", e.to_string())
                },
            )?);
        }
    }
    f.owner = match q.owner.as_deref() {
        None | Some("") => None,
        Some("me") => Some(Some(me)),
        Some("none") => Some(None),
        Some(id) => Some(Some(id.parse().map_err(|_| {
            Problem::bad_request("owner", "an agent id, 'me' or 'none'")
        })?)),
    };
    f.team = match q.team.as_deref() {
        None | Some("") => None,
        Some("none") => Some(None),
        Some(id) => {
            Some(Some(id.parse().map_err(|_| {
                Problem::bad_request("team", "a team id or 'none'")
            })?))
        }
    };
    f.tag = q.tag.clone().filter(|t| !t.is_empty());
    if let Some(i) = q.inbox.as_deref().filter(|s| !s.is_empty()) {
        f.inbox = Some(
            i.parse()
                .map_err(|_| Problem::bad_request("inbox", "an inbox id"))?,
        );
    }
    if let Some(c) = q.contact.as_deref().filter(|s| !s.is_empty()) {
        f.contact = Some(
            c.parse::<ContactId>()
                .map_err(|_| Problem::bad_request("contact", "a contact id"))?,
        );
    }
    if let Some(o) = q.organization.as_deref().filter(|s| !s.is_empty()) {
        f.organization = Some(
            o.parse()
                .map_err(|_| Problem::bad_request("organization", "an organization id"))?,
        );
    }
    if let Some(t) = q.updated_since.as_deref() {
        f.updated_since = Some(Timestamp::parse_rfc3339(t).ok_or_else(|| {
            Problem::bad_request(
                "updated_since",
                "an RFC 3339 date-time, e.g. 2026-11-24T09:00:00Z",
            )
        })?);
    }
    if let Some(sort) = q.sort.as_deref().filter(|s| !s.is_empty()) {
        f.sort = sort
            .parse()
            .map_err(|e: seva_core::conversation::UnknownWord| {
                Problem::bad_request("sort", e.to_string())
            })?;
    }
    let cursor = match q.cursor.as_deref().filter(|s| !s.is_empty()) {
        Some(c) => Some(
            Cursor::decode(c)
                .ok_or_else(|| Problem::bad_request("cursor", "not a cursor this API gave out"))?,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Problem::bad_request("limit", "between 1 and 200"));
    }
    Ok((f, cursor, limit))
}

/// List conversations, most recently updated first unless `sort` says otherwise.
#[utoipa::path(get, path = "/api/v1/conversations", operation_id = "list_conversations", tag = "conversations",
    params(("status" = Option<String>, Query, description = "Comma-separated statuses, such as `open,pending`.",
            pattern = "^((open|pending|on_hold|solved|closed)(,(open|pending|on_hold|solved|closed))*)?$"),
        ("owner" = Option<String>, Query, description = "An agent's id, `me`, or `none` for unassigned.", pattern = "^(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"),
        ("team" = Option<String>, Query, description = "A team's id, or `none`.", pattern = "^(none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"),
        ("tag" = Option<String>, Query), ("inbox" = Option<String>, Query, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"),
        ("contact" = Option<String>, Query, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"),
        ("organization" = Option<String>, Query, description = "An organization's id: the conversations of its people.", pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"),
        ("updated_since" = Option<Timestamp>, Query, description = "Only conversations changed since then."),
        ("sort" = Option<String>, Query, description = "updated (default), newest, oldest or priority", pattern = "^(updated|newest|oldest|priority)?$"),
        ("cursor" = Option<String>, Query), ("limit" = Option<i64>, Query, minimum = 1, maximum = 200)),
    responses((status = 200, body = Page), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<Shared>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, Problem> {
    let (filter, cursor, limit) = filter_from(&q, caller.agent.id)?;
    let viewer = caller.viewer();
    let (data, next) = state
        .store
        .read(op!(c => conversations::list(c, &viewer, &filter, cursor, limit).await))
        .await?;
    Ok(json(
        StatusCode::OK,
        &Page {
            data,
            next_cursor: next.map(Cursor::encode),
        },
    ))
}

/// One conversation.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", operation_id = "get_conversation", tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = Problem)))]
pub async fn get_one(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let c = state
        .store
        .read(op!(c => conversations::get_for(c, &viewer, id).await))
        .await?;
    Ok(json(StatusCode::OK, &c))
}

/// The conversation's timeline: messages, replies and internal notes, oldest first.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations",
    responses((status = 200, body = Vec<Message>), (status = 404, body = Problem)))]
pub async fn messages(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let list = state
        .store
        .read(op!(c => {
            conversations::get_for(c, &viewer, id).await?;
            messages::for_conversation(c, id, true).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    /// Sent to the customer through their channel.
    Reply,
    /// Seen only inside the desk.
    Note,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// Up to 256 KiB (as many characters when they are ASCII).
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
        max_length = 262144
    )]
    pub text: String,
    pub kind: WriteKind,
    /// Set this status along with the reply ("reply and mark pending").
    pub status: Option<Status>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageCreated {
    pub id: MessageId,
    pub conversation_id: ConversationId,
}

/// Reply to the customer, or add an internal note.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", request_body = NewMessage, tag = "conversations",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first answer", max_length = 200, pattern = "^[!-~]([\\t -~]*[!-~])?$")),
    responses((status = 201, body = MessageCreated), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn post_message(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body, raw): ApiJson<NewMessage>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    check_text("text", &body.text)?;
    let viewer = caller.viewer();
    let kind = if body.kind == WriteKind::Reply {
        MessageKind::Outbound
    } else {
        MessageKind::Note
    };
    let response = create_once(&state, &caller, &headers, &raw, op!(c => {
        let message = conversations::reply(c, &viewer, id, Reply { text: &body.text, kind, files: &[], then: body.status }).await?;
        stored(StatusCode::CREATED, &MessageCreated { id: message, conversation_id: id })
    }))
    .await?;
    state
        .metrics
        .messages_created
        .fetch_add(1, Ordering::Relaxed);
    Ok(response)
}

/// Take the words out of one message, for good: a card number or a password sent by
/// mistake (supervisors and admins). Its text, quoted history, original email and files
/// go, with the notifications that quoted it and its place in the search index; the
/// timeline keeps it, marked redacted (`redacted_at`). Answers with the message as it now
/// is; a message redacted already is answered as it is.
#[utoipa::path(post, path = "/api/v1/messages/{id}/redact", tag = "conversations",
    responses((status = 200, body = Message), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn redact(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: MessageId = parse_id("id", &id)?;
    if !caller.agent.role.sees_every_team() {
        return Err(Problem::forbidden(
            "only supervisors and admins redact messages",
        ));
    }
    let (viewer, actor) = (caller.viewer(), caller.actor());
    let message = state
        .store
        .write(op!(c => {
            seva_store::privacy::redact(c, &viewer, id, &actor).await?;
            messages::get(c, id).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &message))
}

/// Runs one change to a conversation on behalf of the caller and answers with the
/// conversation as it now is.
async fn change<F>(state: &Shared, caller: &Caller, id: &str, f: F) -> Result<Response, Problem>
where
    F: for<'c> FnOnce(
            &'c mut dyn seva_store::Conn,
            Viewer,
            ConversationId,
        ) -> seva_store::BoxFuture<'c, seva_store::Result<Conversation>>
        + Send
        + 'static,
{
    let id: ConversationId = parse_id("id", id)?;
    let viewer = caller.viewer();
    let c = state
        .store
        .write(move |conn: &mut dyn seva_store::Conn| f(conn, viewer, id))
        .await?;
    Ok(json(StatusCode::OK, &c))
}

/// `null` clears; a missing field leaves it as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    #[serde(default, deserialize_with = "present")]
    pub owner_id: Option<Option<AgentId>>,
    #[serde(default, deserialize_with = "present")]
    pub team_id: Option<Option<TeamId>>,
}

/// Distinguishes a field given as `null` (`Some(None)`) from a missing one (`None`).
pub(crate) fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Assign to an agent and/or a team.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/assign", request_body = AssignBody, tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn assign(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<AssignBody>,
) -> Result<Response, Problem> {
    change(&state, &caller, &id, move |c, v, id| {
        Box::pin(async move {
            conversations::assign(
                c,
                &v,
                id,
                Assignment {
                    owner: body.owner_id,
                    team: body.team_id,
                },
            )
            .await
        })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub status: Status,
}

/// Change the status (open, pending, on_hold, solved, closed).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/status", request_body = StatusBody, tag = "conversations",
    responses((status = 200, body = Conversation), (status = 422, body = Problem)))]
pub async fn status(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<StatusBody>,
) -> Result<Response, Problem> {
    change(&state, &caller, &id, move |c, v, id| {
        Box::pin(async move { conversations::set_status(c, &v, id, body.status).await })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeBody {
    /// When it wakes (RFC 3339); `null` or missing: when the customer writes.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<seva_core::time::Timestamp>,
}

/// Snooze: the conversation waits as pending until `until` or until the customer writes,
/// whichever comes first; then it opens again and its owner is told.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/snooze", request_body = SnoozeBody, tag = "conversations",
    responses((status = 200, body = Conversation), (status = 422, body = Problem)))]
pub async fn snooze(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<SnoozeBody>,
) -> Result<Response, Problem> {
    change(&state, &caller, &id, move |c, v, id| {
        Box::pin(async move { conversations::snooze(c, &v, id, body.until).await })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    pub priority: Priority,
}

/// Change the priority.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/priority", request_body = PriorityBody, tag = "conversations",
    responses((status = 200, body = Conversation), (status = 422, body = Problem)))]
pub async fn priority(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<PriorityBody>,
) -> Result<Response, Problem> {
    change(&state, &caller, &id, move |c, v, id| {
        Box::pin(async move { conversations::set_priority(c, &v, id, body.priority).await })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    /// At most 100 tags between `add` and `remove`.
    #[serde(default)]
    #[schema(value_type = Vec<Tag>, max_items = 50)]
    pub add: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Vec<Tag>, max_items = 50)]
    pub remove: Vec<String>,
}

/// Add and remove tags.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/tags", operation_id = "tag_conversation", request_body = TagsBody, tag = "conversations",
    responses((status = 200, body = Conversation), (status = 422, body = Problem)))]
pub async fn tags(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<TagsBody>,
) -> Result<Response, Problem> {
    if body.add.len() + body.remove.len() > 100 {
        return Err(Problem::bad_request("add", "at most 100 tags at once"));
    }
    change(&state, &caller, &id, move |c, v, id| {
        Box::pin(async move { conversations::set_tags(c, &v, id, &body.add, &body.remove).await })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowBody {
    pub agent_id: AgentId,
    pub follow: bool,
}

/// Start or stop following (being told of changes to) a conversation.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/followers", request_body = FollowBody, tag = "conversations",
    responses((status = 200, body = Conversation), (status = 422, body = Problem)))]
pub async fn followers(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<FollowBody>,
) -> Result<Response, Problem> {
    change(&state, &caller, &id, move |c, v, id| {
        Box::pin(async move {
            conversations::set_following(c, &v, id, body.agent_id, body.follow).await
        })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectBody {
    /// At most 4 KiB (as many characters when they are ASCII); not only spaces.
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
        max_length = 4096
    )]
    pub subject: String,
}

/// Rename a conversation (at most 4 KiB as sent; stored cut to 250 characters).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/subject", request_body = SubjectBody, tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn subject(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<SubjectBody>,
) -> Result<Response, Problem> {
    change(&state, &caller, &id, move |c, v, id| {
        Box::pin(async move { conversations::set_subject(c, &v, id, &body.subject).await })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpamBody {
    pub spam: bool,
}

/// Mark a conversation as spam (`true`: its contact is blocked, so what they send from
/// now on is filed as spam, and it is tagged `spam` and solved), or undo that (`false`:
/// the contact may write again, the tag goes and a solved conversation opens again).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/spam", request_body = SpamBody, tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn spam(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<SpamBody>,
) -> Result<Response, Problem> {
    change(&state, &caller, &id, move |c, v, id| {
        Box::pin(async move { conversations::set_spam(c, &v, id, body.spam).await })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyBody {
    /// Email addresses to put in copy.
    #[serde(default)]
    #[schema(value_type = Vec<EmailAddress>)]
    pub add: Vec<String>,
    /// Email addresses to take out of copy.
    #[serde(default)]
    #[schema(value_type = Vec<EmailAddress>)]
    pub remove: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InCopy {
    pub email: String,
    pub name: Option<String>,
}

/// Put people in copy of an email conversation, or take them out: they receive every
/// reply from then on. Answers with who is in copy now.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/copy", request_body = CopyBody, tag = "conversations",
    responses((status = 200, body = Vec<InCopy>), (status = 422, body = Problem)))]
pub async fn copy(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<CopyBody>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let people = state
        .store
        .write(op!(c => seva_store::email::set_copy(c, &viewer, id, &body.add, &body.remove).await))
        .await?;
    let people: Vec<InCopy> = people
        .into_iter()
        .map(|(email, name)| InCopy { email, name })
        .collect();
    Ok(json(StatusCode::OK, &people))
}

/// Set custom fields; a field set to `null` is removed.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/fields", request_body = Object, tag = "conversations",
    responses((status = 200, body = Conversation), (status = 422, body = Problem)))]
pub async fn fields(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, Problem> {
    change(&state, &caller, &id, move |c, v, id| {
        Box::pin(async move { conversations::set_custom_fields(c, &v, id, body).await })
    })
    .await
}

/// Everything that happened to the conversation, in order.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/events", tag = "conversations",
    responses((status = 200, body = Vec<Event>), (status = 404, body = Problem)))]
pub async fn events(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let list = state
        .store
        .read(op!(c => {
            conversations::get_for(c, &viewer, id).await?;
            seva_store::events::for_conversation(c, id).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &list))
}
