//! The REST API under `/api/v1`: JSON in and out, errors as problem documents, described
//! by an OpenAPI 3.1 document generated from these handlers (`/api/openapi.json`).

pub mod contacts;
pub mod conversations;
pub mod events;
pub mod inboxes;
pub mod knowledge;
pub mod routing;
pub mod rules;
pub mod sla;
pub mod teams;
pub mod tokens;
pub mod tools;
pub mod webhooks;
pub mod work;

use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use seva_store::idempotency::{self, Stored};
use seva_store::{BoxFuture, Conn};
use utoipa::OpenApi;

use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;

pub(crate) use conversations::present;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .merge(conversations::router())
        .merge(contacts::router())
        .merge(teams::router())
        .merge(tokens::router())
        .merge(inboxes::router())
        .merge(sla::router())
        .merge(routing::router())
        .merge(rules::router())
        .merge(work::router())
        .merge(webhooks::router())
        .merge(tools::router())
        .merge(events::router())
        .merge(knowledge::router())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Seva API", description = "Conversations, contacts, agents and teams of a Seva help desk."),
    paths(
        conversations::create, conversations::list, conversations::get_one, conversations::messages,
        conversations::post_message, conversations::assign, conversations::status, conversations::priority, conversations::snooze,
        conversations::tags, conversations::followers, conversations::spam, conversations::subject, conversations::copy, conversations::fields, conversations::events, conversations::redact,
        contacts::list, contacts::create, contacts::get_one, contacts::update, contacts::merge, contacts::add_identity, contacts::remove_identity, contacts::export, contacts::erase, contacts::organizations, contacts::create_organization,
        contacts::organization, contacts::update_organization, contacts::delete_organization,
        teams::list, teams::create, teams::add_member, teams::remove_member,
        teams::agents, teams::create_agent, teams::disable_agent, teams::reset_password, teams::turn_off_two_step, teams::me, teams::tags,
        tokens::list, tokens::create, tokens::revoke,
        inboxes::list, inboxes::create, inboxes::get_one, inboxes::update,
        routing::team, routing::set_team, routing::agent, routing::set_agent,
        sla::calendars, sla::create_calendar, sla::policies, sla::create_policy, sla::conversation_clocks,
        rules::list, rules::get_one, rules::create, rules::update, rules::delete, rules::dry_run,
        work::transfer, work::transfer_done, work::transfers_of, work::tasks, work::task_done,
        work::my_notifications, work::read_notification, work::notification_settings, work::set_notification_settings, work::team_queue, work::queues,
        work::presence, work::announce,
        webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries,
        tools::create_macro, tools::list_macros, tools::update_macro, tools::delete_macro, tools::apply_macro, tools::bulk, tools::merge, tools::split,
        tools::create_field, tools::list_fields, tools::delete_field,
        tools::create_view, tools::list_views, tools::delete_view, tools::view_conversations,
        events::feed, events::audit, events::jobs, events::retry_job, events::attachment, events::original,
        knowledge::list, knowledge::create, knowledge::get_one, knowledge::update, knowledge::delete,
        knowledge::translations, knowledge::revisions, knowledge::diff, knowledge::restore,
        knowledge::flag, knowledge::flags, knowledge::helpfulness, knowledge::coverage,
        knowledge::categories, knowledge::create_category, knowledge::search, knowledge::suggestions, knowledge::bot_stats,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    security(("token" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi() -> Response {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(json) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

/// A JSON body whose errors name the field at fault (`contact.email: invalid type …`).
pub struct ApiJson<T>(pub T, pub Bytes);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is too large",
                )
            } else {
                Problem::new(StatusCode::BAD_REQUEST, e.body_text())
            }
        })?;
        // The usual body is read once, without tracking where the reader is; only one
        // that fails is read again, to name the field at fault.
        if let Ok(value) = serde_json::from_slice(&bytes) {
            return Ok(Self(value, bytes));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            // Read whole the second time: what failed the first was what follows it.
            Ok(value) => match de.end() {
                Ok(()) => Ok(Self(value, bytes)),
                Err(e) => Err(Problem::bad_request(
                    "body",
                    format!("the body is not valid JSON: {e}"),
                )),
            },
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let top = path == "." || path == "?";
                // A missing field is reported at the object that lacks it: name the field.
                let missing = inner
                    .to_string()
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next())
                    .map(str::to_string);
                let field = match (missing, top) {
                    (Some(name), true) => name,
                    (Some(name), false) => format!("{path}.{name}"),
                    (None, true) => "body".to_string(),
                    (None, false) => path,
                };
                let detail = if inner.is_syntax() || inner.is_eof() {
                    format!("the body is not valid JSON: {inner}")
                } else {
                    inner.to_string()
                };
                Err(Problem::bad_request(field, detail))
            }
        }
    }
}

pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

/// Runs a create operation so that a retry with the same `Idempotency-Key` header returns
/// the first answer instead of creating again. The key and the answer are stored in the
/// same transaction as what was created.
pub async fn create_once<F>(
    state: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
    make: F,
) -> Result<Response, Problem>
where
    F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, seva_store::Result<Stored>>
        + Send
        + 'static,
{
    let key = idempotency_key(caller, headers, body)?;
    let stored = state
        .store
        .write(
            move |conn: &mut dyn Conn| -> BoxFuture<'_, seva_store::Result<Stored>> {
                Box::pin(async move { remembered(conn, key.as_ref(), make).await })
            },
        )
        .await?;
    Ok(answer(stored))
}

/// [`create_once`] for a create that may be run again (see
/// [`seva_store::Store::write_repeatable`]), as the hot creates are: SQLite's writer then
/// needs no savepoint for it.
pub async fn create_once_repeatable<F>(
    state: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
    make: F,
) -> Result<Response, Problem>
where
    F: for<'c> Fn(&'c mut dyn Conn) -> BoxFuture<'c, seva_store::Result<Stored>>
        + Send
        + Sync
        + 'static,
{
    let key = std::sync::Arc::new(idempotency_key(caller, headers, body)?);
    let make = std::sync::Arc::new(make);
    let stored = state
        .store
        .write_repeatable(
            move |conn: &mut dyn Conn| -> BoxFuture<'_, seva_store::Result<Stored>> {
                let (key, make) = (key.clone(), make.clone());
                Box::pin(async move { remembered(conn, key.as_ref().as_ref(), &*make).await })
            },
        )
        .await?;
    Ok(answer(stored))
}

/// An `Idempotency-Key` header, as (key, the caller's scope, the body's hash).
type IdempotencyKey = (String, String, String);

fn idempotency_key(
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<IdempotencyKey>, Problem> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let k = v
        .to_str()
        .map_err(|_| Problem::bad_request("Idempotency-Key", "the key must be visible ASCII"))?;
    if k.is_empty() || k.len() > 200 {
        return Err(Problem::bad_request(
            "Idempotency-Key",
            "the key has 1 to 200 characters",
        ));
    }
    // The key belongs to the caller; the body's hash tells a retry from a reuse.
    Ok(Some((
        k.to_string(),
        caller.actor(),
        crate::auth::sha256_hex(body),
    )))
}

/// The answer stored under `key`, or `make`'s, stored under it.
async fn remembered<F>(
    conn: &mut dyn Conn,
    key: Option<&IdempotencyKey>,
    make: F,
) -> seva_store::Result<Stored>
where
    F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, seva_store::Result<Stored>>,
{
    if let Some((k, scope, hash)) = key
        && let Some(stored) = idempotency::lookup(conn, scope, k, hash).await?
    {
        return Ok(stored);
    }
    let stored = make(conn).await?;
    if let Some((k, scope, hash)) = key {
        idempotency::remember(conn, scope, k, hash, &stored).await?;
    }
    Ok(stored)
}

fn answer(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let kind = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    (
        status,
        [(axum::http::header::CONTENT_TYPE, kind)],
        stored.body,
    )
        .into_response()
}

/// A stored answer for [`create_once`].
pub fn stored(status: StatusCode, value: &impl serde::Serialize) -> seva_store::Result<Stored> {
    let body =
        serde_json::to_string(value).map_err(|e| seva_store::Error::Backend(e.to_string()))?;
    Ok(Stored {
        status: status.as_u16(),
        body,
    })
}

/// Parses an id from the path, naming the parameter when it is not one.
pub fn parse_id<T: std::str::FromStr>(field: &'static str, raw: &str) -> Result<T, Problem> {
    raw.parse().map_err(|_| {
        Problem::field(
            StatusCode::NOT_FOUND,
            field,
            format!("{raw:?} is not an id"),
        )
    })
}
