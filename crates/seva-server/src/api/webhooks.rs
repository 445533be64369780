//! `/api/v1/webhooks`: integrators' endpoints that receive events, signed, retried, with
//! a delivery log (admins).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use seva_core::WebhookId;
use seva_store::op;
use seva_store::webhooks::{self, Delivery, Webhook};
use utoipa::ToSchema;

use super::{ApiJson, json, parse_id};
use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;
use seva_core::shapes::EventKind;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/webhooks", get(list).post(create))
        .route("/api/v1/webhooks/{id}", axum::routing::delete(delete))
        .route("/api/v1/webhooks/{id}/deliveries", get(deliveries))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to POST events (http or https; redirects are not followed).
    /// At most 2,000 bytes.
    #[schema(
        pattern = "^https?://[^/\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$",
        max_length = 2000
    )]
    pub url: String,
    /// Event kinds to receive, such as `conversation.created`; `["*"]` for all.
    #[schema(value_type = Vec<EventKind>, min_items = 1, max_items = 100)]
    pub events: Vec<String>,
}

/// A new webhook with its signing secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Verify `Seva-Signature: t=<unix seconds>,v1=<hex>` as HMAC-SHA256 of `<t>.<body>`.
    pub secret: String,
}

/// Create a webhook (admins). It receives the events committed from now on.
#[utoipa::path(post, path = "/api/v1/webhooks", operation_id = "create_webhook", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<NewWebhook>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let secret = crate::auth::new_secret();
    let sealed = state.key.seal(&secret);
    let actor = caller.viewer().actor();
    let webhook = state
        .store
        .write(op!(c => webhooks::create(c, &body.url, &body.events, &sealed, &actor).await))
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &CreatedWebhook { webhook, secret },
    ))
}

#[utoipa::path(get, path = "/api/v1/webhooks", operation_id = "list_webhooks", tag = "webhooks", responses((status = 200, body = [Webhook])))]
pub async fn list(State(state): State<Shared>, caller: Caller) -> Result<Response, Problem> {
    caller.require_admin()?;
    let list = state.store.read(op!(c => webhooks::list(c).await)).await?;
    Ok(json(StatusCode::OK, &list))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", operation_id = "delete_webhook", tag = "webhooks",
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: WebhookId = parse_id("id", &id)?;
    let actor = caller.viewer().actor();
    state
        .store
        .write(op!(c => webhooks::delete(c, id, &actor).await))
        .await?;
    Ok(json(StatusCode::NO_CONTENT, &()))
}

/// The delivery log: every attempt, newest first, with the receiver's answer.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    responses((status = 200, body = [Delivery]), (status = 404, body = Problem)))]
pub async fn deliveries(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: WebhookId = parse_id("id", &id)?;
    let list = state
        .store
        .read(op!(c => {
            webhooks::get(c, id).await?;
            webhooks::deliveries(c, id, 500).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &list))
}
