//! `/api/v1/contacts`: customers, their identities and history.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use seva_core::contact::{Email, IdentityKind, PhoneE164};
use seva_core::{ContactId, OrganizationId};
use seva_store::contacts::{self, Contact};
use seva_store::op;
use seva_store::organizations::{self, Organization};
use seva_store::privacy::{self, Erased, Export};
use utoipa::ToSchema;

use super::{ApiJson, ApiQuery, json, parse_id};
use crate::Shared;
use crate::auth::Caller;
use crate::problem::Problem;
use seva_core::shapes::{Attributes, Domain, EmailAddress, LanguageTag, Name, PhoneNumber};

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/contacts", get(list).post(create))
        .route(
            "/api/v1/contacts/{id}",
            get(get_one).patch(update).delete(erase),
        )
        .route("/api/v1/contacts/{id}/export", get(export))
        .route("/api/v1/contacts/{id}/merge", post(merge))
        .route("/api/v1/contacts/{id}/identities", post(add_identity))
        .route(
            "/api/v1/contacts/{id}/identities/remove",
            post(remove_identity),
        )
        .route(
            "/api/v1/organizations",
            get(organizations).post(create_organization),
        )
        .route(
            "/api/v1/organizations/{id}",
            get(organization)
                .patch(update_organization)
                .delete(delete_organization),
        )
}

#[derive(Deserialize)]
pub struct ListQuery {
    pub q: Option<String>,
    pub limit: Option<i64>,
}

/// Contacts, newest first; `q` searches names and identities.
#[utoipa::path(get, path = "/api/v1/contacts", operation_id = "list_contacts", tag = "contacts",
    params(("q" = Option<String>, Query), ("limit" = Option<i64>, Query, minimum = 1, maximum = 200)),
    responses((status = 200, body = Vec<Contact>)))]
pub async fn list(
    State(state): State<Shared>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, Problem> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Problem::bad_request("limit", "between 1 and 200"));
    }
    let list = state
        .store
        .read(op!(c => contacts::list(c, q.q.as_deref(), limit).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

/// One contact.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", operation_id = "get_contact", tag = "contacts",
    responses((status = 200, body = Contact), (status = 404, body = Problem)))]
pub async fn get_one(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: ContactId = parse_id("id", &id)?;
    let contact = state
        .store
        .read(op!(c => contacts::get(c, id).await))
        .await?;
    Ok(json(StatusCode::OK, &contact))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactUpdate {
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// The contact's organization; `null` removes it.
    #[serde(default, deserialize_with = "super::present")]
    pub organization_id: Option<Option<OrganizationId>>,
    /// A language tag such as `te`, `el`, `tl`, `en`.
    #[schema(value_type = Option<LanguageTag>)]
    pub language: Option<String>,
    /// Attributes to set (merged into those the contact has; `null` removes one), such as
    /// `{"tier": "vip"}`, which rules can read as `contact.tier`.
    #[schema(value_type = Option<Attributes>)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// `true` marks the contact a spammer: what they send from now on is kept but filed
    /// as spam (solved, tagged `spam`, no acknowledgement); `false` lets them write again.
    pub blocked: Option<bool>,
}

/// Change a contact's name, language, organization or attributes, or block them.
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", operation_id = "update_contact", request_body = ContactUpdate, tag = "contacts",
    responses((status = 200, body = Contact), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<ContactUpdate>,
) -> Result<Response, Problem> {
    let id: ContactId = parse_id("id", &id)?;
    if let Some(l) = &body.language
        && !seva_core::text::is_language_tag(l)
    {
        return Err(Problem::bad_request(
            "language",
            "a language tag such as 'te' or 'el-GR'",
        ));
    }
    let actor = caller.actor();
    let contact = state
        .store
        .write(op!(c => {
            let other = body.name.is_some() || body.language.is_some() || body.organization_id.is_some() || body.attributes.is_some();
            if other || body.blocked.is_none() {
                contacts::update(c, id, body.name.as_deref(), body.language.as_deref(), body.organization_id, body.attributes.as_ref(), &actor).await?;
            }
            if let Some(blocked) = body.blocked {
                contacts::set_blocked(c, id, blocked, &actor).await?;
            }
            contacts::get(c, id).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &contact))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The contact that remains.
    pub into: ContactId,
}

/// Merge this contact into another: identities and conversations move.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/merge", operation_id = "merge_contacts", request_body = MergeBody, tag = "contacts",
    responses((status = 200, body = Contact), (status = 422, body = Problem)))]
pub async fn merge(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<MergeBody>,
) -> Result<Response, Problem> {
    let id: ContactId = parse_id("id", &id)?;
    if !caller.agent.role.sees_every_team() {
        return Err(Problem::forbidden(
            "only supervisors and admins merge contacts",
        ));
    }
    let actor = caller.actor();
    let contact = state
        .store
        .write(op!(c => contacts::merge(c, id, body.into, &actor).await))
        .await?;
    Ok(json(StatusCode::OK, &contact))
}

/// Everything the desk holds about a contact, for their request to see it (admins): their
/// details, the contacts merged into them, every conversation they are the customer of
/// with all its messages (internal notes marked `note`), and what they wrote in other
/// customers' conversations. Files are described, not included.
#[utoipa::path(get, path = "/api/v1/contacts/{id}/export", tag = "contacts",
    responses((status = 200, body = Export), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn export(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: ContactId = parse_id("id", &id)?;
    let export = state
        .store
        .read(op!(c => privacy::export(c, id).await))
        .await?;
    let mut response = json(StatusCode::OK, &export);
    if let Ok(v) = format!("attachment; filename=\"contact-{id}.json\"").parse() {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Erase a contact and everything the desk holds about them, at their request (admins):
/// the contacts merged into them, their conversations with every message, file and note,
/// and their history in the event log; what they wrote in other customers' conversations
/// is emptied. It cannot be undone. The audit log keeps one `contact.erased` entry with
/// the counts, and the event feed gives integrators the ids that went.
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "contacts",
    responses((status = 200, body = Erased), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn erase(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let id: ContactId = parse_id("id", &id)?;
    let actor = caller.actor();
    let erased = privacy::erase_contact(&state.store, id, &actor).await?;
    Ok(json(StatusCode::OK, &erased))
}

/// All organizations, with how many contacts each has.
#[utoipa::path(get, path = "/api/v1/organizations", tag = "contacts", responses((status = 200, body = Vec<Organization>)))]
pub async fn organizations(
    State(state): State<Shared>,
    _caller: Caller,
) -> Result<Response, Problem> {
    let list = state
        .store
        .read(op!(c => organizations::list(c).await))
        .await?;
    Ok(json(StatusCode::OK, &list))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    #[schema(value_type = Name)]
    pub name: String,
    /// The email domain its people write from.
    #[schema(value_type = Option<Domain>)]
    pub domain: Option<String>,
}

/// Create an organization (supervisors and admins).
#[utoipa::path(post, path = "/api/v1/organizations", request_body = NewOrganization, tag = "contacts",
    responses((status = 201, body = Organization), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_organization(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<NewOrganization>,
) -> Result<Response, Problem> {
    organizers_only(&caller)?;
    let actor = caller.viewer().actor();
    let org = state
        .store
        .write(op!(c => organizations::create(c, &body.name, body.domain.as_deref(), &actor).await))
        .await?;
    Ok(json(StatusCode::CREATED, &org))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    #[schema(value_type = Name)]
    pub name: String,
    /// `email` or `phone` is required; with both, the phone is added as a second identity.
    #[schema(value_type = Option<EmailAddress>)]
    pub email: Option<String>,
    #[schema(value_type = Option<PhoneNumber>)]
    pub phone: Option<String>,
    pub organization_id: Option<OrganizationId>,
}

/// Add a contact before they ever write. An address or number another contact has is
/// refused (409).
#[utoipa::path(post, path = "/api/v1/contacts", operation_id = "create_contact", request_body = NewContact, tag = "contacts",
    responses((status = 201, body = Contact), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(body, _): ApiJson<NewContact>,
) -> Result<Response, Problem> {
    let email = body
        .email
        .as_deref()
        .map(|e| email_key("email", e))
        .transpose()?;
    let phone = body
        .phone
        .as_deref()
        .map(|p| phone_key("phone", p))
        .transpose()?;
    let first = match (&email, &phone) {
        (Some(e), _) => (IdentityKind::Email, e.clone()),
        (None, Some(p)) => (IdentityKind::Phone, p.clone()),
        (None, None) => {
            return Err(Problem::bad_request(
                "email",
                "give the contact's email or phone",
            ));
        }
    };
    let second = phone.filter(|_| email.is_some());
    let actor = caller.viewer().actor();
    let contact = state
        .store
        .write(op!(c => {
            let made = contacts::create(c, &body.name, (first.0, &first.1), body.organization_id, &actor).await?;
            match second {
                Some(p) => contacts::add_identity(c, made.id, IdentityKind::Phone, &p, &actor).await,
                None => Ok(made),
            }
        }))
        .await?;
    Ok(json(StatusCode::CREATED, &contact))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    /// `email` or `phone`.
    #[schema(value_type = String, pattern = "^(email|phone)$")]
    pub kind: IdentityKind,
    /// The address or the number (`+30 210 …` is fine; it is stored in E.164).
    pub value: String,
}

/// An email address as its identity is stored, or the refusal naming `field`.
pub(crate) fn email_key(field: &'static str, raw: &str) -> Result<String, Problem> {
    Email::parse(raw)
        .map(|e| e.identity_key())
        .map_err(|e| Problem::bad_request(field, e.0))
}

/// A phone number as its identity is stored (E.164), or the refusal naming `field`.
pub(crate) fn phone_key(field: &'static str, raw: &str) -> Result<String, Problem> {
    PhoneE164::parse(raw)
        .map(|p| p.as_str().to_string())
        .map_err(|e| Problem::bad_request(field, e.0))
}

impl IdentityBody {
    /// The identity as stored, or the refusal naming the field.
    fn stored(&self) -> Result<(IdentityKind, String), Problem> {
        match self.kind {
            IdentityKind::Email => Ok((IdentityKind::Email, email_key("value", &self.value)?)),
            IdentityKind::Phone => Ok((IdentityKind::Phone, phone_key("value", &self.value)?)),
            _ => Err(Problem::bad_request(
                "kind",
                "an email address or a phone number",
            )),
        }
    }
}

/// Give a contact another email address or phone number. One that belongs to another
/// contact is refused (409): merge the two instead.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/identities", request_body = IdentityBody, tag = "contacts",
    responses((status = 200, body = Contact), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_identity(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<IdentityBody>,
) -> Result<Response, Problem> {
    let id: ContactId = parse_id("id", &id)?;
    let (kind, value) = body.stored()?;
    let actor = caller.viewer().actor();
    let contact = state
        .store
        .write(op!(c => contacts::add_identity(c, id, kind, &value, &actor).await))
        .await?;
    Ok(json(StatusCode::OK, &contact))
}

/// Take an email address or phone number from a contact, who keeps at least one.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/identities/remove", request_body = IdentityBody, tag = "contacts",
    responses((status = 200, body = Contact), (status = 422, body = Problem)))]
pub async fn remove_identity(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<IdentityBody>,
) -> Result<Response, Problem> {
    let id: ContactId = parse_id("id", &id)?;
    let (kind, value) = body.stored()?;
    let actor = caller.viewer().actor();
    let contact = state
        .store
        .write(op!(c => contacts::remove_identity(c, id, kind, &value, &actor).await))
        .await?;
    Ok(json(StatusCode::OK, &contact))
}

/// Organizations are made, changed and deleted by supervisors and admins.
fn organizers_only(caller: &Caller) -> Result<(), Problem> {
    if caller.agent.role.sees_every_team() {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "only supervisors and admins manage organizations",
        ))
    }
}

/// One organization, with how many contacts it has.
#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "contacts",
    responses((status = 200, body = Organization), (status = 404, body = Problem)))]
pub async fn organization(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: OrganizationId = parse_id("id", &id)?;
    let org = state
        .store
        .read(op!(c => organizations::get(c, id).await))
        .await?;
    Ok(json(StatusCode::OK, &org))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationUpdate {
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// The email domain its people write from; `null` removes it. Contacts of a new domain
    /// who belong to no organization join.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<Domain>)]
    pub domain: Option<Option<String>>,
}

/// Rename an organization or change its domain (supervisors and admins).
#[utoipa::path(patch, path = "/api/v1/organizations/{id}", request_body = OrganizationUpdate, tag = "contacts",
    responses((status = 200, body = Organization), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_organization(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body, _): ApiJson<OrganizationUpdate>,
) -> Result<Response, Problem> {
    organizers_only(&caller)?;
    let id: OrganizationId = parse_id("id", &id)?;
    let actor = caller.viewer().actor();
    let org = state
        .store
        .write(op!(c => {
            let domain = body.domain.as_ref().map(|d| d.as_deref());
            organizations::update(c, id, body.name.as_deref(), domain, &actor).await
        }))
        .await?;
    Ok(json(StatusCode::OK, &org))
}

/// Delete an organization; its contacts stay, in no organization (supervisors and admins).
#[utoipa::path(delete, path = "/api/v1/organizations/{id}", tag = "contacts",
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_organization(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    organizers_only(&caller)?;
    let id: OrganizationId = parse_id("id", &id)?;
    let actor = caller.viewer().actor();
    state
        .store
        .write(op!(c => organizations::delete(c, id, &actor).await))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
