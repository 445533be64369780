//! Everyday agent tools in the API: macros, bulk changes, merging conversations, and
//! saved views.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use seva_core::conversation::{Priority, Status};
use seva_core::{AgentId, ConversationId, MacroId, TeamId, ViewId};
use seva_store::conversations::{self, Conversation, Cursor};
use seva_store::macros::{self, Macro};
use seva_store::op;
use seva_store::views::{self, View, ViewFilters};
use utoipa::{IntoParams, ToSchema};

use super::conversations::Page;
use super::{ApiJson, ApiQuery, json, parse_id, present};
use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;
use seva_core::shapes::{LanguageTag, Tag};

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/macros", get(list_macros).post(create_macro))
        .route(
            "/api/v1/macros/{id}",
            axum::routing::put(update_macro).delete(delete_macro),
        )
        .route(
            "/api/v1/conversations/{id}/macros/{macro_id}",
            post(apply_macro),
        )
        .route("/api/v1/conversations/bulk", post(bulk))
        .route("/api/v1/conversations/{id}/merge", post(merge))
        .route("/api/v1/conversations/{id}/split", post(split))
        .route("/api/v1/custom_fields", get(list_fields).post(create_field))
        .route(
            "/api/v1/custom_fields/{id}",
            axum::routing::delete(delete_field),
        )
        .route("/api/v1/views", get(list_views).post(create_view))
        .route("/api/v1/views/{id}", axum::routing::delete(delete_view))
        .route("/api/v1/views/{id}/conversations", get(view_conversations))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMacro {
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\x00-\\x1f\\x7f-\\x9f]",
        max_length = 200
    )]
    pub name: String,
    /// The language it is written in; none for any.
    #[schema(value_type = Option<LanguageTag>)]
    pub language: Option<String>,
    /// The reply; may use {{customer.name}}, {{customer.first_name}}, {{agent.name}},
    /// {{conversation.reference}}, {{conversation.subject}}.
    #[serde(default)]
    pub text: String,
    /// Actions, as in rules: `[{"type": "set_status", "value": "pending"}]`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub actions: serde_json::Value,
}

/// Create a macro (supervisors and admins).
#[utoipa::path(post, path = "/api/v1/macros", tag = "macros", request_body = NewMacro,
    responses((status = 201, body = Macro), (status = 422, body = Problem)))]
pub async fn create_macro(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<NewMacro>,
) -> Result<Response, Problem> {
    if !caller.agent.role.sees_every_team() {
        return Err(Problem::forbidden(
            "only supervisors and admins write macros",
        ));
    }
    let actor = caller.viewer().actor();
    let m = state
        .store
        .write(op!(c => macros::create(c, &body.name, body.language.as_deref(), &body.text, &body.actions, &actor).await))
        .await?;
    Ok(json(StatusCode::CREATED, &m))
}

/// Rewrite a macro (supervisors and admins): its whole new form, as when creating it.
#[utoipa::path(put, path = "/api/v1/macros/{id}", tag = "macros", request_body = NewMacro,
    responses((status = 200, body = Macro), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_macro(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<NewMacro>,
) -> Result<Response, Problem> {
    if !caller.agent.role.sees_every_team() {
        return Err(Problem::forbidden(
            "only supervisors and admins write macros",
        ));
    }
    let id: MacroId = parse_id("id", &id)?;
    let m = state
        .store
        .write(op!(c => macros::update(c, id, &body.name, body.language.as_deref(), &body.text, &body.actions).await))
        .await?;
    Ok(json(StatusCode::OK, &m))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MacroQuery {
    /// Put the macros in this language first.
    pub language: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/macros", tag = "macros", params(MacroQuery), responses((status = 200, body = [Macro])))]
pub async fn list_macros(
    State(state): State<Shared>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<MacroQuery>,
) -> Result<Response, Problem> {
    let list = state
        .store
        .read(op!(c => macros::list(c, q.language.as_deref()).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[utoipa::path(delete, path = "/api/v1/macros/{id}", tag = "macros",
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_macro(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    if !caller.agent.role.sees_every_team() {
        return Err(Problem::forbidden(
            "only supervisors and admins remove macros",
        ));
    }
    let id: MacroId = parse_id("id", &id)?;
    state
        .store
        .write(op!(c => macros::delete(c, id).await))
        .await?;
    Ok(json(StatusCode::NO_CONTENT, &()))
}

/// Apply a macro to a conversation: its reply is sent and its actions carried out.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/macros/{macro_id}", tag = "macros",
    responses((status = 200, body = Conversation), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The macro writes to a conversation that is closed")))]
pub async fn apply_macro(
    State(state): State<Shared>,
    caller: Caller,
    Path((id, macro_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    let macro_id: MacroId = parse_id("macro_id", &macro_id)?;
    let viewer = caller.viewer();
    let c = state
        .store
        .write(op!(c => macros::apply(c, &viewer, id, macro_id).await))
        .await?;
    Ok(json(StatusCode::OK, &c))
}

/// Changes to many conversations at once; what is left out stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// 1 to 500 conversations.
    #[schema(min_items = 1, max_items = 500)]
    pub ids: Vec<ConversationId>,
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "present")]
    pub owner_id: Option<Option<AgentId>>,
    #[serde(default, deserialize_with = "present")]
    pub team_id: Option<Option<TeamId>>,
    #[serde(default)]
    #[schema(value_type = Vec<Tag>)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Vec<Tag>)]
    pub remove_tags: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    pub updated: usize,
}

/// Change many conversations at once: all or none (an error names the conversation, as
/// `ids[3]`, and nothing is changed).
#[utoipa::path(post, path = "/api/v1/conversations/bulk", tag = "conversations", request_body = BulkBody,
    responses((status = 200, body = BulkResult), (status = 422, body = Problem)))]
pub async fn bulk(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<BulkBody>,
) -> Result<Response, Problem> {
    let viewer = caller.viewer();
    let change = conversations::Bulk {
        ids: body.ids,
        status: body.status,
        priority: body.priority,
        owner: body.owner_id,
        team: body.team_id,
        add_tags: body.add_tags,
        remove_tags: body.remove_tags,
    };
    let updated = state
        .store
        .write(op!(c => conversations::bulk(c, &viewer, &change).await))
        .await?;
    Ok(json(StatusCode::OK, &BulkResult { updated }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConversationMergeBody)]
pub struct MergeBody {
    /// The conversation that remains.
    pub into: ConversationId,
}

/// Merge this conversation into another: its messages move there, and it is closed with
/// a note pointing to the other.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/merge", operation_id = "merge_conversations", tag = "conversations", request_body = MergeBody,
    responses((status = 200, body = Conversation), (status = 422, body = Problem)))]
pub async fn merge(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<MergeBody>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let c = state
        .store
        .write(op!(c => conversations::merge(c, &viewer, id, body.into).await))
        .await?;
    Ok(json(StatusCode::OK, &c))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitBody {
    /// The customer's message that starts the new conversation.
    pub message_id: seva_core::MessageId,
}

/// Split a customer's message off into a new conversation (a second issue in the same
/// thread). Answers the new conversation.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/split", tag = "conversations", request_body = SplitBody,
    responses((status = 201, body = Conversation), (status = 422, body = Problem)))]
pub async fn split(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<SplitBody>,
) -> Result<Response, Problem> {
    let id: ConversationId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let c = state
        .store
        .write(op!(c => conversations::split(c, &viewer, id, body.message_id).await))
        .await?;
    Ok(json(StatusCode::CREATED, &c))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewView {
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\x00-\\x1f\\x7f-\\x9f]",
        max_length = 100
    )]
    pub name: String,
    pub filters: ViewFilters,
    /// Shown to every agent (supervisors and admins only).
    #[serde(default)]
    pub shared: bool,
}

/// Save a view: list filters under a name.
#[utoipa::path(post, path = "/api/v1/views", tag = "views", request_body = NewView,
    responses((status = 201, body = View), (status = 422, body = Problem)))]
pub async fn create_view(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<NewView>,
) -> Result<Response, Problem> {
    if body.shared && !caller.agent.role.sees_every_team() {
        return Err(Problem::forbidden(
            "only supervisors and admins share views",
        ));
    }
    let me = caller.agent.id;
    let v = state
        .store
        .write(op!(c => views::create(c, me, &body.name, &body.filters, body.shared).await))
        .await?;
    Ok(json(StatusCode::CREATED, &v))
}

/// The caller's views and the shared ones.
#[utoipa::path(get, path = "/api/v1/views", tag = "views", responses((status = 200, body = [View])))]
pub async fn list_views(State(state): State<Shared>, caller: Caller) -> Result<Response, Problem> {
    let me = caller.agent.id;
    let list = state
        .store
        .read(op!(c => views::list_for(c, me).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[utoipa::path(delete, path = "/api/v1/views/{id}", tag = "views",
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_view(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ViewId = parse_id("id", &id)?;
    let (me, admin) = (caller.agent.id, caller.agent.role.manages_users());
    state
        .store
        .write(op!(c => views::delete(c, me, admin, id).await))
        .await?;
    Ok(json(StatusCode::NO_CONTENT, &()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// The conversations a saved view selects, as the caller may see them.
#[utoipa::path(get, path = "/api/v1/views/{id}/conversations", tag = "views", params(PageQuery),
    responses((status = 200, body = Page), (status = 404, body = Problem)))]
pub async fn view_conversations(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, Problem> {
    let id: ViewId = parse_id("id", &id)?;
    let viewer = caller.viewer();
    let me = caller.agent.id;
    let cursor = q.cursor.as_deref().and_then(Cursor::decode);
    let limit = q.limit.unwrap_or(50);
    let (data, next) = state
        .store
        .read(op!(c => {
            let v = views::get_for(c, me, id).await?;
            let filter = v.filters.to_filter(me)?;
            conversations::list(c, &viewer, &filter, cursor, limit).await
        }))
        .await?;
    Ok(json(
        StatusCode::OK,
        &Page {
            data,
            next_cursor: next.map(Cursor::encode),
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewField {
    /// The team whose conversations have it; none for every team.
    pub team_id: Option<TeamId>,
    /// a-z, 0-9 and _: the key in a conversation's `custom_fields`.
    #[schema(pattern = "^[a-z0-9_]{1,64}$")]
    pub key: String,
    #[schema(
        pattern = "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\x00-\\x1f\\x7f-\\x9f]",
        max_length = 100
    )]
    pub label: String,
    /// `text`, `number`, `checkbox`, `date` or `select`.
    #[schema(pattern = "^(text|number|checkbox|date|select)$")]
    pub kind: String,
    /// For `select`: the allowed values, 1 to 200 (other kinds have none).
    #[serde(default)]
    #[schema(max_items = 200)]
    pub options: Vec<String>,
}

/// Define a custom field (admins). The definitions that apply to a conversation are its
/// team's and those for every team; when any apply, only those fields are accepted, each
/// checked for its kind.
#[utoipa::path(post, path = "/api/v1/custom_fields", tag = "conversations", request_body = NewField,
    responses((status = 201, body = seva_store::fields::FieldDef), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_field(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<NewField>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let def = state
        .store
        .write(op!(c => seva_store::fields::create(c, body.team_id, &body.key, &body.label, &body.kind, &body.options).await))
        .await?;
    Ok(json(StatusCode::CREATED, &def))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FieldQuery {
    /// Only the fields that apply to this team's conversations.
    pub team_id: Option<TeamId>,
}

#[utoipa::path(get, path = "/api/v1/custom_fields", tag = "conversations", params(FieldQuery),
    responses((status = 200, body = [seva_store::fields::FieldDef])))]
pub async fn list_fields(
    State(state): State<Shared>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<FieldQuery>,
) -> Result<Response, Problem> {
    let team = q.team_id.map(Some);
    let list = state
        .store
        .read(op!(c => seva_store::fields::list(c, team).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[utoipa::path(delete, path = "/api/v1/custom_fields/{id}", tag = "conversations",
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_field(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: seva_core::FieldId = parse_id("id", &id)?;
    state
        .store
        .write(op!(c => seva_store::fields::delete(c, id).await))
        .await?;
    Ok(json(StatusCode::NO_CONTENT, &()))
}
