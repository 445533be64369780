//! The agent's desk: inbox views, the conversation page and its actions, contacts.

use super::Form;
use super::Query;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use seva_core::contact::IdentityKind;
use seva_core::conversation::{Channel, Delivery, MessageKind, Priority, Sort, Status};
use seva_core::{AgentId, ContactId, ConversationId, TeamId};
use seva_store::contacts::{self, Contact};
use seva_store::conversations::{self, Assignment, Conversation, Cursor, Filter, Reply, Viewer};
use seva_store::{messages, op, teams};

use super::work::{TaskView, TransferView};
use super::{Agent, Me, PageError, human_size, me, render, short_time};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;

pub struct Row {
    pub id: ConversationId,
    pub reference: i64,
    pub subject: String,
    pub preview: String,
    pub contact: String,
    pub status: &'static str,
    pub status_label: String,
    pub priority: &'static str,
    pub priority_label: String,
    pub owner: String,
    pub tags: Vec<String>,
    pub updated: String,
    pub updated_iso: String,
    /// How long the customer has waited for a first answer (none once answered).
    pub waiting: Option<String>,
}

pub(super) fn rows(t: Tr, list: Vec<Conversation>, names: &[(AgentId, String)]) -> Vec<Row> {
    let now = seva_store::now().micros();
    list.into_iter()
        .map(|c| Row {
            waiting: (c.status.is_active() && c.first_response_at.is_none()).then(|| {
                let minutes = (now - c.created_at.micros()).max(0) / 60_000_000;
                t.a("inbox-waiting", "minutes", minutes)
            }),
            id: c.id,
            reference: c.reference,
            owner: c
                .owner_id
                .and_then(|o| {
                    names
                        .iter()
                        .find(|(id, _)| *id == o)
                        .map(|(_, n)| n.clone())
                })
                .unwrap_or_else(|| "—".into()),
            status: c.status.as_str(),
            status_label: t.word("status", c.status.as_str()),
            priority: c.priority.as_str(),
            priority_label: t.word("priority", c.priority.as_str()),
            updated: short_time(c.updated_at),
            updated_iso: c.updated_at.rfc3339(),
            subject: c.subject,
            preview: c.preview,
            contact: c.contact_name,
            tags: c.tags,
        })
        .collect()
}

pub struct View {
    key: &'static str,
    label: String,
    current: bool,
}

#[derive(askama::Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    views: Vec<View>,
    /// Sorting choices: (word, label, chosen).
    sorts: Vec<(&'static str, String, bool)>,
    /// The view shown (a built-in one or a saved one), for the sort form.
    view_param: (&'static str, String),
    /// The same list as a spreadsheet.
    export: String,
    /// Saved views: id, name, whether it is the one shown.
    saved: Vec<(seva_core::ViewId, String, bool)>,
    /// The saved view shown, when this agent may delete it (its author, or an admin).
    deletable: Option<seva_core::ViewId>,
    live_url: String,
    heading: String,
    rows: Vec<Row>,
    next: Option<String>,
    followups: Vec<seva_store::transfers::Task>,
    notices: Vec<seva_store::notifications::Notification>,
    /// The list is an empty "mine" while conversations wait unassigned.
    waiting: bool,
    csrf: String,
    /// Rows have a box to tick for the bulk bar.
    selectable: bool,
    /// Where the bulk bar comes back to.
    back: String,
    statuses: Vec<(&'static str, String)>,
    priorities: Vec<(&'static str, String)>,
}

#[derive(askama::Template)]
#[template(path = "inbox_list.html")]
struct InboxList {
    t: Tr,
    rows: Vec<Row>,
    /// The next page's address.
    next: Option<String>,
    followups: Vec<seva_store::transfers::Task>,
    notices: Vec<seva_store::notifications::Notification>,
    /// The list is an empty "mine" while conversations wait unassigned.
    waiting: bool,
    csrf: String,
    selectable: bool,
}

/// What a form offers to pick from: the enabled agents and the teams as (id, name), and
/// the inboxes (each form takes the ones it can use).
pub(super) struct Pickable {
    pub agents: Vec<(String, String)>,
    pub teams: Vec<(String, String)>,
    pub inboxes: Vec<seva_store::inboxes::Inbox>,
}

pub(super) async fn pickable(state: &Shared, t: Tr) -> Result<Pickable, PageError> {
    let (agents, teams, inboxes) = state
        .store
        .read(op!(c => Ok((
            seva_store::agents::list(c).await?,
            teams::list(c).await?,
            seva_store::inboxes::list(c).await?,
        ))))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(Pickable {
        agents: agents
            .into_iter()
            .filter(|a| !a.disabled)
            .map(|a| (a.id.to_string(), a.name))
            .collect(),
        teams: teams
            .into_iter()
            .map(|tm| (tm.id.to_string(), tm.name))
            .collect(),
        inboxes,
    })
}

/// Statuses and priorities with their words, for select boxes.
#[allow(clippy::type_complexity)]
pub(super) fn choices(t: Tr) -> (Vec<(&'static str, String)>, Vec<(&'static str, String)>) {
    let statuses = Status::ALL
        .iter()
        .map(|s| (s.as_str(), t.word("status", s.as_str())))
        .collect();
    let priorities = Priority::ALL
        .iter()
        .map(|p| (p.as_str(), t.word("priority", p.as_str())))
        .collect();
    (statuses, priorities)
}

#[derive(Deserialize)]
pub struct InboxQuery {
    pub(super) view: Option<String>,
    /// A saved view's id.
    pub(super) saved: Option<String>,
    /// The order (`updated`, `newest`, `oldest`, `priority`); a saved view's own by default.
    pub(super) sort: Option<String>,
    pub(super) cursor: Option<String>,
    pub(super) partial: Option<String>,
}

const VIEWS: &[&str] = &[
    "mine",
    "team",
    "unassigned",
    "following",
    "open",
    "all",
    "spam",
];

/// What an inbox address asks for: a built-in view (its filter) or a saved one, in an
/// order.
pub(super) struct Asked {
    pub view: &'static str,
    filter: Filter,
    saved: Option<seva_core::ViewId>,
    sort: Option<Sort>,
}

impl Asked {
    pub fn of(q: &InboxQuery, agent: &Agent) -> Result<Asked, PageError> {
        let t = agent.tr();
        let view = VIEWS
            .iter()
            .copied()
            .find(|v| Some(*v) == q.view.as_deref())
            .unwrap_or("mine");
        let me_id = agent.0.agent.id;
        let active = vec![Status::Open, Status::Pending, Status::OnHold];
        let filter = match view {
            "mine" => Filter {
                statuses: active,
                owner: Some(Some(me_id)),
                ..Filter::default()
            },
            "team" => Filter {
                statuses: active,
                teams_any: Some(agent.0.agent.teams.clone()),
                ..Filter::default()
            },
            "unassigned" => Filter {
                statuses: active,
                owner: Some(None),
                ..Filter::default()
            },
            "following" => Filter {
                statuses: active,
                followed_by: Some(me_id),
                ..Filter::default()
            },
            "open" => Filter {
                statuses: active,
                ..Filter::default()
            },
            // What was filed as spam, to look through for a customer blocked by mistake.
            "spam" => Filter {
                tag: Some(conversations::SPAM.to_string()),
                ..Filter::default()
            },
            _ => Filter::default(),
        };
        let sort = match q.sort.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(
                s.parse()
                    .map_err(|e: seva_core::conversation::UnknownWord| {
                        PageError(Problem::bad_request("sort", e.to_string()), t)
                    })?,
            ),
            None => None,
        };
        let saved = match q.saved.as_deref() {
            Some(s) => Some(s.parse().map_err(|_| PageError(Problem::not_found(), t))?),
            None => None,
        };
        Ok(Asked {
            view,
            filter,
            saved,
            sort,
        })
    }

    /// The filter to list with (a saved view's, if one was asked for, which `me` must
    /// be allowed to see), in the order asked for, and that saved view.
    pub async fn filter(
        self,
        c: &mut dyn seva_store::Conn,
        me: AgentId,
    ) -> seva_store::Result<(Filter, Option<seva_store::views::View>)> {
        let chosen = match self.saved {
            Some(id) => Some(seva_store::views::get_for(c, me, id).await?),
            None => None,
        };
        let mut filter = match &chosen {
            Some(v) => v.filters.to_filter(me)?,
            None => self.filter,
        };
        if let Some(sort) = self.sort {
            filter.sort = sort;
        }
        Ok((filter, chosen))
    }
}

pub async fn inbox(
    State(state): State<Shared>,
    agent: Agent,
    Query(q): Query<InboxQuery>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let asked = Asked::of(&q, &agent)?;
    let view = asked.view;
    let me_id = agent.0.agent.id;
    // An empty "mine" says where the waiting work is, so that a new agent's first screen
    // is not a blank page while customers wait in Unassigned.
    let unassigned = Filter {
        statuses: vec![Status::Open, Status::Pending, Status::OnHold],
        owner: Some(None),
        ..Filter::default()
    };
    let cursor = q.cursor.as_deref().and_then(Cursor::decode);
    let viewer = agent.0.viewer();
    let (list, next, names, (followups, notices, waiting), saved, chosen) = state
        .store
        .read(op!(c => {
            let saved = seva_store::views::list_for(c, me_id).await?;
            let (filter, chosen) = asked.filter(c, me_id).await?;
            let sort = filter.sort;
            let first_page = cursor.is_none();
            let (list, next) = conversations::list(c, &viewer, &filter, cursor, 50).await?;
            let waiting = view == "mine"
                && chosen.is_none()
                && first_page
                && list.is_empty()
                && !conversations::list(c, &viewer, &unassigned, None, 1).await?.0.is_empty();
            let names = agent_names(c).await?;
            let followups = seva_store::transfers::tasks(c, Some(me_id), None, true).await?;
            let notices = seva_store::notifications::list_for(c, me_id, true).await?;
            Ok((list, next, names, (followups, notices, waiting), saved, (chosen, sort)))
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let (chosen, sort) = chosen;
    let rows = rows(t, list, &names);
    // This list's address (its view and order), for its next page, the live updates and
    // the way back from a bulk change.
    let view_param = match &chosen {
        Some(v) => ("saved", v.id.to_string()),
        None => ("view", view.to_string()),
    };
    let (key, value) = &view_param;
    let back = match q.sort.as_deref().filter(|s| !s.is_empty()) {
        Some(_) => format!("/inbox?{key}={value}&sort={}", sort.as_str()),
        None => format!("/inbox?{key}={value}"),
    };
    let next = next.map(|n| format!("{back}&cursor={}", n.encode()));
    if q.partial.is_some() {
        return Ok(render(&InboxList {
            t,
            rows,
            next,
            followups,
            notices,
            waiting,
            csrf: agent.0.csrf().to_string(),
            selectable: true,
        }));
    }
    let views = VIEWS
        .iter()
        .map(|&key| View {
            key,
            label: t.s(&format!("view-{key}")),
            current: key == view && q.saved.is_none(),
        })
        .collect();
    let live_url = format!("{back}&partial=1");
    let sorts = Sort::ALL
        .iter()
        .map(|s| (s.as_str(), t.word("sort", s.as_str()), *s == sort))
        .collect();
    let (statuses, priorities) = choices(t);
    let heading = match &chosen {
        Some(v) => v.name.clone(),
        None => t.s(&format!("view-{view}")),
    };
    let deletable = chosen
        .as_ref()
        .filter(|v| v.agent_id == me_id || agent.0.agent.role == seva_core::agent::Role::Admin)
        .map(|v| v.id);
    let saved = saved
        .into_iter()
        .map(|v| (v.id, v.name, chosen.as_ref().is_some_and(|c| c.id == v.id)))
        .collect();
    Ok(render(&InboxPage {
        t,
        me: Some(me(&agent.0)),
        languages: LANGUAGES,
        views,
        sorts,
        view_param,
        export: back.replacen("/inbox?", "/inbox/export.csv?", 1),
        saved,
        deletable,
        live_url,
        heading,
        rows,
        next,
        followups,
        notices,
        waiting,
        csrf: agent.0.csrf().to_string(),
        selectable: true,
        back,
        statuses,
        priorities,
    }))
}

pub(super) async fn agent_names(
    c: &mut dyn seva_store::Conn,
) -> seva_store::Result<Vec<(AgentId, String)>> {
    c.query("SELECT id, name FROM agents ORDER BY name", &[])
        .await?
        .iter()
        .map(|r| Ok((r.parse(0)?, r.text(1)?)))
        .collect()
}

pub struct FileView {
    pub name: String,
    pub size: String,
    pub url: String,
}

pub struct MessageView {
    pub id: seva_core::MessageId,
    pub kind: MessageKind,
    pub author: String,
    pub html: String,
    pub at: String,
    pub at_iso: String,
    pub delivery: seva_core::conversation::Delivery,
    pub show_delivery: bool,
    pub error: Option<String>,
    pub files: Vec<FileView>,
    /// Quoted history and signature, shown folded.
    pub folded: String,
    /// For email: who wrote, and who else was on it.
    pub email_from: Option<String>,
    pub email_cc: String,
    pub original_url: Option<String>,
    /// Its words were taken out (redacted, or its author erased).
    pub redacted: bool,
    /// Whether the reader may redact it (supervisors and admins, on the desk).
    pub redactable: bool,
}

pub fn message_views(
    t: Tr,
    list: Vec<messages::Message>,
    file_url: impl Fn(&messages::Attachment) -> String,
) -> Vec<MessageView> {
    list.into_iter()
        .map(|m| MessageView {
            id: m.id,
            kind: m.kind,
            author: m.author_name.unwrap_or_else(|| t.s("system")),
            at: short_time(m.created_at),
            at_iso: m.created_at.rfc3339(),
            delivery: m.delivery,
            show_delivery: m.kind == MessageKind::Outbound
                || (m.kind == MessageKind::System && m.delivery != Delivery::Internal),
            error: m.delivery_error,
            folded: m.folded,
            email_from: m.email.as_ref().and_then(|e| {
                let email = e["from"]["email"].as_str()?;
                Some(match e["from"]["name"].as_str() {
                    Some(name) => format!("{name} <{email}>"),
                    None => email.to_string(),
                })
            }),
            email_cc: m
                .email
                .as_ref()
                .and_then(|e| e["cc"].as_array())
                .map(|cc| {
                    cc.iter()
                        .filter_map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            original_url: m.has_source.then(|| format!("/messages/{}/original", m.id)),
            redacted: m.redacted_at.is_some(),
            redactable: false,
            files: m
                .attachments
                .iter()
                .map(|a| FileView {
                    name: a.filename.clone(),
                    size: human_size(a.size),
                    url: file_url(a),
                })
                .collect(),
            html: m.html,
        })
        .collect()
}

#[derive(askama::Template)]
#[template(path = "conversation.html")]
struct ConversationPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    me_csrf: String,
    me_id: AgentId,
    c: Conversation,
    owner_name: String,
    team_name: String,
    messages: Vec<MessageView>,
    activity: Vec<(String, String, String)>,
    statuses: Vec<(&'static str, String)>,
    priorities: Vec<(&'static str, String)>,
    agents: Vec<(AgentId, String, bool)>,
    teams: Vec<(TeamId, String, bool)>,
    transfer: Option<TransferView>,
    tasks: Vec<TaskView>,
    macros: Vec<(seva_core::MacroId, String)>,
    fields: Vec<super::tools::FieldInput>,
    customer: Vec<(String, String)>,
    organization: Option<seva_store::organizations::Organization>,
    copy: Vec<(String, Option<String>)>,
    /// Where a reply goes by email (email conversations).
    mailed_to: Option<String>,
    /// Where a phone conversation's reply is mailed, and from which inbox.
    phone_mail: Option<(String, String)>,
    /// Whether the customer is blocked (what they send is filed as spam).
    blocked: bool,
    suggested: Vec<super::knowledge::Suggestion>,
    refused: Option<Refused>,
    /// Whether the reply box starts as an internal note.
    note_first: bool,
}

#[derive(askama::Template)]
#[template(path = "conversation_live.html")]
struct ConversationLive {
    t: Tr,
    me_csrf: String,
    teams: Vec<(TeamId, String, bool)>,
    transfer: Option<TransferView>,
    tasks: Vec<TaskView>,
    c: Conversation,
    owner_name: String,
    team_name: String,
    messages: Vec<MessageView>,
    activity: Vec<(String, String, String)>,
}

/// The conversation page's side column: who owns it, its team, status and priority, as
/// forms. Fetched again, like the timeline, when the conversation changes.
#[derive(askama::Template)]
#[template(path = "conversation_side.html")]
struct ConversationSide {
    t: Tr,
    me_csrf: String,
    me_id: AgentId,
    c: Conversation,
    statuses: Vec<(&'static str, String)>,
    priorities: Vec<(&'static str, String)>,
    agents: Vec<(AgentId, String, bool)>,
    teams: Vec<(TeamId, String, bool)>,
    macros: Vec<(seva_core::MacroId, String)>,
    fields: Vec<super::tools::FieldInput>,
    /// How to reach the customer: each identity's kind, in the agent's words, and value.
    customer: Vec<(String, String)>,
    /// The customer's organization, if they belong to one.
    organization: Option<seva_store::organizations::Organization>,
    /// Who else receives the replies of an email conversation.
    copy: Vec<(String, Option<String>)>,
    /// Whether the customer is blocked (what they send is filed as spam).
    blocked: bool,
}

#[derive(Deserialize)]
pub struct PartialQuery {
    partial: Option<String>,
}

/// One line of the activity list for an event, in the agent's language.
/// Who did it: an agent by name, the customer, a rule, or Seva itself (its clocks,
/// routing, the bot, what it files as spam, the command line).
pub(super) fn actor_name(t: Tr, actor: &str, names: &[(AgentId, String)]) -> String {
    match actor.split_once(':') {
        Some(("agent", id)) => id
            .parse::<AgentId>()
            .ok()
            .and_then(|id| names.iter().find(|(a, _)| *a == id).map(|(_, n)| n.clone()))
            .unwrap_or_else(|| t.s("nobody")),
        Some(("contact", _)) => t.s("customer"),
        Some(("rule", _)) => t.s("actor-rule"),
        _ => t.s("actor-seva"),
    }
}

fn describe(
    t: Tr,
    e: &seva_store::Event,
    names: &[(AgentId, String)],
    team_names: &[(TeamId, String)],
) -> String {
    let agent_name = |key: &str| {
        e.data
            .get(key)
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<AgentId>().ok())
            .and_then(|id| names.iter().find(|(a, _)| *a == id).map(|(_, n)| n.clone()))
            .unwrap_or_else(|| t.s("nobody"))
    };
    let actor = actor_name(t, &e.actor, names);
    let word = |key: &str, prefix: &str| {
        e.data
            .get(key)
            .and_then(|v| v.as_str())
            .map(|w| t.word(prefix, w))
            .unwrap_or_default()
    };
    match e.kind.as_str() {
        "conversation.created" => t.a("event-created", "actor", actor),
        "message.created" => t.a("event-message", "actor", actor),
        "conversation.assigned" => format!("{} → {}", actor, agent_name("owner_id")),
        "conversation.team_changed" => {
            let team = e
                .data
                .get("team_id")
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<TeamId>().ok())
                .and_then(|id| {
                    team_names
                        .iter()
                        .find(|(tid, _)| *tid == id)
                        .map(|(_, n)| n.clone())
                })
                .unwrap_or_else(|| t.s("no-team"));
            format!("{actor} → {}: {team}", t.s("team"))
        }
        "conversation.status_changed" => format!(
            "{actor}: {} → {}",
            word("from", "status"),
            word("to", "status")
        ),
        "conversation.priority_changed" => format!(
            "{actor}: {} → {}",
            word("from", "priority"),
            word("to", "priority")
        ),
        "conversation.subject" => {
            let text = |key: &str| e.data.get(key).and_then(|v| v.as_str()).unwrap_or_default();
            format!("{actor}: «{}» → «{}»", text("from"), text("to"))
        }
        "conversation.channel_changed" => format!(
            "{actor}: {} → {}",
            word("from", "channel"),
            word("to", "channel")
        ),
        "message.delivery" => format!("{}: {}", t.s("delivery"), word("delivery", "delivery")),
        other => format!("{actor}: {other}"),
    }
}

pub async fn conversation(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Query(q): Query<PartialQuery>,
) -> Result<Response, PageError> {
    let id = parse_conversation(agent.tr(), &id)?;
    show(&state, &agent, id, q.partial.as_deref(), None).await
}

/// A reply the store refused, shown on the conversation page above the reply box, with
/// what the agent wrote still in it.
struct Refused {
    title: String,
    detail: String,
    text: String,
    note: bool,
}

/// The conversation page, or one of its parts (`partial`: the side column, or the
/// timeline), with a refused reply when there is one.
async fn show(
    state: &Shared,
    agent: &Agent,
    id: ConversationId,
    partial: Option<&str>,
    refused: Option<Refused>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let viewer = agent.0.viewer();
    let me_id = viewer.agent_id;
    let (c, list, events, names, team_names, ((transfer, tasks), macros, defs, party, told)) = state
        .store
        .read(op!(c => {
            let conv = conversations::get_for(c, &viewer, id).await?;
            let list = messages::for_conversation(c, id, true).await?;
            let events = seva_store::events::for_conversation(c, id).await?;
            let names = agent_names(c).await?;
            let teams: Vec<(TeamId, String)> = teams::list(c).await?.into_iter().map(|tm| (tm.id, tm.name)).collect();
            let work = super::work::of_conversation(c, &viewer, id, &names, &teams).await?;
            let macros: Vec<(seva_core::MacroId, String)> = seva_store::macros::list(c, conv.language.as_deref())
                .await?
                .into_iter()
                .map(|m| (m.id, m.name))
                .collect();
            let defs = seva_store::fields::list(c, Some(conv.team_id)).await?;
            let party = party_of(c, &conv).await?;
            let told = seva_store::notifications::any_unread_about(c, me_id, id).await?;
            Ok((conv, list, events, names, teams, (work, macros, defs, party, told)))
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    // Opening the conversation reads what the agent was told about it (so it is not
    // mailed to them later); a read first, so that most page views write nothing.
    if told {
        state
            .store
            .write(op!(c => seva_store::notifications::mark_read_about(c, me_id, id).await))
            .await
            .map_err(|e| PageError(e.into(), t))?;
    }
    let owner_name = c
        .owner_id
        .and_then(|o| names.iter().find(|(a, _)| *a == o).map(|(_, n)| n.clone()))
        .unwrap_or_else(|| t.s("nobody"));
    let team_name = c
        .team_id
        .and_then(|tid| {
            team_names
                .iter()
                .find(|(x, _)| *x == tid)
                .map(|(_, n)| n.clone())
        })
        .unwrap_or_else(|| t.s("no-team"));
    let activity = events
        .iter()
        .map(|e| {
            (
                e.created_at.rfc3339(),
                short_time(e.created_at),
                describe(t, e, &names, &team_names),
            )
        })
        .collect();
    // What the customer asked, for the articles beside the reply box.
    let question = std::iter::once(c.subject.clone())
        .chain(
            list.iter()
                .rev()
                .filter(|m| m.kind == seva_core::conversation::MessageKind::Inbound)
                .take(3)
                .map(|m| m.text.clone()),
        )
        .collect::<Vec<_>>()
        .join("\n");
    let mut messages = message_views(t, list, |a| format!("/api/v1/attachments/{}", a.id));
    let may_redact = agent.0.agent.role.sees_every_team();
    for m in &mut messages {
        m.redactable = may_redact && !m.redacted && m.kind != MessageKind::System;
    }
    let teams: Vec<(TeamId, String, bool)> = team_names
        .iter()
        .map(|(tid, n)| (*tid, n.clone(), Some(*tid) == c.team_id))
        .collect();
    let (statuses, priorities) = choices(t);
    let fields = super::tools::field_inputs(&defs, &c.custom_fields);
    let Party {
        identities,
        organization,
        copy,
        mailed_to,
        phone_mail,
        blocked,
    } = party;
    let customer = identities
        .into_iter()
        .map(|i| (t.word("identity", i.kind.as_str()), i.value))
        .collect();
    let agents = names
        .iter()
        .map(|(a, n)| (*a, n.clone(), Some(*a) == c.owner_id))
        .collect();
    match partial {
        Some("side") => {
            return Ok(render(&ConversationSide {
                t,
                me_csrf: agent.0.csrf().to_string(),
                me_id: agent.0.agent.id,
                c,
                statuses,
                priorities,
                agents,
                teams,
                macros,
                fields,
                customer,
                organization,
                copy,
                blocked,
            }));
        }
        Some(_) => {
            return Ok(render(&ConversationLive {
                t,
                me_csrf: agent.0.csrf().to_string(),
                teams,
                transfer,
                tasks,
                c,
                owner_name,
                team_name,
                messages,
                activity,
            }));
        }
        None => {}
    }
    let suggested = super::knowledge::suggestions(state, &question, c.language.as_deref()).await;
    let note_first = refused
        .as_ref()
        .map_or(c.channel == Channel::Voice, |r| r.note);
    let status = match &refused {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let page = render(&ConversationPage {
        suggested,
        refused,
        note_first,
        t,
        me: Some(me(&agent.0)),
        languages: LANGUAGES,
        me_csrf: agent.0.csrf().to_string(),
        me_id: agent.0.agent.id,
        c,
        owner_name,
        team_name,
        messages,
        activity,
        statuses,
        priorities,
        agents,
        teams,
        transfer,
        tasks,
        macros,
        fields,
        customer,
        organization,
        copy,
        mailed_to,
        phone_mail,
        blocked,
    });
    Ok((status, page).into_response())
}

/// Who a conversation is with, for its page: how to reach them, their organization, who
/// else is in copy, and where a reply is mailed (email conversations).
struct Party {
    identities: Vec<seva_store::contacts::Identity>,
    organization: Option<seva_store::organizations::Organization>,
    copy: Vec<(String, Option<String>)>,
    mailed_to: Option<String>,
    /// A phone conversation's reply: the address it is mailed to and the inbox's name.
    phone_mail: Option<(String, String)>,
    blocked: bool,
}

async fn party_of(c: &mut dyn seva_store::Conn, conv: &Conversation) -> seva_store::Result<Party> {
    let contact = contacts::get(c, conv.contact_id).await?;
    let organization = match contact.organization_id {
        Some(o) => Some(seva_store::organizations::get(c, o).await?),
        None => None,
    };
    let (copy, mailed_to) = match conv.channel {
        Channel::Email => (
            seva_store::email::participants(c, conv.id).await?,
            seva_store::email::reply_address(c, conv).await?,
        ),
        _ => (Vec::new(), None),
    };
    let phone_mail = match conv.channel {
        Channel::Voice => seva_store::email::phone_reply_route(c, conv)
            .await?
            .map(|(to, inbox)| (to, inbox.name)),
        _ => None,
    };
    Ok(Party {
        identities: contact.identities,
        organization,
        copy,
        mailed_to,
        phone_mail,
        blocked: contact.blocked_at.is_some(),
    })
}

pub(super) fn back_to(id: ConversationId) -> Response {
    Redirect::to(&format!("/conversations/{id}")).into_response()
}

fn parse_conversation(t: Tr, id: &str) -> Result<ConversationId, PageError> {
    id.parse().map_err(|_| PageError(Problem::not_found(), t))
}

/// Makes one change to a conversation from its page, in the writer, and goes back to the
/// page: `f` is the store's call, given the agent as viewer and the conversation's id.
async fn change<T, F>(
    state: &Shared,
    agent: &Agent,
    id: ConversationId,
    f: F,
) -> Result<Response, PageError>
where
    T: Send + 'static,
    F: for<'c> FnOnce(
            &'c mut dyn seva_store::Conn,
            Viewer,
            ConversationId,
        ) -> seva_store::BoxFuture<'c, seva_store::Result<T>>
        + Send
        + 'static,
{
    let viewer = agent.0.viewer();
    state
        .store
        .write(move |conn: &mut dyn seva_store::Conn| f(conn, viewer, id))
        .await
        .map_err(|e| PageError(e.into(), agent.tr()))?;
    Ok(back_to(id))
}

/// An agent's reply or note from the conversation page, with any files.
pub async fn reply(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    multipart: axum::extract::Multipart,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let mut form = super::read_multipart(multipart, state.config.max_attachment_bytes)
        .await
        .map_err(|(field, detail)| PageError(Problem::bad_request(field, detail), t))?;
    agent.check_csrf(&form.take("csrf"))?;
    let id = parse_conversation(t, &id)?;
    let text = form.take("text");
    let kind = if form.take("kind") == "note" {
        MessageKind::Note
    } else {
        MessageKind::Outbound
    };
    let status = form.take("status");
    let then = if status.is_empty() {
        None
    } else {
        Some(
            status
                .parse::<Status>()
                .map_err(|e| PageError(Problem::bad_request("status", e.to_string()), t))?,
        )
    };
    let written = match crate::api::conversations::check_text("text", &text) {
        Err(problem) => Err(problem),
        Ok(()) => {
            let files = super::store_uploads(&state, form.files)
                .await
                .map_err(|_| PageError(Problem::internal(), t))?;
            let viewer = agent.0.viewer();
            let text = text.clone();
            state
                .store
                .write(op!(c => conversations::reply(c, &viewer, id, Reply { text: &text, kind, files: &files, then }).await))
                .await
                .map_err(Problem::from)
        }
    };
    if let Err(problem) = written {
        // What the agent can mend (an empty or overlong text, a closed conversation, a
        // phone reply with nowhere to go) is said on the conversation's own page, with
        // the words still in the box; anything else is an error page.
        if !matches!(
            problem.status,
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT | StatusCode::BAD_REQUEST
        ) {
            return Err(PageError(problem, t));
        }
        let refused = Refused {
            title: t.s("reply-refused"),
            detail: problem.detail,
            text,
            note: kind == MessageKind::Note,
        };
        return show(&state, &agent, id, None, Some(refused)).await;
    }
    state
        .metrics
        .messages_created
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // `sent` tells the page's script that the draft kept in the browser went out.
    Ok(Redirect::to(&format!("/conversations/{id}?sent=1")).into_response())
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    csrf: String,
    owner: Option<String>,
    team: Option<String>,
}

pub async fn assign(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<AssignForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id = parse_conversation(t, &id)?;
    let owner = match form.owner.as_deref() {
        None => None,
        Some("none") | Some("") => Some(None),
        Some(o) => Some(Some(o.parse::<AgentId>().map_err(|_| {
            PageError(Problem::bad_request("owner", "not an agent"), t)
        })?)),
    };
    let team = match form.team.as_deref() {
        None => None,
        Some("none") | Some("") => Some(None),
        Some(tm) => {
            Some(Some(tm.parse::<TeamId>().map_err(|_| {
                PageError(Problem::bad_request("team", "not a team"), t)
            })?))
        }
    };
    change(&state, &agent, id, move |c, v, id| {
        Box::pin(async move { conversations::assign(c, &v, id, Assignment { owner, team }).await })
    })
    .await
}

#[derive(Deserialize)]
pub struct FollowForm {
    #[serde(default)]
    csrf: String,
    /// "1" to follow, anything else to stop.
    #[serde(default)]
    follow: String,
}

/// The agent follows the conversation (told of every new message in it), or stops.
pub async fn follow(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<FollowForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id = parse_conversation(t, &id)?;
    let (me, on) = (agent.0.agent.id, form.follow == "1");
    change(&state, &agent, id, move |c, v, id| {
        Box::pin(async move { conversations::set_following(c, &v, id, me, on).await })
    })
    .await
}

#[derive(Deserialize)]
pub struct SubjectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: String,
}

/// Renames the conversation.
pub async fn subject(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<SubjectForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id = parse_conversation(t, &id)?;
    change(&state, &agent, id, move |c, v, id| {
        Box::pin(async move { conversations::set_subject(c, &v, id, &form.subject).await })
    })
    .await
}

#[derive(Deserialize)]
pub struct SpamForm {
    #[serde(default)]
    csrf: String,
    /// "1" marks it spam (and blocks the sender), anything else undoes that.
    #[serde(default)]
    spam: String,
}

/// Marks the conversation as spam, blocking its sender, or undoes that.
pub async fn spam(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<SpamForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id = parse_conversation(t, &id)?;
    let spam = form.spam == "1";
    change(&state, &agent, id, move |c, v, id| {
        Box::pin(async move { conversations::set_spam(c, &v, id, spam).await })
    })
    .await
}

#[derive(Deserialize)]
pub struct CopyForm {
    #[serde(default)]
    csrf: String,
    /// Addresses to put in copy, separated by commas or spaces.
    #[serde(default)]
    add: String,
    /// One address to take out.
    #[serde(default)]
    remove: String,
}

/// Puts people in copy of an email conversation, or takes one out.
pub async fn copy(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<CopyForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id = parse_conversation(t, &id)?;
    let add = super::addresses(&form.add);
    let remove: Vec<String> = Some(form.remove.trim().to_string())
        .filter(|r| !r.is_empty())
        .into_iter()
        .collect();
    change(&state, &agent, id, move |c, v, id| {
        Box::pin(async move { seva_store::email::set_copy(c, &v, id, &add, &remove).await })
    })
    .await
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
}

pub async fn status(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id = parse_conversation(t, &id)?;
    let to: Status = form
        .status
        .parse()
        .map_err(|e: seva_core::conversation::UnknownWord| {
            PageError(Problem::bad_request("status", e.to_string()), t)
        })?;
    change(&state, &agent, id, move |c, v, id| {
        Box::pin(async move { conversations::set_status(c, &v, id, to).await })
    })
    .await
}

#[derive(Deserialize)]
pub struct PriorityForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    priority: String,
}

pub async fn priority(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<PriorityForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id = parse_conversation(t, &id)?;
    let to: Priority =
        form.priority
            .parse()
            .map_err(|e: seva_core::conversation::UnknownWord| {
                PageError(Problem::bad_request("priority", e.to_string()), t)
            })?;
    change(&state, &agent, id, move |c, v, id| {
        Box::pin(async move { conversations::set_priority(c, &v, id, to).await })
    })
    .await
}

#[derive(Deserialize)]
pub struct TagForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    add: String,
}

pub async fn tags(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<TagForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id = parse_conversation(t, &id)?;
    let add: Vec<String> = form
        .add
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    change(&state, &agent, id, move |c, v, id| {
        Box::pin(async move { conversations::set_tags(c, &v, id, &add, &[]).await })
    })
    .await
}

#[derive(askama::Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    q: String,
    contacts: Vec<Contact>,
    csrf: String,
    organizations: Vec<seva_store::organizations::Organization>,
    /// The new-contact form as sent, shown again with its refusal.
    draft: NewContactForm,
    error: Option<String>,
    /// After an erasure: how many conversations went with the contact.
    erased: Option<usize>,
}

#[derive(Deserialize)]
pub struct ContactsQuery {
    q: Option<String>,
    /// After an erasure: how many conversations went with the contact.
    erased: Option<usize>,
}

async fn contacts_page(
    state: &Shared,
    agent: &Agent,
    q: String,
    draft: NewContactForm,
    error: Option<String>,
    erased: Option<usize>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let search = q.clone();
    let (list, organizations) = state
        .store
        .read(op!(c => Ok((
            contacts::list(c, Some(&search), 100).await?,
            seva_store::organizations::list(c).await?,
        ))))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let refused = error.is_some();
    let page = ContactsPage {
        t,
        me: Some(me(&agent.0)),
        languages: LANGUAGES,
        q,
        contacts: list,
        csrf: agent.0.csrf().to_string(),
        organizations,
        draft,
        error,
        erased,
    };
    Ok(super::render_form(&page, refused))
}

pub async fn contacts(
    State(state): State<Shared>,
    agent: Agent,
    Query(query): Query<ContactsQuery>,
) -> Result<Response, PageError> {
    let q = query.q.unwrap_or_default();
    contacts_page(
        &state,
        &agent,
        q,
        NewContactForm::default(),
        None,
        query.erased,
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct NewContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// An email address or a phone number, as typed.
    #[serde(default)]
    reach: String,
    #[serde(default)]
    organization: String,
}

/// Adds a contact by hand and opens their page.
pub async fn contact_create(
    State(state): State<Shared>,
    agent: Agent,
    Form(form): Form<NewContactForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let identity = seva_core::contact::typed_identity(&form.reach)
        .map_err(|_| seva_store::Error::invalid("reach", t.s("contact-merge-unreadable")));
    let organization = match form.organization.trim() {
        "" => Ok(None),
        o => o
            .parse()
            .map(Some)
            .map_err(|_| seva_store::Error::invalid("organization_id", "no such organization")),
    };
    let actor = agent.0.viewer().actor();
    let made = match (identity, organization) {
        (Ok((kind, value)), Ok(org)) => {
            let name = form.name.clone();
            state
                .store
                .write(op!(c => contacts::create(c, &name, (kind, &value), org, &actor).await))
                .await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match made {
        Ok(c) => Ok(Redirect::to(&format!("/contacts/{}", c.id)).into_response()),
        Err(e) => {
            let error = match e {
                seva_store::Error::Conflict(why) => format!("reach: {why}"),
                e => super::refusal(e, t)?,
            };
            contacts_page(&state, &agent, String::new(), form, Some(error), None).await
        }
    }
}

#[derive(askama::Template)]
#[template(path = "contact.html")]
struct ContactPage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    contact: Contact,
    rows: Vec<Row>,
    next: Option<String>,
    /// Shown in the inbox only.
    followups: Vec<seva_store::transfers::Task>,
    notices: Vec<seva_store::notifications::Notification>,
    waiting: bool,
    csrf: String,
    selectable: bool,
    /// Supervisors and admins merge contacts.
    may_merge: bool,
    /// Admins export and erase a contact's data.
    may_erase: bool,
    saved: bool,
    /// What the contact form said no to, if anything.
    error: Option<String>,
    /// The contact's language when the desk has no translation for it (the form keeps it).
    unlisted_language: Option<String>,
    /// "New conversation" with this contact filled in.
    start_href: String,
    /// The organizations the contact may belong to, and the one it does.
    organizations: Vec<seva_store::organizations::Organization>,
    organization: Option<seva_store::organizations::Organization>,
}

#[derive(Deserialize)]
pub struct ContactQuery {
    saved: Option<String>,
}

pub async fn contact(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Query(q): Query<ContactQuery>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let id: ContactId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    contact_page(&state, &agent, id, q.saved.is_some(), None).await
}

async fn contact_page(
    state: &Shared,
    agent: &Agent,
    id: ContactId,
    saved: bool,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    let viewer = agent.0.viewer();
    let (contact, list, names, organizations) = state
        .store
        .read(op!(c => {
            let contact = contacts::get(c, id).await?;
            let filter = Filter { contact: Some(id), ..Filter::default() };
            let (list, _) = conversations::list(c, &viewer, &filter, None, 200).await?;
            let names = agent_names(c).await?;
            let organizations = seva_store::organizations::list(c).await?;
            Ok((contact, list, names, organizations))
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    // A contact merged away lives on in the one it was merged into.
    if let Some(into) = contact.merged_into {
        return Ok(Redirect::to(&format!("/contacts/{into}")).into_response());
    }
    let rows = rows(t, list, &names);
    let unlisted_language = contact
        .language
        .clone()
        .filter(|l| !LANGUAGES.iter().any(|(code, _)| code == l));
    let refused = error.is_some();
    // Their email address if they have one (the answer can go by email), else their phone.
    let reach = [IdentityKind::Email, IdentityKind::Phone]
        .iter()
        .find_map(|k| contact.identities.iter().find(|i| i.kind == *k));
    let mut start = form_urlencoded::Serializer::new(String::new());
    if let Some(i) = reach {
        start.append_pair("contact", &i.value);
    }
    start.append_pair("name", &contact.name);
    let start_href = format!("/conversations/new?{}", start.finish());
    let organization = organizations
        .iter()
        .find(|o| Some(o.id) == contact.organization_id)
        .cloned();
    let page = ContactPage {
        t,
        me: Some(me(&agent.0)),
        languages: LANGUAGES,
        contact,
        rows,
        next: None,
        followups: Vec::new(),
        notices: Vec::new(),
        waiting: false,
        csrf: agent.0.csrf().to_string(),
        selectable: false,
        may_merge: agent.0.agent.role.sees_every_team(),
        may_erase: agent.0.agent.role.manages_users(),
        saved,
        error,
        unlisted_language,
        start_href,
        organization,
        organizations,
    };
    Ok(super::render_form(&page, refused))
}

#[derive(Deserialize)]
pub struct ContactForm {
    csrf: String,
    name: String,
    /// A language tag, or empty for not known.
    #[serde(default)]
    language: String,
    /// An organization id, or empty for none; a form without the field leaves it.
    organization: Option<String>,
}

/// Renames a contact and sets the language they are answered in and their organization.
pub async fn contact_update(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<ContactForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: ContactId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let language = form.language.trim().to_string();
    if !language.is_empty() && !seva_core::text::is_language_tag(&language) {
        let error = format!("language: {language:?} is not a language tag such as 'te' or 'el'");
        return contact_page(&state, &agent, id, false, Some(error)).await;
    }
    let organization = match form.organization.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(o) => match o.parse() {
            Ok(o) => Some(Some(o)),
            Err(_) => {
                let error = "organization_id: no such organization".to_string();
                return contact_page(&state, &agent, id, false, Some(error)).await;
            }
        },
    };
    let actor = agent.0.viewer().actor();
    let name = form.name;
    let done = state
        .store
        .write(op!(c => {
            contacts::update(c, id, Some(&name), Some(language.as_str()).filter(|l| !l.is_empty()), organization, None, &actor).await
        }))
        .await;
    match done {
        Ok(_) => Ok(Redirect::to(&format!("/contacts/{id}?saved=1")).into_response()),
        Err(e) => {
            let error = super::refusal(e, t)?;
            contact_page(&state, &agent, id, false, Some(error)).await
        }
    }
}

#[derive(Deserialize)]
pub struct IdentityForm {
    #[serde(default)]
    csrf: String,
    /// An email address or a phone number, as typed.
    #[serde(default)]
    value: String,
    /// With `value` as stored, to take it away: `email` or `phone`.
    #[serde(default)]
    kind: String,
}

/// Gives the contact another email address or phone number.
pub async fn identity_add(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<IdentityForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: ContactId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let (kind, value) = match seva_core::contact::typed_identity(&form.value) {
        Ok(identity) => identity,
        Err(_) => {
            let error = format!("value: {}", t.s("contact-merge-unreadable"));
            return contact_page(&state, &agent, id, false, Some(error)).await;
        }
    };
    let actor = agent.0.viewer().actor();
    let done = state
        .store
        .write(op!(c => contacts::add_identity(c, id, kind, &value, &actor).await))
        .await;
    identity_changed(&state, &agent, id, done).await
}

/// Takes an email address or phone number from the contact.
pub async fn identity_remove(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<IdentityForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: ContactId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let Ok(kind) = form.kind.parse::<IdentityKind>() else {
        return Err(PageError(Problem::bad_request("kind", "email or phone"), t));
    };
    let actor = agent.0.viewer().actor();
    let value = form.value;
    let done = state
        .store
        .write(op!(c => contacts::remove_identity(c, id, kind, &value, &actor).await))
        .await;
    identity_changed(&state, &agent, id, done).await
}

/// The contact's page after a change to its identities: saved, or the refusal shown.
async fn identity_changed(
    state: &Shared,
    agent: &Agent,
    id: ContactId,
    done: seva_store::Result<Contact>,
) -> Result<Response, PageError> {
    match done {
        Ok(_) => Ok(Redirect::to(&format!("/contacts/{id}?saved=1")).into_response()),
        Err(seva_store::Error::Conflict(why)) => {
            contact_page(state, agent, id, false, Some(format!("value: {why}"))).await
        }
        Err(e) => {
            let error = super::refusal(e, agent.tr())?;
            contact_page(state, agent, id, false, Some(error)).await
        }
    }
}

#[derive(Deserialize)]
pub struct MergeForm {
    csrf: String,
    /// The email address or phone number of the contact that stays.
    into: String,
}

/// Merges this contact into another, found by an email address or phone number: its
/// identities and conversations move there, and the page of the one that stays opens.
pub async fn contact_merge(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<MergeForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    if !agent.0.agent.role.sees_every_team() {
        return Err(PageError(
            Problem::forbidden("only supervisors and admins merge contacts"),
            t,
        ));
    }
    let id: ContactId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let Ok((kind, value)) = seva_core::contact::typed_identity(&form.into) else {
        let error = format!("into: {}", t.s("contact-merge-unreadable"));
        return contact_page(&state, &agent, id, false, Some(error)).await;
    };
    let actor = agent.0.viewer().actor();
    let merged = state
        .store
        .write(op!(c => {
            let into = contacts::by_identity(c, kind, &value).await.map_err(|e| match e {
                seva_store::Error::NotFound => seva_store::Error::invalid("into", "no contact has this address or number"),
                e => e,
            })?;
            contacts::merge(c, id, into, &actor).await
        }))
        .await;
    match merged {
        Ok(into) => Ok(Redirect::to(&format!("/contacts/{}?saved=1", into.id)).into_response()),
        Err(e) => {
            let error = super::refusal(e, t)?;
            contact_page(&state, &agent, id, false, Some(error)).await
        }
    }
}

#[derive(Deserialize)]
pub struct BlockForm {
    csrf: String,
    /// "1" blocks the contact, anything else lets them write again.
    #[serde(default)]
    blocked: String,
}

/// Blocks a contact (what they send is filed as spam) or lets them write again.
pub async fn contact_block(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<BlockForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: ContactId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let (actor, blocked) = (agent.0.viewer().actor(), form.blocked == "1");
    state
        .store
        .write(op!(c => contacts::set_blocked(c, id, blocked, &actor).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(Redirect::to(&format!("/contacts/{id}?saved=1")).into_response())
}

/// A form for what cannot be undone (an erasure, a redaction): sent with its box ticked.
#[derive(Deserialize)]
pub struct ConfirmedForm {
    csrf: String,
    /// The box "this cannot be undone": `1` when ticked.
    #[serde(default)]
    confirm: String,
}

/// Erases a contact and everything the desk holds about them (admins), once the admin
/// has ticked that it cannot be undone; back to the contacts, saying how much went.
pub async fn contact_erase(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: ContactId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    if !agent.0.agent.role.manages_users() {
        return Err(PageError(
            Problem::forbidden("only an admin may erase a contact"),
            t,
        ));
    }
    if form.confirm != "1" {
        let error = t.s("contact-erase-unconfirmed");
        return contact_page(&state, &agent, id, false, Some(error)).await;
    }
    let actor = agent.0.viewer().actor();
    let erased = seva_store::privacy::erase_contact(&state.store, id, &actor).await;
    match erased {
        Ok(e) => Ok(Redirect::to(&format!("/contacts?erased={}", e.conversations)).into_response()),
        Err(e) => {
            let error = super::refusal(e, t)?;
            contact_page(&state, &agent, id, false, Some(error)).await
        }
    }
}

/// Takes the words out of one message (supervisors and admins), once the box saying it
/// cannot be undone is ticked; back to its conversation.
pub async fn message_redact(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    Form(form): Form<ConfirmedForm>,
) -> Result<Response, PageError> {
    agent.check_csrf(&form.csrf)?;
    let t = agent.tr();
    let id: seva_core::MessageId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    if !agent.0.agent.role.sees_every_team() {
        let refusal = Problem::forbidden("only supervisors and admins redact messages");
        return Err(PageError(refusal, t));
    }
    if form.confirm != "1" {
        let refusal = Problem::bad_request("confirm", t.s("message-redact-unconfirmed"));
        return Err(PageError(refusal, t));
    }
    let (viewer, actor) = (agent.0.viewer(), agent.0.viewer().actor());
    let conversation = state
        .store
        .write(op!(c => {
            seva_store::privacy::redact(c, &viewer, id, &actor).await?;
            Ok(messages::get(c, id).await?.conversation_id)
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(Redirect::to(&format!("/conversations/{conversation}#m-{id}")).into_response())
}

/// The original of an email (.eml), for an agent who may see its conversation.
pub async fn original(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let t = agent.tr();
    crate::api::events::original_for(&state, agent.0.viewer(), &id)
        .await
        .map_err(|e| PageError(e, t))
}
