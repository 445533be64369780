//! "New conversation": an agent opens a conversation from the desk, either to write down
//! what a customer asked on the phone or at the counter, or to write to a customer by
//! email first. One form, one write: the contact (found by their address or number, or
//! made), the conversation, its first message with any files, its owner and its status.

use super::Query;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_core::contact::{IdentityKind, typed_identity};
use seva_core::conversation::{Channel, MessageKind, Priority, Status};
use seva_store::conversations::{self, Start};
use seva_store::op;

use super::{Agent, Me, PageError, Posted, refusal, render_form};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;

#[derive(askama::Template)]
#[template(path = "conversation_new.html")]
struct NewConversationPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    priorities: Vec<(&'static str, String)>,
    /// The statuses a new conversation may be left in.
    statuses: Vec<(&'static str, String)>,
    agents: Vec<(String, String)>,
    teams: Vec<(String, String)>,
    /// The email inboxes it can be answered from.
    inboxes: Vec<(String, String)>,
    draft: Draft,
    error: Option<String>,
}

/// The form's values, kept to show them again.
struct Draft {
    direction: String,
    contact: String,
    name: String,
    subject: String,
    text: String,
    inbox: String,
    team: String,
    priority: String,
    owner: String,
    status: String,
    /// Addresses in copy, separated by commas or spaces.
    copy: String,
}

impl Draft {
    fn from_posted(p: &mut Posted) -> Draft {
        Draft {
            direction: p.take("direction"),
            contact: p.take("contact").trim().to_string(),
            name: p.take("name"),
            subject: p.take("subject"),
            text: p.take("text"),
            inbox: p.take("inbox"),
            team: p.take("team"),
            priority: p.take("priority"),
            owner: p.take("owner"),
            status: p.take("status"),
            copy: p.take("copy"),
        }
    }
}

/// The contact a typed address or number means.
fn identity(raw: &str) -> Result<(IdentityKind, String), seva_store::Error> {
    if raw.is_empty() {
        return Err(seva_store::Error::invalid(
            "contact",
            "give the customer's email address or phone number",
        ));
    }
    typed_identity(raw).map_err(|e| seva_store::Error::invalid("contact", e.0))
}

/// A field's word, or the store's refusal naming the field.
fn word<T: std::str::FromStr>(field: &'static str, raw: &str) -> Result<T, seva_store::Error> {
    raw.parse()
        .map_err(|_| seva_store::Error::invalid(field, format!("{raw:?} is not a {field}")))
}

/// An optional id: empty is none.
fn optional<T: std::str::FromStr>(
    field: &'static str,
    raw: &str,
) -> Result<Option<T>, seva_store::Error> {
    match raw {
        "" | "none" => Ok(None),
        id => word(field, id).map(Some),
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
    let (statuses, priorities) = super::desk::choices(t);
    let refused = error.is_some();
    let page = NewConversationPage {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        priorities,
        statuses: statuses
            .into_iter()
            .filter(|(s, _)| *s != Status::Closed.as_str() && *s != Status::OnHold.as_str())
            .collect(),
        agents: pick.agents,
        teams: pick.teams,
        inboxes: pick
            .inboxes
            .into_iter()
            .filter(|i| i.channel == Channel::Email)
            .map(|i| (i.id.to_string(), i.name))
            .collect(),
        draft,
        error,
    };
    Ok(render_form(&page, refused))
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    /// An email address or phone number to start with (from a contact's page).
    #[serde(default)]
    contact: String,
    #[serde(default)]
    name: String,
}

/// The empty form: a call taken, owned by the agent, open; the contact filled in when the
/// agent came from a contact's page.
pub async fn new(
    State(state): State<Shared>,
    agent: Agent,
    Query(q): Query<NewQuery>,
) -> Result<Response, PageError> {
    let draft = Draft {
        direction: MessageKind::Inbound.as_str().to_string(),
        contact: q.contact,
        name: q.name,
        subject: String::new(),
        text: String::new(),
        inbox: String::new(),
        team: String::new(),
        priority: Priority::Normal.as_str().to_string(),
        owner: agent.0.agent.id.to_string(),
        status: Status::Open.as_str().to_string(),
        copy: String::new(),
    };
    form_page(&state, &agent, draft, None).await
}

/// Opens the conversation and goes to it; a refused form comes back with the reason.
pub async fn create(
    State(state): State<Shared>,
    agent: Agent,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let mut posted = super::read_multipart(multipart, state.config.max_attachment_bytes)
        .await
        .map_err(|(field, detail)| PageError(Problem::bad_request(field, detail), t))?;
    agent.check_csrf(&posted.take("csrf"))?;
    let draft = Draft::from_posted(&mut posted);
    crate::api::conversations::check_text("text", &draft.text).map_err(|p| PageError(p, t))?;
    let files = super::store_uploads(&state, posted.files)
        .await
        .map_err(|_| PageError(Problem::internal(), t))?;
    let viewer = agent.0.viewer();
    let started = match read_draft(&draft) {
        Ok(d) => {
            let (name, subject, text) = (
                Some(draft.name.trim().to_string()).filter(|n| !n.is_empty()),
                draft.subject.clone(),
                draft.text.clone(),
            );
            state
                .store
                .write(op!(c => {
                    conversations::start(c, &viewer, Start {
                        identity: (d.identity.0, &d.identity.1),
                        name: name.as_deref(),
                        subject: &subject,
                        text: &text,
                        files: &files,
                        first: d.first,
                        channel: if d.inbox.is_some() { Channel::Email } else { Channel::Voice },
                        inbox_id: d.inbox,
                        team_id: d.team,
                        priority: d.priority,
                        owner: d.owner,
                        status: d.status,
                        copy: &d.copy,
                    }).await
                }))
                .await
        }
        Err(e) => Err(e),
    };
    match started {
        Ok(r) => {
            state
                .metrics
                .conversations_created
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Redirect::to(&format!("/conversations/{}", r.conversation_id)).into_response())
        }
        Err(e) => {
            let error = refusal(e, t)?;
            form_page(&state, &agent, draft, Some(error)).await
        }
    }
}

/// What the form's words mean, each checked.
struct Read {
    identity: (IdentityKind, String),
    first: MessageKind,
    inbox: Option<seva_core::InboxId>,
    team: Option<seva_core::TeamId>,
    priority: Priority,
    owner: Option<seva_core::AgentId>,
    status: Status,
    copy: Vec<String>,
}

fn read_draft(d: &Draft) -> Result<Read, seva_store::Error> {
    let first = match d.direction.as_str() {
        "inbound" => MessageKind::Inbound,
        "outbound" => MessageKind::Outbound,
        other => {
            return Err(seva_store::Error::invalid(
                "direction",
                format!("{other:?} is neither inbound nor outbound"),
            ));
        }
    };
    Ok(Read {
        identity: identity(&d.contact)?,
        first,
        inbox: optional("inbox", &d.inbox)?,
        team: optional("team", &d.team)?,
        priority: word("priority", &d.priority)?,
        owner: optional("owner", &d.owner)?,
        status: word("status", &d.status)?,
        copy: super::addresses(&d.copy),
    })
}
