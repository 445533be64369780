//! SLA clocks. A policy (the first, in order, whose conditions match a new conversation)
//! gives it targets for the first response and the resolution, counted in the business
//! hours of a calendar. Each target is a clock: it stops when met, pauses while the
//! conversation waits on the customer (pending) or is on hold, resumes with the business
//! time it had left, warns before its deadline, and records a breach. Every change is
//! an event, written with it.

use serde::{Deserialize, Serialize};
use seva_core::conversation::{Channel, Priority, Status};
use seva_core::hours::{Calendar, CalendarSpec};
use seva_core::time::Timestamp;
use seva_core::{CalendarId, ConversationId, InboxId, SlaPolicyId};

use crate::db::Conn;
use crate::{Error, Result, args};

pub const FIRST_RESPONSE: &str = "first_response";
pub const RESOLUTION: &str = "resolution";
/// Each answer after the first: runs from a customer message that follows an answer.
pub const NEXT_RESPONSE: &str = "next_response";
const MINUTE: i64 = 60_000_000;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredCalendar {
    pub id: CalendarId,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub spec: CalendarSpec,
    pub created_at: Timestamp,
}

pub async fn create_calendar(
    conn: &mut dyn Conn,
    name: &str,
    spec: &CalendarSpec,
) -> Result<StoredCalendar> {
    spec.build()
        .map_err(|e| Error::invalid("spec", e.to_string()))?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "1 to 100 characters"));
    }
    let id = CalendarId::new();
    let now = crate::now();
    let r = conn
        .execute(
            "INSERT INTO calendars (id, name, spec, created_at) VALUES ($1, $2, $3, $4)",
            args![
                id.to_string(),
                name,
                serde_json::to_string(spec).unwrap_or_default(),
                now.micros()
            ],
        )
        .await;
    match r {
        Err(e) if e.is_unique_violation() => {
            return Err(Error::Conflict(format!("a calendar named {name} exists")));
        }
        other => other?,
    };
    Ok(StoredCalendar {
        id,
        name: name.to_string(),
        spec: spec.clone(),
        created_at: now,
    })
}

pub async fn calendars(conn: &mut dyn Conn) -> Result<Vec<StoredCalendar>> {
    conn.query(
        "SELECT id, name, spec, created_at FROM calendars ORDER BY name",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(StoredCalendar {
            id: r.parse(0)?,
            name: r.text(1)?,
            spec: serde_json::from_str(&r.text(2)?).map_err(|e| Error::Decode(e.to_string()))?,
            created_at: Timestamp(r.int(3)?),
        })
    })
    .collect()
}

/// Which conversations a policy is for; an empty list or a missing inbox matches all.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Conditions {
    pub priorities: Vec<Priority>,
    pub channels: Vec<Channel>,
    pub inbox_id: Option<InboxId>,
    /// The customer's tier (the contact's `tier` attribute, compared without case).
    pub tiers: Vec<String>,
}

impl Conditions {
    fn matches(
        &self,
        priority: Priority,
        channel: Channel,
        inbox: Option<InboxId>,
        tier: Option<&str>,
    ) -> bool {
        (self.priorities.is_empty() || self.priorities.contains(&priority))
            && (self.channels.is_empty() || self.channels.contains(&channel))
            && self.inbox_id.is_none_or(|i| inbox == Some(i))
            && (self.tiers.is_empty()
                || tier.is_some_and(|t| self.tiers.iter().any(|x| x.eq_ignore_ascii_case(t))))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Policy {
    pub id: SlaPolicyId,
    pub name: String,
    pub position: i64,
    pub conditions: Conditions,
    /// Business hours to count in; none counts every minute (UTC).
    pub calendar_id: Option<CalendarId>,
    pub first_response_minutes: Option<i64>,
    pub next_response_minutes: Option<i64>,
    pub resolution_minutes: Option<i64>,
    /// How long before a deadline (in business minutes) the warning comes.
    pub warn_minutes: i64,
    pub created_at: Timestamp,
}

pub struct NewPolicy<'a> {
    pub name: &'a str,
    pub position: i64,
    pub conditions: &'a Conditions,
    pub calendar_id: Option<CalendarId>,
    pub first_response_minutes: Option<i64>,
    pub next_response_minutes: Option<i64>,
    pub resolution_minutes: Option<i64>,
    pub warn_minutes: i64,
}

pub async fn create_policy(conn: &mut dyn Conn, p: NewPolicy<'_>) -> Result<Policy> {
    let name = p.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "1 to 100 characters"));
    }
    for (field, v) in [
        ("first_response_minutes", p.first_response_minutes),
        ("next_response_minutes", p.next_response_minutes),
        ("resolution_minutes", p.resolution_minutes),
    ] {
        if v.is_some_and(|m| m <= 0 || m > 366 * 24 * 60) {
            return Err(Error::invalid(field, "a target is 1 minute to a year"));
        }
    }
    if p.first_response_minutes.is_none()
        && p.next_response_minutes.is_none()
        && p.resolution_minutes.is_none()
    {
        return Err(Error::invalid(
            "first_response_minutes",
            "a policy needs at least one target",
        ));
    }
    if p.warn_minutes < 0 {
        return Err(Error::invalid("warn_minutes", "cannot be negative"));
    }
    if let Some(cal) = p.calendar_id
        && conn
            .query_opt(
                "SELECT 1 FROM calendars WHERE id = $1",
                args![cal.to_string()],
            )
            .await?
            .is_none()
    {
        return Err(Error::invalid("calendar_id", "no such calendar"));
    }
    if let Some(inbox) = p.conditions.inbox_id
        && conn
            .query_opt(
                "SELECT 1 FROM inboxes WHERE id = $1",
                args![inbox.to_string()],
            )
            .await?
            .is_none()
    {
        return Err(Error::invalid("conditions", "no such inbox"));
    }
    let id = SlaPolicyId::new();
    let now = crate::now();
    let r = conn
        .execute(
            "INSERT INTO sla_policies (id, name, position, conditions, calendar_id, first_response_minutes, resolution_minutes, warn_minutes, created_at, \
             next_response_minutes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            args![
                id.to_string(),
                name,
                p.position,
                serde_json::to_string(p.conditions).unwrap_or_default(),
                p.calendar_id.map(|c| c.to_string()),
                p.first_response_minutes,
                p.resolution_minutes,
                p.warn_minutes,
                now.micros(),
                p.next_response_minutes
            ],
        )
        .await;
    match r {
        Err(e) if e.is_unique_violation() => {
            return Err(Error::Conflict(format!("a policy named {name} exists")));
        }
        other => other?,
    };
    Ok(Policy {
        id,
        name: name.to_string(),
        position: p.position,
        conditions: p.conditions.clone(),
        calendar_id: p.calendar_id,
        first_response_minutes: p.first_response_minutes,
        next_response_minutes: p.next_response_minutes,
        resolution_minutes: p.resolution_minutes,
        warn_minutes: p.warn_minutes,
        created_at: now,
    })
}

pub async fn policies(conn: &mut dyn Conn) -> Result<Vec<Policy>> {
    conn.query(
        "SELECT id, name, position, conditions, calendar_id, first_response_minutes, resolution_minutes, warn_minutes, created_at, \
         next_response_minutes FROM sla_policies ORDER BY position, created_at",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Policy {
            id: r.parse(0)?,
            name: r.text(1)?,
            position: r.int(2)?,
            conditions: serde_json::from_str(&r.text(3)?).map_err(|e| Error::Decode(e.to_string()))?,
            calendar_id: r.opt_parse(4)?,
            first_response_minutes: r.opt_int(5)?,
            resolution_minutes: r.opt_int(6)?,
            warn_minutes: r.int(7)?,
            created_at: Timestamp(r.int(8)?),
            next_response_minutes: r.opt_int(9)?,
        })
    })
    .collect()
}

async fn calendar_of(conn: &mut dyn Conn, policy: &str) -> Result<Calendar> {
    let row = conn
        .query_opt(
            "SELECT c.spec FROM sla_policies p LEFT JOIN calendars c ON c.id = p.calendar_id WHERE p.id = $1",
            args![policy],
        )
        .await?
        .ok_or(Error::NotFound)?;
    let built = match row.opt_text(0)? {
        Some(spec) => serde_json::from_str::<CalendarSpec>(&spec)
            .map_err(|e| Error::Decode(e.to_string()))?
            .build(),
        None => Calendar::always("UTC"),
    };
    built.map_err(|e| Error::Decode(e.to_string()))
}

fn deadlines(
    cal: &Calendar,
    from: Timestamp,
    business: i64,
    warn: i64,
) -> Result<(Timestamp, Timestamp)> {
    let due = cal
        .add(from, business)
        .map_err(|e| Error::Decode(e.to_string()))?;
    let warn_at = cal
        .subtract(due, warn.min(business))
        .map_err(|e| Error::Decode(e.to_string()))?;
    Ok((due, warn_at))
}

/// Starts the clocks of the first matching policy for a new conversation.
pub async fn start(
    conn: &mut dyn Conn,
    id: ConversationId,
    priority: Priority,
    channel: Channel,
    inbox: Option<InboxId>,
) -> Result<()> {
    let policies = policies(conn).await?;
    if policies.is_empty() {
        return Ok(());
    }
    // A rule that set the priority at creation may have started them already.
    if conn
        .query_opt(
            "SELECT 1 FROM sla_clocks WHERE conversation_id = $1 LIMIT 1",
            args![id.to_string()],
        )
        .await?
        .is_some()
    {
        return Ok(());
    }
    let tier = if policies.iter().any(|p| !p.conditions.tiers.is_empty()) {
        contact_tier(conn, id).await?
    } else {
        None
    };
    let Some(policy) = policies.into_iter().find(|p| {
        p.conditions
            .matches(priority, channel, inbox, tier.as_deref())
    }) else {
        return Ok(());
    };
    let cal = calendar_of(conn, &policy.id.to_string()).await?;
    let now = crate::now();
    for (metric, minutes) in [
        (FIRST_RESPONSE, policy.first_response_minutes),
        (RESOLUTION, policy.resolution_minutes),
    ] {
        let Some(minutes) = minutes else { continue };
        let (due, warn_at) = deadlines(&cal, now, minutes * MINUTE, policy.warn_minutes * MINUTE)?;
        conn.execute(
            "INSERT INTO sla_clocks (conversation_id, metric, policy_id, started_at, due_at, warn_at) VALUES ($1, $2, $3, $4, $5, $6)",
            args![id.to_string(), metric, policy.id.to_string(), now.micros(), due.micros(), warn_at.micros()],
        )
        .await?;
        crate::events::append(
            conn,
            "sla.started",
            Some(id),
            "system",
            serde_json::json!({"metric": metric, "policy_id": policy.id, "due_at": due}),
        )
        .await?;
    }
    Ok(())
}

/// The priority changed: the policy that matches now governs the running clocks. Each
/// keeps its start and takes the new policy's target (an urgent conversation's deadline
/// comes closer at once); a conversation that had no policy gets its clocks now. Clocks
/// already met, paused or breached are left as they are.
pub async fn on_priority(conn: &mut dyn Conn, id: ConversationId) -> Result<()> {
    let c = crate::conversations::get(conn, id).await?;
    let policies = policies(conn).await?;
    let tier = if policies.iter().any(|p| !p.conditions.tiers.is_empty()) {
        contact_tier(conn, id).await?
    } else {
        None
    };
    let Some(policy) = policies.into_iter().find(|p| {
        p.conditions
            .matches(c.priority, c.channel, c.inbox_id, tier.as_deref())
    }) else {
        return Ok(());
    };
    let clocks = clocks(conn, id).await?;
    if clocks.is_empty() {
        return start(conn, id, c.priority, c.channel, c.inbox_id).await;
    }
    let cal = calendar_of(conn, &policy.id.to_string()).await?;
    let now = crate::now();
    for k in clocks {
        let target = match k.metric.as_str() {
            FIRST_RESPONSE => policy.first_response_minutes,
            NEXT_RESPONSE => policy.next_response_minutes,
            RESOLUTION => policy.resolution_minutes,
            _ => None,
        };
        let (Some(minutes), true) = (
            target,
            k.policy_id != policy.id
                && k.stopped_at.is_none()
                && k.paused_at.is_none()
                && k.breached_at.is_none(),
        ) else {
            continue;
        };
        let (due, warn_at) = deadlines(
            &cal,
            k.started_at,
            minutes * MINUTE,
            policy.warn_minutes * MINUTE,
        )?;
        conn.execute(
            "UPDATE sla_clocks SET policy_id = $1, due_at = $2, warn_at = $3, \
             warned_at = CASE WHEN $4 = 1 THEN NULL ELSE warned_at END WHERE conversation_id = $5 AND metric = $6",
            args![
                policy.id.to_string(),
                due.micros(),
                warn_at.micros(),
                // A warning still ahead under the new target may come again.
                warn_at > now,
                id.to_string(),
                k.metric.as_str()
            ],
        )
        .await?;
        crate::events::append(
            conn,
            "sla.retargeted",
            Some(id),
            "system",
            serde_json::json!({"metric": k.metric, "policy_id": policy.id, "due_at": due}),
        )
        .await?;
    }
    Ok(())
}

async fn contact_tier(conn: &mut dyn Conn, id: ConversationId) -> Result<Option<String>> {
    let row = conn
        .query_opt(
            "SELECT ct.attributes FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = $1",
            args![id.to_string()],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let attributes: serde_json::Value = serde_json::from_str(&row.text(0)?).unwrap_or_default();
    Ok(attributes
        .get("tier")
        .and_then(|t| t.as_str())
        .map(str::to_string))
}

/// A customer wrote again after an answer: the next-response clock (re)starts, under the
/// policy that governs the conversation's other clocks. Its earlier breach stays in the
/// event log.
pub async fn on_customer_message(conn: &mut dyn Conn, id: ConversationId) -> Result<()> {
    let Some(r) = conn
        .query_opt(
            "SELECT p.id, p.next_response_minutes, p.warn_minutes FROM sla_clocks k JOIN sla_policies p ON p.id = k.policy_id \
             WHERE k.conversation_id = $1 AND p.next_response_minutes IS NOT NULL LIMIT 1",
            args![id.to_string()],
        )
        .await?
    else {
        return Ok(());
    };
    let running = conn
        .query_opt(
            "SELECT 1 FROM sla_clocks WHERE conversation_id = $1 AND metric = $2 AND stopped_at IS NULL",
            args![id.to_string(), NEXT_RESPONSE],
        )
        .await?;
    if running.is_some() {
        // Still waiting for the answer to the previous message: the clock runs on.
        return Ok(());
    }
    let policy = r.text(0)?;
    let cal = calendar_of(conn, &policy).await?;
    let now = crate::now();
    let (due, warn_at) = deadlines(&cal, now, r.int(1)? * MINUTE, r.int(2)? * MINUTE)?;
    conn.execute(
        "DELETE FROM sla_clocks WHERE conversation_id = $1 AND metric = $2",
        args![id.to_string(), NEXT_RESPONSE],
    )
    .await?;
    conn.execute(
        "INSERT INTO sla_clocks (conversation_id, metric, policy_id, started_at, due_at, warn_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![id.to_string(), NEXT_RESPONSE, policy.as_str(), now.micros(), due.micros(), warn_at.micros()],
    )
    .await?;
    crate::events::append(
        conn,
        "sla.started",
        Some(id),
        "system",
        serde_json::json!({"metric": NEXT_RESPONSE, "policy_id": policy, "due_at": due}),
    )
    .await
}

/// Stops a running clock because its target was met (or no longer applies).
pub async fn stop(conn: &mut dyn Conn, id: ConversationId, metric: &str) -> Result<()> {
    let now = crate::now().micros();
    let stopped = conn
        .query_opt(
            "UPDATE sla_clocks SET stopped_at = $1 WHERE conversation_id = $2 AND metric = $3 AND stopped_at IS NULL \
             RETURNING due_at, breached_at",
            args![now, id.to_string(), metric],
        )
        .await?;
    if let Some(r) = stopped {
        crate::events::append(
            conn,
            "sla.stopped",
            Some(id),
            "system",
            serde_json::json!({"metric": metric, "met": r.opt_int(1)?.is_none() && now <= r.int(0)?}),
        )
        .await?;
    }
    Ok(())
}

/// Follows a status change: waiting on the customer pauses the resolution clock, coming
/// back resumes it with the business time it had left, solving stops it.
pub async fn on_status(conn: &mut dyn Conn, id: ConversationId, to: Status) -> Result<()> {
    match to {
        Status::Solved | Status::Closed => stop(conn, id, RESOLUTION).await,
        Status::Pending | Status::OnHold => {
            conn.execute(
                "UPDATE sla_clocks SET paused_at = $1 WHERE conversation_id = $2 AND metric = $3 AND stopped_at IS NULL AND paused_at IS NULL",
                args![crate::now().micros(), id.to_string(), RESOLUTION],
            )
            .await?;
            Ok(())
        }
        Status::Open => resume(conn, id).await,
    }
}

async fn resume(conn: &mut dyn Conn, id: ConversationId) -> Result<()> {
    let Some(r) = conn
        .query_opt(
            "SELECT policy_id, paused_at, due_at, p.warn_minutes FROM sla_clocks k JOIN sla_policies p ON p.id = k.policy_id \
             WHERE k.conversation_id = $1 AND k.metric = $2 AND k.paused_at IS NOT NULL AND k.stopped_at IS NULL",
            args![id.to_string(), RESOLUTION],
        )
        .await?
    else {
        return Ok(());
    };
    let cal = calendar_of(conn, &r.text(0)?).await?;
    let (paused_at, due_at) = (Timestamp(r.int(1)?), Timestamp(r.int(2)?));
    let left = cal.between(paused_at, due_at);
    let now = crate::now();
    let (due, warn_at) = deadlines(&cal, now, left, r.int(3)? * MINUTE)?;
    conn.execute(
        "UPDATE sla_clocks SET paused_at = NULL, due_at = $1, warn_at = $2 WHERE conversation_id = $3 AND metric = $4",
        args![due.micros(), warn_at.micros(), id.to_string(), RESOLUTION],
    )
    .await?;
    crate::events::append(
        conn,
        "sla.resumed",
        Some(id),
        "system",
        serde_json::json!({"metric": RESOLUTION, "due_at": due}),
    )
    .await
}

/// One conversation's clocks.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Clock {
    pub metric: String,
    pub policy_id: SlaPolicyId,
    pub started_at: Timestamp,
    pub due_at: Timestamp,
    pub warn_at: Timestamp,
    pub paused_at: Option<Timestamp>,
    pub stopped_at: Option<Timestamp>,
    pub warned_at: Option<Timestamp>,
    pub breached_at: Option<Timestamp>,
}

pub async fn clocks(conn: &mut dyn Conn, id: ConversationId) -> Result<Vec<Clock>> {
    conn.query(
        "SELECT metric, policy_id, started_at, due_at, warn_at, paused_at, stopped_at, warned_at, breached_at \
         FROM sla_clocks WHERE conversation_id = $1 ORDER BY metric",
        args![id.to_string()],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Clock {
            metric: r.text(0)?,
            policy_id: r.parse(1)?,
            started_at: Timestamp(r.int(2)?),
            due_at: Timestamp(r.int(3)?),
            warn_at: Timestamp(r.int(4)?),
            paused_at: r.opt_int(5)?.map(Timestamp),
            stopped_at: r.opt_int(6)?.map(Timestamp),
            warned_at: r.opt_int(7)?.map(Timestamp),
            breached_at: r.opt_int(8)?.map(Timestamp),
        })
    })
    .collect()
}

/// Fires due warnings and breaches (at most `limit`); returns how many fired. Runs often;
/// reads only running clocks through a partial index.
pub async fn sweep(conn: &mut dyn Conn, now: Timestamp, limit: i64) -> Result<usize> {
    let mut rows = conn.query(WARNINGS_DUE, args![now.micros(), limit]).await?;
    rows.extend(
        conn.query(DEADLINES_PASSED, args![now.micros(), limit])
            .await?,
    );
    let mut seen = std::collections::HashSet::new();
    rows.retain(|r| seen.insert((r.text(0).ok(), r.text(1).ok())));
    rows.truncate(limit.max(0) as usize);
    for r in &rows {
        let (id, metric): (ConversationId, String) = (r.parse(0)?, r.text(1)?);
        let due = r.int(2)?;
        let breach = due <= now.micros();
        if r.opt_int(3)?.is_none() {
            conn.execute(
                "UPDATE sla_clocks SET warned_at = $1 WHERE conversation_id = $2 AND metric = $3",
                args![now.micros(), id.to_string(), metric.as_str()],
            )
            .await?;
            crate::events::append(
                conn,
                "sla.warning",
                Some(id),
                "system",
                serde_json::json!({"metric": metric, "due_at": Timestamp(due)}),
            )
            .await?;
        }
        if breach {
            conn.execute(
                "UPDATE sla_clocks SET breached_at = $1 WHERE conversation_id = $2 AND metric = $3",
                args![now.micros(), id.to_string(), metric.as_str()],
            )
            .await?;
            crate::events::append(
                conn,
                "sla.breached",
                Some(id),
                "system",
                serde_json::json!({"metric": metric, "due_at": Timestamp(due)}),
            )
            .await?;
        }
    }
    Ok(rows.len())
}

/// Running clocks whose warning is due, through the partial index on `warn_at`.
const WARNINGS_DUE: &str = "SELECT conversation_id, metric, due_at, warned_at FROM sla_clocks \
     WHERE stopped_at IS NULL AND paused_at IS NULL AND breached_at IS NULL AND warned_at IS NULL \
     AND warn_at <= $1 ORDER BY warn_at LIMIT $2";
/// Running clocks past their deadline, through the partial index on `due_at`.
const DEADLINES_PASSED: &str = "SELECT conversation_id, metric, due_at, warned_at FROM sla_clocks \
     WHERE stopped_at IS NULL AND paused_at IS NULL AND breached_at IS NULL \
     AND due_at <= $1 ORDER BY due_at LIMIT $2";

/// Whether any clock has a warning or breach due (a cheap read before a sweep: two index
/// lookups, whatever the number of running clocks).
pub async fn anything_due(conn: &mut dyn Conn, now: Timestamp) -> Result<bool> {
    Ok(!conn
        .query(WARNINGS_DUE, args![now.micros(), 1])
        .await?
        .is_empty()
        || !conn
            .query(DEADLINES_PASSED, args![now.micros(), 1])
            .await?
            .is_empty())
}
