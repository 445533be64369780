//! `/api/v1/inboxes`: the ways in. An email inbox carries its address, relay, IMAP account
//! and acknowledgement settings; its passwords and keys are write-only, sealed with the
//! server key, and only their names are ever shown.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use seva_core::conversation::Channel;
use seva_core::{InboxId, TeamId};
use seva_store::inboxes::{self, Inbox, InboxFields};
use seva_store::op;
use utoipa::ToSchema;

use super::{ApiJson, create_once, json, parse_id, stored};
use crate::Shared;
use crate::auth::Caller;
use crate::mail::{EmailSettings, InboxSecrets};
use crate::problem::Problem;
use seva_core::shapes::EmailAddress;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/inboxes", get(list).post(create))
        .route("/api/v1/inboxes/{id}", get(get_one).patch(update))
}

/// An inbox as the API shows it: never its secrets, only which are set.
#[derive(Serialize, ToSchema)]
pub struct InboxView {
    #[serde(flatten)]
    pub inbox: Inbox,
    /// Names of the secrets that are set, e.g. `relay_password`.
    pub secrets_set: Vec<&'static str>,
}

fn view(state: &Shared, inbox: Inbox) -> InboxView {
    let secrets_set = InboxSecrets::of(state, &inbox).names();
    InboxView { inbox, secrets_set }
}

/// All inboxes.
#[utoipa::path(get, path = "/api/v1/inboxes", operation_id = "list_inboxes", tag = "inboxes", responses((status = 200, body = Vec<InboxView>)))]
pub async fn list(State(state): State<Shared>, _caller: Caller) -> Result<Response, Problem> {
    let list = state.store.read(op!(c => inboxes::list(c).await)).await?;
    let views: Vec<InboxView> = list.into_iter().map(|i| view(&state, i)).collect();
    Ok(json(StatusCode::OK, &views))
}

#[utoipa::path(get, path = "/api/v1/inboxes/{id}", operation_id = "get_inbox", tag = "inboxes",
    responses((status = 200, body = InboxView), (status = 404, body = Problem)))]
pub async fn get_one(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: InboxId = parse_id("id", &id)?;
    let inbox = state
        .store
        .read(op!(c => inboxes::get(c, id).await))
        .await?;
    Ok(json(StatusCode::OK, &view(&state, inbox)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInbox {
    /// Letters, digits, '-' and '_'; the web form is `/contact?inbox=<name>`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub name: String,
    pub channel: Channel,
    /// Where conversations arriving here go by default.
    pub team_id: Option<TeamId>,
    /// The address customers write to (email inboxes).
    #[schema(value_type = Option<EmailAddress>)]
    pub address: Option<String>,
    /// Email settings (email inboxes: relay, IMAP, acknowledgements) or widget settings
    /// (chat inboxes: allowed_origins, require_email, greeting, away_message, colour, bot, email_inbox, email_after_seconds;
    /// web-form inboxes: email_inbox, the email inbox that sends their answers).
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
    /// Passwords and keys (write-only).
    pub secrets: Option<InboxSecrets>,
}

/// Changes to an inbox; what is left out stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxChanges {
    /// `null` takes the inbox off its team.
    #[serde(default, deserialize_with = "super::present")]
    pub team_id: Option<Option<TeamId>>,
    /// `null` removes the address.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<EmailAddress>)]
    pub address: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
    /// Only the secrets given change; an empty string clears one.
    pub secrets: Option<InboxSecrets>,
}

fn check_email_only(channel: Channel, address: bool) -> Result<(), Problem> {
    if channel != Channel::Email && address {
        return Err(Problem::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "address",
            "only email inboxes have an address",
        ));
    }
    Ok(())
}

/// Reads settings as the channel's kind, naming the field at fault (`settings.relay.port`).
fn parse_settings<T: serde::de::DeserializeOwned + serde::Serialize>(
    v: &serde_json::Value,
) -> Result<serde_json::Value, Problem> {
    let parsed: T = serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        Problem::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("settings.{}", e.path()),
            e.inner().to_string(),
        )
    })?;
    Ok(serde_json::to_value(parsed).unwrap_or_default())
}

/// Checks an inbox's settings for its channel and gives them as stored.
fn settings_json(
    channel: Channel,
    s: &Option<serde_json::Value>,
) -> Result<Option<serde_json::Value>, Problem> {
    let Some(v) = s else { return Ok(None) };
    match channel {
        Channel::Email => parse_settings::<EmailSettings>(v).map(Some),
        Channel::Chat => {
            let checked = parse_settings::<crate::chat::ChatSettings>(v)?;
            crate::chat::check_settings(&checked)?;
            Ok(Some(checked))
        }
        Channel::WebForm => parse_settings::<crate::mail::web_form::WebFormSettings>(v).map(Some),
        _ => Err(Problem::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "settings",
            "only email, chat and web-form inboxes have settings",
        )),
    }
}

/// Create an inbox (admins).
#[utoipa::path(post, path = "/api/v1/inboxes", operation_id = "create_inbox", request_body = NewInbox, tag = "inboxes",
    responses((status = 201, body = InboxView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body, raw): ApiJson<NewInbox>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    check_email_only(body.channel, body.address.is_some())?;
    let settings = settings_json(body.channel, &body.settings)?;
    let secrets = body
        .secrets
        .clone()
        .map(|s| InboxSecrets::sealed_update(&state, None, s));
    let key = state.key.clone();
    let actor = caller.actor();
    create_once(
        &state,
        &caller,
        &headers,
        &raw,
        op!(c => {
            let inbox = inboxes::create(c, &body.name, body.channel, InboxFields {
                team: Some(body.team_id),
                address: body.address.as_deref().map(Some),
                settings: settings.as_ref(),
                secrets: secrets.as_deref(),
            }, &actor).await?;
            let secrets_set = inbox.secrets.as_deref().and_then(|s| key.open(s).ok())
                .and_then(|s| serde_json::from_str::<InboxSecrets>(&s).ok())
                .unwrap_or_default()
                .names();
            stored(StatusCode::CREATED, &InboxView { inbox, secrets_set })
        }),
    )
    .await
}

/// Change an inbox (admins).
#[utoipa::path(patch, path = "/api/v1/inboxes/{id}", operation_id = "update_inbox", request_body = InboxChanges, tag = "inboxes",
    responses((status = 200, body = InboxView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<InboxChanges>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: InboxId = parse_id("id", &id)?;
    let current = state
        .store
        .read(op!(c => inboxes::get(c, id).await))
        .await?;
    check_email_only(current.channel, matches!(body.address, Some(Some(_))))?;
    let settings = settings_json(current.channel, &body.settings)?;
    let secrets = body
        .secrets
        .clone()
        .map(|changes| InboxSecrets::sealed_update(&state, Some(&current), changes));
    let actor = caller.actor();
    let inbox = state
        .store
        .write(op!(c => inboxes::update(c, id, InboxFields {
            team: body.team_id,
            address: body.address.as_ref().map(|a| a.as_deref()),
            settings: settings.as_ref(),
            secrets: secrets.as_deref(),
        }, &actor).await))
        .await?;
    Ok(json(StatusCode::OK, &view(&state, inbox)))
}
