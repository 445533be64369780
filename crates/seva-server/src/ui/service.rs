//! The admins' service-level page: business-hours calendars, SLA policies and custom
//! field definitions, each listed with a form to add one (the API does the same).

use super::Query;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use seva_core::conversation::{Channel, Priority};
use seva_core::hours::CalendarSpec;
use seva_core::{FieldId, TeamId};
use seva_store::sla::{self, Conditions, NewPolicy};
use seva_store::{Error, fields, op, routing, teams};

use super::settings::{SavedQuery, require_admin};
use super::{Agent, Fields, Me, PageError, render};
use crate::Shared;
use crate::i18n::{LANGUAGES, Tr};
use crate::problem::Problem;

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

pub struct CalendarLine {
    pub name: String,
    pub time_zone: String,
    pub hours: String,
    pub holidays: String,
}

pub struct PolicyLine {
    pub position: i64,
    pub name: String,
    pub applies: String,
    pub calendar: String,
    /// First response, next response, resolution, warning: minutes or "—".
    pub targets: [String; 4],
}

/// A team's routing as its form shows it.
pub struct RoutingLine {
    pub team_id: TeamId,
    pub team: String,
    pub strategy: &'static str,
    pub capacity: String,
    pub chat_capacity: String,
    pub calendar_id: String,
    pub escalate_after_minutes: String,
    pub require_online: bool,
}

pub struct FieldLine {
    pub id: FieldId,
    pub team: String,
    pub key: String,
    pub label: String,
    pub kind: String,
    pub options: String,
}

#[derive(askama::Template)]
#[template(path = "service.html")]
struct ServicePage {
    t: Tr,
    me: Option<Me>,
    languages: &'static [(&'static str, &'static str)],
    csrf: String,
    saved: bool,
    calendars: Vec<CalendarLine>,
    /// Id and name, for the policy form.
    calendar_choices: Vec<(String, String)>,
    policies: Vec<PolicyLine>,
    fields: Vec<FieldLine>,
    teams: Vec<(TeamId, String)>,
    /// Weekday keys with their words.
    days: Vec<(&'static str, String)>,
    priorities: Vec<(&'static str, String)>,
    channels: Vec<(&'static str, String)>,
    kinds: &'static [&'static str],
    routing: Vec<RoutingLine>,
    strategies: Vec<&'static str>,
}

fn minutes(m: Option<i64>) -> String {
    m.map_or_else(|| "—".to_string(), |m| m.to_string())
}

pub async fn page(
    State(state): State<Shared>,
    agent: Agent,
    Query(q): Query<SavedQuery>,
) -> Result<Response, PageError> {
    require_admin(&agent)?;
    let t = agent.tr();
    let (calendars, policies, defs, team_list, routings) = state
        .store
        .read(op!(c => {
            let team_list = teams::list(c).await?;
            let mut routings = Vec::with_capacity(team_list.len());
            for team in &team_list {
                routings.push(routing::team(c, team.id).await?);
            }
            Ok((
                sla::calendars(c).await?,
                sla::policies(c).await?,
                fields::list(c, None).await?,
                team_list,
                routings,
            ))
        }))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    let text = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let routing_lines = team_list
        .iter()
        .zip(&routings)
        .map(|(team, r)| RoutingLine {
            team_id: team.id,
            team: team.name.clone(),
            strategy: r.strategy.as_str(),
            capacity: text(r.capacity),
            chat_capacity: text(r.channel_capacity.get(&Channel::Chat).copied()),
            calendar_id: r.calendar_id.map(|c| c.to_string()).unwrap_or_default(),
            escalate_after_minutes: text(r.escalate_after_minutes),
            require_online: r.require_online,
        })
        .collect();
    let day = |d: &str| t.s(&format!("day-{d}"));
    let calendar_lines = calendars
        .iter()
        .map(|c| CalendarLine {
            name: c.name.clone(),
            time_zone: c.spec.time_zone.clone(),
            hours: DAYS
                .iter()
                .filter_map(|d| {
                    let hours = c.spec.week.get(*d).filter(|h| !h.is_empty())?;
                    let spans: Vec<String> =
                        hours.iter().map(|(a, b)| format!("{a}–{b}")).collect();
                    Some(format!("{} {}", day(d), spans.join(", ")))
                })
                .collect::<Vec<_>>()
                .join("; "),
            holidays: c.spec.holidays.join(", "),
        })
        .collect();
    let calendar_name = |id| {
        calendars
            .iter()
            .find(|c| Some(c.id) == id)
            .map_or_else(|| t.s("service-every-minute"), |c| c.name.clone())
    };
    let policy_lines = policies
        .iter()
        .map(|p| {
            let c = &p.conditions;
            let mut applies: Vec<String> = Vec::new();
            applies.extend(c.priorities.iter().map(|x| t.word("priority", x.as_str())));
            applies.extend(c.channels.iter().map(|x| t.word("channel", x.as_str())));
            applies.extend(
                c.tiers
                    .iter()
                    .map(|x| format!("{}: {x}", t.s("service-tier"))),
            );
            if applies.is_empty() {
                applies.push(t.s("service-all"));
            }
            PolicyLine {
                position: p.position,
                name: p.name.clone(),
                applies: applies.join(", "),
                calendar: calendar_name(p.calendar_id),
                targets: [
                    minutes(p.first_response_minutes),
                    minutes(p.next_response_minutes),
                    minutes(p.resolution_minutes),
                    p.warn_minutes.to_string(),
                ],
            }
        })
        .collect();
    let team_name = |id: Option<TeamId>| {
        id.and_then(|id| team_list.iter().find(|tm| tm.id == id))
            .map_or_else(|| t.s("service-every-team"), |tm| tm.name.clone())
    };
    let field_lines = defs
        .into_iter()
        .map(|f| FieldLine {
            id: f.id,
            team: team_name(f.team_id),
            key: f.key,
            label: f.label,
            kind: f.kind,
            options: f.options.join(", "),
        })
        .collect();
    Ok(render(&ServicePage {
        t,
        me: Some(super::me(&agent.0)),
        languages: LANGUAGES,
        csrf: agent.0.csrf().to_string(),
        saved: q.saved.is_some(),
        calendar_choices: calendars
            .iter()
            .map(|c| (c.id.to_string(), c.name.clone()))
            .collect(),
        calendars: calendar_lines,
        policies: policy_lines,
        fields: field_lines,
        teams: team_list
            .iter()
            .map(|tm| (tm.id, tm.name.clone()))
            .collect(),
        days: DAYS.iter().map(|d| (*d, day(d))).collect(),
        priorities: Priority::ALL
            .iter()
            .map(|p| (p.as_str(), t.word("priority", p.as_str())))
            .collect(),
        channels: Channel::ALL
            .iter()
            .map(|c| (c.as_str(), t.word("channel", c.as_str())))
            .collect(),
        kinds: fields::KINDS,
        routing: routing_lines,
        strategies: routing::Strategy::ALL.iter().map(|s| s.as_str()).collect(),
    }))
}

/// Reads and checks a posted form; answers the agent, their words and the fields.
fn posted(agent: &Agent, body: &[u8]) -> Result<Fields, PageError> {
    require_admin(agent)?;
    let form = Fields::parse(body);
    agent.check_csrf(form.one("csrf").unwrap_or(""))?;
    Ok(form)
}

fn saved() -> Response {
    Redirect::to("/settings/service?saved=1").into_response()
}

pub async fn create_calendar(
    State(state): State<Shared>,
    agent: Agent,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = posted(&agent, &body)?;
    let t = agent.tr();
    let mut spec = CalendarSpec {
        time_zone: form.one("time_zone").unwrap_or("UTC").to_string(),
        week: Default::default(),
        holidays: form.list("holidays"),
    };
    for d in DAYS {
        match (
            form.one(&format!("open_{d}")),
            form.one(&format!("close_{d}")),
        ) {
            (Some(open), Some(close)) => {
                spec.week
                    .insert(d.to_string(), vec![(open.to_string(), close.to_string())]);
            }
            (None, None) => {}
            _ => {
                return Err(PageError(
                    Problem::bad_request(format!("week.{d}"), t.s("service-open-and-close")),
                    t,
                ));
            }
        }
    }
    let name = form.one("name").unwrap_or("").to_string();
    state
        .store
        .write(op!(c => sla::create_calendar(c, &name, &spec).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(saved())
}

pub async fn create_policy(
    State(state): State<Shared>,
    agent: Agent,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = posted(&agent, &body)?;
    let t = agent.tr();
    let fail = |e: Error| PageError(e.into(), t);
    let conditions = Conditions {
        priorities: form.words("priorities").map_err(fail)?,
        channels: form.words("channels").map_err(fail)?,
        inbox_id: None,
        tiers: form.list("tiers"),
    };
    let calendar_id = form
        .parsed("calendar_id", "no such calendar")
        .map_err(fail)?;
    let name = form.one("name").unwrap_or("").to_string();
    let position = form.number("position").map_err(fail)?.unwrap_or(0);
    let first = form.number("first_response_minutes").map_err(fail)?;
    let next = form.number("next_response_minutes").map_err(fail)?;
    let resolution = form.number("resolution_minutes").map_err(fail)?;
    let warn = form.number("warn_minutes").map_err(fail)?.unwrap_or(60);
    state
        .store
        .write(op!(c => sla::create_policy(c, NewPolicy {
            name: &name,
            position,
            conditions: &conditions,
            calendar_id,
            first_response_minutes: first,
            next_response_minutes: next,
            resolution_minutes: resolution,
            warn_minutes: warn,
        }).await))
        .await
        .map_err(fail)?;
    Ok(saved())
}

pub async fn create_field(
    State(state): State<Shared>,
    agent: Agent,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = posted(&agent, &body)?;
    let t = agent.tr();
    let fail = |e: Error| PageError(e.into(), t);
    let team: Option<TeamId> = form.parsed("team_id", "no such team").map_err(fail)?;
    let options: Vec<String> = form
        .one("options")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    let (key, label) = (
        form.one("key").unwrap_or("").to_string(),
        form.one("label").unwrap_or("").to_string(),
    );
    let kind = form.one("kind").unwrap_or("").to_string();
    state
        .store
        .write(op!(c => fields::create(c, team, &key, &label, &kind, &options).await))
        .await
        .map_err(fail)?;
    Ok(saved())
}

/// A team's routing: strategy, limits, working hours, escalation, presence.
pub async fn set_routing(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = posted(&agent, &body)?;
    let t = agent.tr();
    let fail = |e: Error| PageError(e.into(), t);
    let team: TeamId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    let strategy = form.one("strategy").unwrap_or("manual");
    let strategy = routing::Strategy::ALL
        .iter()
        .copied()
        .find(|s| s.as_str() == strategy)
        .ok_or_else(|| {
            fail(Error::invalid(
                "strategy",
                format!("{strategy:?} is not a strategy"),
            ))
        })?;
    let mut channel_capacity = std::collections::BTreeMap::new();
    if let Some(n) = form.number("chat_capacity").map_err(fail)? {
        channel_capacity.insert(Channel::Chat, n);
    }
    let settings = routing::TeamRouting {
        strategy,
        capacity: form.number("capacity").map_err(fail)?,
        escalate_after_minutes: form.number("escalate_after_minutes").map_err(fail)?,
        require_online: form.one("require_online").is_some(),
        channel_capacity,
        calendar_id: form
            .parsed("calendar_id", "no such calendar")
            .map_err(fail)?,
    };
    state
        .store
        .write(op!(c => {
            // Limits on other channels, set through the API, are kept.
            let before = routing::team(c, team).await?;
            let mut settings = settings;
            for (channel, n) in before.channel_capacity {
                if channel != Channel::Chat {
                    settings.channel_capacity.insert(channel, n);
                }
            }
            routing::set_team(c, team, &settings).await
        }))
        .await
        .map_err(fail)?;
    Ok(saved())
}

pub async fn delete_field(
    State(state): State<Shared>,
    agent: Agent,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    posted(&agent, &body)?;
    let t = agent.tr();
    let id: FieldId = id.parse().map_err(|_| PageError(Problem::not_found(), t))?;
    state
        .store
        .write(op!(c => fields::delete(c, id).await))
        .await
        .map_err(|e| PageError(e.into(), t))?;
    Ok(saved())
}
