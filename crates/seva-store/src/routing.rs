//! Routing: a team whose strategy is not manual gives each new conversation to one of its
//! agents at once, in the transaction that creates it. Candidates are the team's enabled,
//! available members under the team's capacity; a conversation in a known language goes
//! only to those who speak it, and stays in the team's queue when none can take it.
//! Round robin continues after the last agent it chose; least busy takes the agent with
//! the fewest active conversations. On PostgreSQL the team's routing row is locked, so
//! parallel arrivals are handed out one after another, never twice to the same turn.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use seva_core::conversation::Channel;
use seva_core::hours::{Calendar, CalendarSpec};
use seva_core::time::Timestamp;
use seva_core::{AgentId, CalendarId, ConversationId, TeamId};

use crate::db::{Conn, Dialect};
use crate::{Error, Result, args};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Manual,
    RoundRobin,
    LeastBusy,
    /// The least busy of the agents whose skills include one of the conversation's
    /// topics (its tags, which rules can set from its words); any agent when it has none.
    SkillMatch,
}

impl Strategy {
    pub const ALL: &'static [Strategy] = &[
        Strategy::Manual,
        Strategy::RoundRobin,
        Strategy::LeastBusy,
        Strategy::SkillMatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Manual => "manual",
            Strategy::RoundRobin => "round_robin",
            Strategy::LeastBusy => "least_busy",
            Strategy::SkillMatch => "skill_match",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "round_robin" => Strategy::RoundRobin,
            "least_busy" => Strategy::LeastBusy,
            "skill_match" => Strategy::SkillMatch,
            _ => Strategy::Manual,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TeamRouting {
    pub strategy: Strategy,
    /// Active conversations one agent may own before routing passes them by.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub capacity: Option<i64>,
    /// Minutes a conversation may wait unowned in the team's queue before the supervisors
    /// are told (and `conversation.unassigned_too_long` rules run); none: never.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 43200))]
    pub escalate_after_minutes: Option<i64>,
    /// Give new conversations only to agents whose desk is open (see [`ONLINE_WITHIN`]).
    #[serde(default)]
    pub require_online: bool,
    /// Active conversations of one channel an agent may own (`{"chat": 3, "email": 20}`),
    /// within the total `capacity`; an agent's own limit overrides it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = seva_core::shapes::Capacities))]
    pub channel_capacity: BTreeMap<Channel, i64>,
    /// The team's working hours: outside them new conversations wait in the queue, which
    /// is handed out when the team opens. None: always open.
    #[serde(default)]
    pub calendar_id: Option<CalendarId>,
}

/// Checks a map of limits per channel and gives it as stored (JSON).
fn check_capacity(field: &'static str, limits: &BTreeMap<Channel, i64>) -> Result<()> {
    match limits.iter().find(|(_, c)| **c < 1) {
        Some((channel, _)) => Err(Error::invalid(format!("{field}.{channel}"), "at least 1")),
        None => Ok(()),
    }
}

/// An agent is online while their desk's live stream is open: it says so on connecting
/// and every [`HEARTBEAT`] after; silence longer than this means gone.
pub const ONLINE_WITHIN: i64 = 90_000_000;
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);

/// Records that an agent's desk is open (`true`, now) or closed.
pub async fn set_seen(conn: &mut dyn Conn, agent: AgentId, online: bool) -> Result<()> {
    let seen = online.then(|| crate::now().micros());
    conn.execute(
        "INSERT INTO agent_routing (agent_id, available, languages, seen_at) VALUES ($1, 1, '', $2) \
         ON CONFLICT (agent_id) DO UPDATE SET seen_at = excluded.seen_at",
        args![agent.to_string(), seen],
    )
    .await?;
    Ok(())
}

pub async fn team(conn: &mut dyn Conn, team: TeamId) -> Result<TeamRouting> {
    let row = conn
        .query_opt(
            "SELECT strategy, capacity, escalate_after_minutes, require_online, channel_capacity, calendar_id \
             FROM team_routing WHERE team_id = $1",
            args![team.to_string()],
        )
        .await?;
    Ok(match row {
        Some(r) => TeamRouting {
            strategy: Strategy::parse(&r.text(0)?),
            capacity: r.opt_int(1)?,
            escalate_after_minutes: r.opt_int(2)?,
            require_online: r.bool(3)?,
            channel_capacity: serde_json::from_str(&r.text(4)?)
                .map_err(|e| Error::Decode(format!("channel_capacity: {e}")))?,
            calendar_id: r.opt_parse(5)?,
        },
        None => TeamRouting {
            strategy: Strategy::Manual,
            capacity: None,
            escalate_after_minutes: None,
            require_online: false,
            channel_capacity: BTreeMap::new(),
            calendar_id: None,
        },
    })
}

pub async fn set_team(conn: &mut dyn Conn, team: TeamId, routing: &TeamRouting) -> Result<()> {
    crate::teams::get(conn, team).await?;
    if routing.capacity.is_some_and(|c| c < 1) {
        return Err(Error::invalid("capacity", "at least 1"));
    }
    check_capacity("channel_capacity", &routing.channel_capacity)?;
    if let Some(calendar) = routing.calendar_id
        && conn
            .query_opt(
                "SELECT 1 FROM calendars WHERE id = $1",
                args![calendar.to_string()],
            )
            .await?
            .is_none()
    {
        return Err(Error::invalid("calendar_id", "no such calendar"));
    }
    if routing
        .escalate_after_minutes
        .is_some_and(|m| !(1..=30 * 24 * 60).contains(&m))
    {
        return Err(Error::invalid(
            "escalate_after_minutes",
            "1 minute to 30 days",
        ));
    }
    conn.execute(
        "INSERT INTO team_routing (team_id, strategy, capacity, escalate_after_minutes, require_online, channel_capacity, \
         calendar_id) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (team_id) DO UPDATE SET strategy = excluded.strategy, capacity = excluded.capacity, \
         escalate_after_minutes = excluded.escalate_after_minutes, require_online = excluded.require_online, \
         channel_capacity = excluded.channel_capacity, calendar_id = excluded.calendar_id",
        args![
            team.to_string(),
            routing.strategy.as_str(),
            routing.capacity,
            routing.escalate_after_minutes,
            routing.require_online,
            serde_json::to_string(&routing.channel_capacity).map_err(|e| Error::Decode(e.to_string()))?,
            routing.calendar_id.map(|c| c.to_string())
        ],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentRouting {
    /// Whether routing may give this agent new conversations.
    pub available: bool,
    /// Languages spoken (`te`, `el`, `tl`, `en`…); empty means the language of their pages.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<seva_core::shapes::SpokenLanguage>))]
    pub languages: Vec<String>,
    /// Topics they handle (tags such as `refunds`), for skill-match routing.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<seva_core::shapes::Tag>))]
    pub skills: Vec<String>,
    /// Their own limit per channel (`{"chat": 2}`: two chats at once), over their teams'.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = seva_core::shapes::Capacities))]
    pub channel_capacity: BTreeMap<Channel, i64>,
}

pub async fn agent(conn: &mut dyn Conn, agent: AgentId) -> Result<AgentRouting> {
    let row = conn
        .query_opt(
            "SELECT available, languages, skills FROM agent_routing WHERE agent_id = $1",
            args![agent.to_string()],
        )
        .await?;
    let channel_capacity = conn
        .query(
            "SELECT channel, capacity FROM agent_capacity WHERE agent_id = $1",
            args![agent.to_string()],
        )
        .await?
        .iter()
        .map(|r| {
            let channel = r.text(0)?;
            let channel = channel
                .parse()
                .map_err(|_| Error::Decode(format!("channel {channel}")))?;
            Ok((channel, r.int(1)?))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    Ok(match row {
        Some(r) => AgentRouting {
            available: r.bool(0)?,
            languages: r
                .text(1)?
                .split(',')
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            skills: r
                .text(2)?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            channel_capacity,
        },
        None => AgentRouting {
            available: true,
            languages: Vec::new(),
            skills: Vec::new(),
            channel_capacity,
        },
    })
}

pub async fn set_agent(conn: &mut dyn Conn, agent: AgentId, routing: &AgentRouting) -> Result<()> {
    let mut languages = Vec::new();
    for l in &routing.languages {
        let l = l.trim().to_lowercase();
        if l.is_empty() || l.len() > 8 || !l.chars().all(|c| c.is_ascii_alphabetic() || c == '-') {
            return Err(Error::invalid(
                "languages",
                format!("{l:?} is not a language tag"),
            ));
        }
        languages.push(l);
    }
    let mut skills = Vec::new();
    for s in &routing.skills {
        skills.push(
            seva_core::conversation::normalise_tag(s)
                .map_err(|m| Error::invalid("skills", format!("{s:?}: {m}")))?,
        );
    }
    conn.execute(
        "INSERT INTO agent_routing (agent_id, available, languages, skills) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (agent_id) DO UPDATE SET available = excluded.available, languages = excluded.languages, \
         skills = excluded.skills",
        args![agent.to_string(), routing.available, languages.join(","), skills.join(",")],
    )
    .await?;
    check_capacity("channel_capacity", &routing.channel_capacity)?;
    conn.execute(
        "DELETE FROM agent_capacity WHERE agent_id = $1",
        args![agent.to_string()],
    )
    .await?;
    for (channel, capacity) in &routing.channel_capacity {
        conn.execute(
            "INSERT INTO agent_capacity (agent_id, channel, capacity) VALUES ($1, $2, $3)",
            args![agent.to_string(), channel.as_str(), *capacity],
        )
        .await?;
    }
    Ok(())
}

/// Hands a new conversation of `team` to an agent by the team's strategy. Returns the
/// agent, or `None` when it stays in the team's queue.
pub async fn route(
    conn: &mut dyn Conn,
    conversation: ConversationId,
    team: TeamId,
    language: Option<&str>,
) -> Result<Option<AgentId>> {
    let lock = match conn.dialect() {
        Dialect::Postgres => " FOR UPDATE OF t",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "SELECT t.strategy, t.capacity, t.last_agent_id, t.require_online, t.channel_capacity, c.channel, k.spec \
         FROM team_routing t JOIN conversations c ON c.id = $2 LEFT JOIN calendars k ON k.id = t.calendar_id \
         WHERE t.team_id = $1{lock}"
    );
    let Some(r) = conn
        .query_opt(&sql, args![team.to_string(), conversation.to_string()])
        .await?
    else {
        return Ok(None);
    };
    let strategy = Strategy::parse(&r.text(0)?);
    if strategy == Strategy::Manual {
        return Ok(None);
    }
    if let Some(spec) = r.opt_text(6)?
        && !calendar(&spec)?.is_open(crate::now())
    {
        // Closed: it waits for the opening (see `hand_out_at_opening`).
        conn.execute(
            "UPDATE team_routing SET held_for_opening = 1 WHERE team_id = $1 AND held_for_opening = 0",
            args![team.to_string()],
        )
        .await?;
        return Ok(None);
    }
    let (capacity, last) = (r.opt_int(1)?, r.opt_text(2)?);
    let channel = r.text(5)?;
    // The team's limit on this conversation's channel (-1: none); an agent's own wins.
    let channel_capacity = serde_json::from_str::<BTreeMap<String, i64>>(&r.text(4)?)
        .map_err(|e| Error::Decode(format!("channel_capacity: {e}")))?
        .get(&channel)
        .copied()
        .unwrap_or(-1);
    // Online: seen since this instant; 0 (everyone) when the team does not ask for it.
    let online_since = if r.bool(3)? {
        crate::now().micros() - ONLINE_WITHIN
    } else {
        0
    };
    // The choice is made by the database, which returns the one agent chosen: available,
    // enabled, under capacity (in all, and on this channel), speaking the conversation's language (their spoken
    // languages, or their pages' language when they listed none); then the least loaded
    // (least busy only), then the first after the last one chosen in id order, wrapping
    // around (round robin, and the tie-break of least busy).
    let order = match strategy {
        Strategy::RoundRobin => "",
        _ => "coalesce(l.active, 0), ",
    };
    let skills = match strategy {
        Strategy::SkillMatch => {
            "AND (NOT EXISTS (SELECT 1 FROM conversation_tags g WHERE g.conversation_id = $5) \
             OR EXISTS (SELECT 1 FROM conversation_tags g WHERE g.conversation_id = $5 \
                        AND ',' || coalesce(r.skills, '') || ',' LIKE '%,' || g.tag || ',%'))"
        }
        // Every query takes the same parameters; this one only names the fifth.
        _ => "AND CAST($5 AS TEXT) IS NOT NULL",
    };
    let sql = format!(
        "SELECT a.id FROM team_members m JOIN agents a ON a.id = m.agent_id \
         LEFT JOIN agent_routing r ON r.agent_id = a.id \
         LEFT JOIN agent_load l ON l.agent_id = a.id AND l.channel = '*' \
         LEFT JOIN agent_load h ON h.agent_id = a.id AND h.channel = $7 \
         LEFT JOIN agent_capacity k ON k.agent_id = a.id AND k.channel = $7 \
         WHERE m.team_id = $1 AND a.disabled = 0 AND coalesce(r.available, 1) = 1 \
         AND ($2 < 0 OR coalesce(l.active, 0) < $2) AND coalesce(r.seen_at, 0) >= $6 \
         AND (coalesce(k.capacity, $8) < 0 OR coalesce(h.active, 0) < coalesce(k.capacity, $8)) \
         AND ($3 = '' OR (coalesce(r.languages, '') = '' AND a.language = $3) \
              OR ',' || r.languages || ',' LIKE '%,' || $3 || ',%') {skills} \
         ORDER BY {order}CASE WHEN a.id > $4 THEN 0 ELSE 1 END, a.id LIMIT 1"
    );
    let chosen = conn
        .query_opt(
            &sql,
            args![
                team.to_string(),
                capacity.unwrap_or(-1),
                language.unwrap_or(""),
                last.unwrap_or_default(),
                conversation.to_string(),
                online_since,
                channel.as_str(),
                channel_capacity
            ],
        )
        .await?
        .map(|r| r.text(0))
        .transpose()?;
    let Some(agent) = chosen else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE team_routing SET last_agent_id = $1 WHERE team_id = $2",
        args![agent.as_str(), team.to_string()],
    )
    .await?;
    conn.execute(
        "UPDATE conversations SET owner_id = $1 WHERE id = $2",
        args![agent.as_str(), conversation.to_string()],
    )
    .await?;
    let agent: AgentId = agent
        .parse()
        .map_err(|_| Error::Decode("agent id".into()))?;
    crate::events::append(
        conn,
        "conversation.assigned",
        Some(conversation),
        "system:routing",
        serde_json::json!({"owner_id": agent, "previous_owner_id": null, "strategy": strategy}),
    )
    .await?;
    Ok(Some(agent))
}

/// Urgent first, then high, normal, low; within a priority, the longest waiting first.
const QUEUE_ORDER: &str = "CASE c.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, c.created_at, c.seq";

/// One conversation waiting in a team's queue.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Waiting {
    pub conversation_id: ConversationId,
    pub reference: i64,
    pub subject: String,
    pub priority: String,
    pub language: Option<String>,
    pub created_at: seva_core::time::Timestamp,
    /// Microseconds since it arrived.
    pub waited: i64,
}

/// A team's queue: its active conversations that no one owns, in the order they will be
/// handed out.
pub async fn queue(conn: &mut dyn Conn, team: TeamId, limit: i64) -> Result<Vec<Waiting>> {
    let now = crate::now().micros();
    let sql = format!(
        "SELECT c.id, c.seq, c.subject, c.priority, c.language, c.created_at FROM conversations c \
         WHERE c.team_id = $1 AND c.active = 1 AND c.owner_id IS NULL ORDER BY {QUEUE_ORDER} LIMIT $2"
    );
    conn.query(&sql, args![team.to_string(), limit])
        .await?
        .iter()
        .map(|r| {
            let created = r.int(5)?;
            Ok(Waiting {
                conversation_id: r.parse(0)?,
                reference: r.int(1)?,
                subject: r.text(2)?,
                priority: r.text(3)?,
                language: r.opt_text(4)?,
                created_at: seva_core::time::Timestamp(created),
                waited: (now - created).max(0),
            })
        })
        .collect()
}

fn calendar(spec: &str) -> Result<Calendar> {
    serde_json::from_str::<CalendarSpec>(spec)
        .map_err(|e| Error::Decode(format!("calendar: {e}")))?
        .build()
        .map_err(|e| Error::Decode(format!("calendar: {e}")))
}

/// The teams that held conversations back while closed and are open at `now`.
async fn opened(conn: &mut dyn Conn, now: Timestamp) -> Result<Vec<TeamId>> {
    let mut teams = Vec::new();
    for r in conn
        .query(
            "SELECT t.team_id, k.spec FROM team_routing t JOIN calendars k ON k.id = t.calendar_id \
             WHERE t.held_for_opening = 1",
            args![],
        )
        .await?
    {
        if calendar(&r.text(1)?)?.is_open(now) {
            teams.push(r.parse(0)?);
        }
    }
    Ok(teams)
}

/// Whether a team that held conversations back has opened (a read of the teams that did).
pub async fn opening_due(conn: &mut dyn Conn, now: Timestamp) -> Result<bool> {
    Ok(!opened(conn, now).await?.is_empty())
}

/// Hands out the queue of each team that held conversations back and is now open.
/// Returns how many were handed out.
pub async fn hand_out_at_opening(conn: &mut dyn Conn, now: Timestamp) -> Result<usize> {
    let mut given = 0;
    for team in opened(conn, now).await? {
        conn.execute(
            "UPDATE team_routing SET held_for_opening = 0 WHERE team_id = $1",
            args![team.to_string()],
        )
        .await?;
        given += drain(conn, team).await?;
    }
    Ok(given)
}

/// How a team's queue stands: how many wait, how many of them are urgent, and how long
/// the longest has waited (microseconds), counted by the database.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueStats {
    pub waiting: i64,
    pub urgent: i64,
    pub longest_wait: i64,
}

pub async fn queue_stats(conn: &mut dyn Conn, team: TeamId) -> Result<QueueStats> {
    let r = conn
        .query_one(
            "SELECT count(*), CAST(coalesce(sum(CASE WHEN priority = 'urgent' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             min(created_at) FROM conversations WHERE team_id = $1 AND active = 1 AND owner_id IS NULL",
            args![team.to_string()],
        )
        .await?;
    Ok(QueueStats {
        waiting: r.int(0)?,
        urgent: r.int(1)?,
        longest_wait: r
            .opt_int(2)?
            .map_or(0, |oldest| (crate::now().micros() - oldest).max(0)),
    })
}

/// Hands out what waits in a team's queue, most urgent first, while its agents have room
/// (after an agent solves something or becomes available). Returns how many were given.
pub async fn drain(conn: &mut dyn Conn, team: TeamId) -> Result<usize> {
    let mut given = 0;
    let mut skipped: Vec<ConversationId> = Vec::new();
    // Bounded: a queue is handed out a page at a time; the next change continues it.
    for _ in 0..50 {
        let sql = format!(
            "SELECT c.id, c.language FROM conversations c \
             WHERE c.team_id = $1 AND c.active = 1 AND c.owner_id IS NULL ORDER BY {QUEUE_ORDER} LIMIT 20"
        );
        let rows = conn.query(&sql, args![team.to_string()]).await?;
        let next = rows
            .iter()
            .map(|r| Ok((r.parse::<ConversationId>(0)?, r.opt_text(1)?)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .find(|(id, _)| !skipped.contains(id));
        let Some((id, language)) = next else {
            break;
        };
        if route(conn, id, team, language.as_deref()).await?.is_some() {
            given += 1;
        } else if language.is_some() {
            // No one free speaks its language; others behind it may still be served.
            skipped.push(id);
        } else {
            break;
        }
    }
    Ok(given)
}

/// An agent of a team: how many active conversations they own, and whether they take more.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentLoad {
    pub agent_id: AgentId,
    pub name: String,
    pub available: bool,
    /// Their desk is open now.
    pub online: bool,
    pub active: i64,
}

pub async fn loads(conn: &mut dyn Conn, team: TeamId) -> Result<Vec<AgentLoad>> {
    conn.query(
        "SELECT a.id, a.name, coalesce(r.available, 1), \
         coalesce(l.active, 0), \
         coalesce(r.seen_at, 0) \
         FROM team_members m JOIN agents a ON a.id = m.agent_id LEFT JOIN agent_routing r ON r.agent_id = a.id \
         LEFT JOIN agent_load l ON l.agent_id = a.id AND l.channel = '*' \
         WHERE m.team_id = $1 AND a.disabled = 0 ORDER BY a.name",
        args![team.to_string()],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(AgentLoad {
            agent_id: r.parse(0)?,
            name: r.text(1)?,
            available: r.bool(2)?,
            active: r.int(3)?,
            online: r.int(4)? >= crate::now().micros() - ONLINE_WITHIN,
        })
    })
    .collect()
}

/// The teams that escalate long waits, with their limit in microseconds.
async fn escalating_teams(conn: &mut dyn Conn) -> Result<Vec<(String, i64)>> {
    conn.query(
        "SELECT team_id, escalate_after_minutes FROM team_routing WHERE escalate_after_minutes IS NOT NULL",
        args![],
    )
    .await?
    .iter()
    .map(|r| Ok((r.text(0)?, r.int(1)? * 60_000_000)))
    .collect()
}

/// A team's conversations that have waited unowned since before `before`, oldest first,
/// through the partial index of waiting conversations.
const WAITING_SINCE: &str = "SELECT id, created_at FROM conversations \
     WHERE team_id = $1 AND active = 1 AND owner_id IS NULL AND unassigned_escalated_at IS NULL \
     AND created_at <= $2 ORDER BY created_at LIMIT $3";

/// Whether a conversation has waited unowned past its team's limit (a cheap read: one
/// row per escalating team, then one index lookup each).
pub async fn anything_waiting_too_long(
    conn: &mut dyn Conn,
    now: seva_core::time::Timestamp,
) -> Result<bool> {
    for (team, limit) in escalating_teams(conn).await? {
        if !conn
            .query(WAITING_SINCE, args![team, now.micros() - limit, 1])
            .await?
            .is_empty()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Tells the supervisors about conversations that have waited unowned past their team's
/// limit, once each, and records it (`conversation.unassigned_too_long`, which rules can
/// act on). Returns how many.
pub async fn escalate_waiting(
    conn: &mut dyn Conn,
    now: seva_core::time::Timestamp,
    limit: i64,
) -> Result<usize> {
    let mut rows = Vec::new();
    for (team, wait) in escalating_teams(conn).await? {
        let room = limit - rows.len() as i64;
        if room <= 0 {
            break;
        }
        rows.extend(
            conn.query(WAITING_SINCE, args![team, now.micros() - wait, room])
                .await?,
        );
    }
    for r in &rows {
        let id: ConversationId = r.parse(0)?;
        let waited_minutes = (now.micros() - r.int(1)?) / 60_000_000;
        conn.execute(
            "UPDATE conversations SET unassigned_escalated_at = $1 WHERE id = $2",
            args![now.micros(), id.to_string()],
        )
        .await?;
        crate::events::append(
            conn,
            "conversation.unassigned_too_long",
            Some(id),
            "system:routing",
            serde_json::json!({"waited_minutes": waited_minutes}),
        )
        .await?;
        let c = crate::conversations::get(conn, id).await?;
        let text = format!("#{} {} — {waited_minutes} min", c.reference, c.subject);
        crate::notifications::notify(conn, &c, "supervisors", "unassigned", &text).await?;
    }
    Ok(rows.len())
}
