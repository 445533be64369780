//! Saved views from the inbox: an agent names a set of list filters (statuses,
//! priorities, owner, team, tag, inbox) and finds it under "Saved views" beside the
//! built-in ones; supervisors and admins may share one with everyone. Its author (or an
//! admin) deletes it from the view itself.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use seva_core::ViewId;
use seva_core::conversation::{Priority, Sort, Status};
use seva_store::op;
use seva_store::views::{self, ViewFilters};

use super::{Agent, Fields, Me, PageError, refusal, render_form};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;

#[derive(askama::Template)]
#[template(path = "view_new.html")]
struct NewViewPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    statuses: Vec<(&'static str, String)>,
    priorities: Vec<(&'static str, String)>,
    agents: Vec<(String, String)>,
    teams: Vec<(String, String)>,
    inboxes: Vec<(String, String)>,
    sorts: Vec<(&'static str, String)>,
    may_share: bool,
    /// What was sent, when it is shown again with an error.
    draft: Draft,
    error: Option<String>,
}

/// The form's values, kept to show them again.
#[derive(Default)]
struct Draft {
    name: String,
    statuses: Vec<String>,
    priorities: Vec<String>,
    owner: String,
    team: String,
    tag: String,
    inbox: String,
    sort: String,
    shared: bool,
}

impl Draft {
    fn from_fields(f: &Fields) -> Draft {
        Draft {
            name: f.one("name").unwrap_or_default().to_string(),
            statuses: f.all("status").map(str::to_string).collect(),
            priorities: f.all("priority").map(str::to_string).collect(),
            owner: f.one("owner").unwrap_or_default().to_string(),
            team: f.one("team").unwrap_or_default().to_string(),
            tag: f.one("tag").unwrap_or_default().to_string(),
            inbox: f.one("inbox").unwrap_or_default().to_string(),
            sort: f.one("sort").unwrap_or_default().to_string(),
            shared: f.one("shared").is_some(),
        }
    }

    /// The filters it means; a word that is not one gets an error naming its field.
    fn filters(&self) -> Result<ViewFilters, seva_store::Error> {
        let statuses = self
            .statuses
            .iter()
            .map(|s| {
                s.parse::<Status>().map_err(|_| {
                    seva_store::Error::invalid("status", format!("{s:?} is not a status"))
                })
            })
            .collect::<Result<_, _>>()?;
        let priorities = self
            .priorities
            .iter()
            .map(|p| {
                p.parse::<Priority>().map_err(|_| {
                    seva_store::Error::invalid("priority", format!("{p:?} is not a priority"))
                })
            })
            .collect::<Result<_, _>>()?;
        let inbox_id = match self.inbox.as_str() {
            "" => None,
            id => Some(
                id.parse()
                    .map_err(|_| seva_store::Error::invalid("inbox", "not an inbox"))?,
            ),
        };
        let sort = match self.sort.as_str() {
            "" => None,
            s => Some(s.parse::<Sort>().map_err(|_| {
                seva_store::Error::invalid("sort", format!("{s:?} is not an order"))
            })?),
        };
        let some = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        Ok(ViewFilters {
            statuses,
            priorities,
            owner: some(&self.owner),
            team: some(&self.team),
            tag: some(self.tag.trim()),
            inbox_id,
            sort,
        })
    }
}

async fn form_page(
    state: &Shared,
    agent: &Agent,
    draft: Draft,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let pick = super::desk::pickable(state, t).await?;
    let refused = error.is_some();
    let (statuses, priorities) = super::desk::choices(t);
    let page = NewViewPage {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        statuses,
        priorities,
        agents: pick.agents,
        teams: pick.teams,
        inboxes: pick
            .inboxes
            .into_iter()
            .map(|i| (i.id.to_string(), i.name))
            .collect(),
        sorts: Sort::ALL
            .iter()
            .map(|s| (s.as_str(), t.word("sort", s.as_str())))
            .collect(),
        may_share: agent.0.agent.role.sees_every_team(),
        draft,
        error,
    };
    Ok(render_form(&page, refused))
}

/// The form, with the active statuses ticked: what most views start from.
pub async fn new(State(state): State<Shared>, agent: Agent) -> Result<Response, PageError> {
    let draft = Draft {
        statuses: [Status::Open, Status::Pending, Status::OnHold]
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        ..Draft::default()
    };
    form_page(&state, &agent, draft, None).await
}

/// Saves the view and opens it; a refused form comes back with the reason.
pub async fn create(
    State(state): State<Shared>,
    agent: Agent,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = Fields::parse(&body);
    agent.check_csrf(fields.one("csrf").unwrap_or(""))?;
    let t = agent.tr();
    let draft = Draft::from_fields(&fields);
    if draft.shared && !agent.0.agent.role.sees_every_team() {
        return Err(PageError(
            Problem::forbidden("only supervisors and admins share views"),
            t,
        ));
    }
    let me = agent.0.agent.id;
    let made = match draft.filters() {
        Ok(filters) => {
            let (name, shared) = (draft.name.clone(), draft.shared);
            state
                .store
                .write(op!(c => views::create(c, me, &name, &filters, shared).await))
                .await
        }
        Err(e) => Err(e),
    };
    match made {
        Ok(v) => Ok(Redirect::to(&format!("/inbox?saved={}", v.id)).into_response()),
        Err(e) => {
            let error = refusal(e, t)?;
            form_page(&state, &agent, draft, Some(error)).await
        }
    }
}

/// Deletes a saved view (its author, or an admin) and goes back to the inbox.
pub async fn delete(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = Fields::parse(&body);
    agent.check_csrf(fields.one("csrf").unwrap_or(""))?;
    let t = agent.tr();
    let id: ViewId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let (me, admin) = (
        agent.0.agent.id,
        agent.0.agent.role == seva_core::agent::Role::Admin,
    );
    state
        .store
        .write(op!(c => views::delete(c, me, admin, id).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(Redirect::to("/inbox").into_response())
}
