//! Organizations in the desk: the companies contacts belong to. Everyone sees the list and
//! an organization's page (its people and all their conversations); supervisors and
//! admins add, rename and delete organizations and set the email domain whose writers
//! join one by themselves.

use super::Query;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_core::OrganizationId;
use seva_store::contacts::{self, Contact};
use seva_store::conversations::{self, Filter};
use seva_store::op;
use seva_store::organizations::{self, Organization};

use super::desk::{Row, agent_names, rows};
use super::{Agent, Me, PageError, refusal, render_form};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;

#[derive(askama::Template)]
#[template(path = "organizations.html")]
struct ListPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    organizations: Vec<Organization>,
    may_manage: bool,
    /// What was typed into the add form, shown again with its refusal.
    name: String,
    domain: String,
    error: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "organization.html")]
struct OrganizationPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    org: Organization,
    may_manage: bool,
    saved: bool,
    error: Option<String>,
    contacts: Vec<Contact>,
    contacts_label: &'static str,
    // What the conversation list (inbox_list.html) reads.
    rows: Vec<Row>,
    next: Option<String>,
    followups: Vec<seva_store::transfers::Task>,
    notices: Vec<seva_store::notifications::Notification>,
    waiting: bool,
    selectable: bool,
}

/// Why the store refused a form: a field's refusal, or the domain another organization
/// has (the only conflict here).
fn refused(e: seva_store::Error, t: Tr) -> Result<String, PageError> {
    match e {
        seva_store::Error::Conflict(why) => Ok(format!("domain: {why}")),
        e => refusal(e, t),
    }
}

fn may_manage(agent: &Agent) -> bool {
    agent.0.agent.role.sees_every_team()
}

fn managers_only(agent: &Agent) -> Result<(), PageError> {
    if may_manage(agent) {
        Ok(())
    } else {
        Err(PageError(
            Problem::forbidden("only supervisors and admins manage organizations"),
            agent.tr(),
        ))
    }
}

async fn list_page(
    state: &Shared,
    agent: &Agent,
    name: String,
    domain: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let list = state
        .store
        .read(op!(c => organizations::list(c).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let refused = error.is_some();
    let page = ListPage {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        organizations: list,
        may_manage: may_manage(agent),
        name,
        domain,
        error,
    };
    Ok(render_form(&page, refused))
}

pub async fn list(State(state): State<Shared>, agent: Agent) -> Result<Response, PageError> {
    list_page(&state, &agent, String::new(), String::new(), None).await
}

#[derive(Deserialize)]
pub struct OrganizationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    domain: String,
}

/// Adds an organization and opens its page, where the people of its domain already are.
pub async fn create(
    State(state): State<Shared>,
    agent: Agent,
    super::Form(form): super::Form<OrganizationForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    managers_only(&agent)?;
    let t = agent.tr();
    let (name, domain) = (form.name.clone(), form.domain.clone());
    let actor = agent.0.viewer().actor();
    let made = state
        .store
        .write(op!(c => organizations::create(c, &name, Some(domain.as_str()), &actor).await))
        .await;
    match made {
        Ok(org) => Ok(Redirect::to(&format!("/organizations/{}", org.id)).into_response()),
        Err(e) => {
            let error = refused(e, t)?;
            list_page(&state, &agent, form.name, form.domain, Some(error)).await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    saved: Option<String>,
}

async fn organization_page(
    state: &Shared,
    agent: &Agent,
    id: OrganizationId,
    saved: bool,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let viewer = agent.0.viewer();
    let (org, people, list, names) = state
        .store
        .read(op!(c => {
            let org = organizations::get(c, id).await?;
            let people = contacts::of_organization(c, id, 500).await?;
            let filter = Filter { organization: Some(id), ..Filter::default() };
            let (list, _) = conversations::list(c, &viewer, &filter, None, 200).await?;
            let names = agent_names(c).await?;
            Ok((org, people, list, names))
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let refused = error.is_some();
    let page = OrganizationPage {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        org,
        may_manage: may_manage(agent),
        saved,
        error,
        contacts: people,
        contacts_label: "org-people",
        rows: rows(t, list, &names),
        next: None,
        followups: Vec::new(),
        notices: Vec::new(),
        waiting: false,
        selectable: false,
    };
    Ok(render_form(&page, refused))
}

fn parse(agent: &Agent, id: &str) -> Result<OrganizationId, PageError> {
    id.parse()
        .map_err(|_| PageError(Problem::not_found(), agent.tr()))
}

pub async fn page(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let id = parse(&agent, &id)?;
    organization_page(&state, &agent, id, q.saved.is_some(), None).await
}

/// Renames the organization or changes its domain (empty removes it).
pub async fn update(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    super::Form(form): super::Form<OrganizationForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    managers_only(&agent)?;
    let t = agent.tr();
    let id = parse(&agent, &id)?;
    let actor = agent.0.viewer().actor();
    let done = state
        .store
        .write(op!(c => {
            let domain = Some(form.domain.trim()).filter(|d| !d.is_empty());
            organizations::update(c, id, Some(&form.name), Some(domain), &actor).await
        }))
        .await;
    match done {
        Ok(_) => Ok(Redirect::to(&format!("/organizations/{id}?saved=1")).into_response()),
        Err(e) => {
            let error = refused(e, t)?;
            organization_page(&state, &agent, id, false, Some(error)).await
        }
    }
}

/// Deletes the organization; its people stay, in no organization.
pub async fn delete(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    super::Form(form): super::Form<super::CsrfForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    managers_only(&agent)?;
    let t = agent.tr();
    let id = parse(&agent, &id)?;
    let actor = agent.0.viewer().actor();
    state
        .store
        .write(op!(c => organizations::delete(c, id, &actor).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(Redirect::to("/organizations").into_response())
}
