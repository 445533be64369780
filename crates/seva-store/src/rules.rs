//! Rules as data, stored and run. Rules on `conversation.created` run inside the
//! creating transaction, before routing and SLA clocks (so a rule that sets the team or
//! the priority decides where the conversation queues and which targets it gets). Rules
//! on `conversation.updated`, `sla.breached` and `conversation.unassigned_too_long` run in
//! the transaction of the change that set them off ([`settle`], called by `Store::write` after every operation), in rounds:
//! their own changes can set off other rules, but each rule acts at most once on a
//! conversation per round of changes. A rule that matches again after acting, and would
//! change something again, is a loop: it is stopped, and the stop is recorded on the rule
//! and in the conversation's events.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use seva_core::conversation::{MessageKind, Priority, Status};
use seva_core::rules::{Action, ActionKind, Facts, Rule, Trigger, find_loop};
use seva_core::time::Timestamp;
use seva_core::{AgentId, ConversationId, RuleId, TeamId};

use crate::db::Conn;
use crate::events::Event;
use crate::{Error, Result, args};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredRule {
    pub id: RuleId,
    pub name: String,
    pub trigger: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub conditions: serde_json::Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub actions: serde_json::Value,
    pub position: i64,
    pub enabled: bool,
    /// How often it has acted.
    pub fired: i64,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The longest chain of rounds one change may set off.
const MAX_ROUNDS: usize = 8;

fn invalid(e: seva_core::rules::RuleError) -> Error {
    Error::invalid(e.path, e.message)
}

fn decode(row: &crate::Row) -> Result<StoredRule> {
    let spec: serde_json::Value = serde_json::from_str(&row.text(3)?)
        .map_err(|e| Error::Decode(format!("rule spec: {e}")))?;
    Ok(StoredRule {
        id: row.parse(0)?,
        name: row.text(1)?,
        trigger: row.text(2)?,
        conditions: spec
            .get("conditions")
            .cloned()
            .unwrap_or(serde_json::json!([])),
        actions: spec.get("actions").cloned().unwrap_or_default(),
        position: row.int(4)?,
        enabled: row.bool(5)?,
        fired: row.int(6)?,
        last_error: row.opt_text(7)?,
        created_at: Timestamp(row.int(8)?),
        updated_at: Timestamp(row.int(9)?),
    })
}

const COLUMNS: &str =
    "id, name, trigger_kind, spec, position, enabled, fired, last_error, created_at, updated_at";

pub async fn list(conn: &mut dyn Conn) -> Result<Vec<StoredRule>> {
    let sql = format!("SELECT {COLUMNS} FROM rules ORDER BY position, created_at");
    conn.query(&sql, args![])
        .await?
        .iter()
        .map(decode)
        .collect()
}

pub async fn get(conn: &mut dyn Conn, id: RuleId) -> Result<StoredRule> {
    let sql = format!("SELECT {COLUMNS} FROM rules WHERE id = $1");
    decode(
        &conn
            .query_opt(&sql, args![id.to_string()])
            .await?
            .ok_or(Error::NotFound)?,
    )
}

type Rules = Vec<(RuleId, Arc<Rule>)>;

/// Rules as parsed, by their stored text: a desk's rules change rarely and are read on
/// every arrival, so each text is parsed (its words folded, its patterns compiled) once.
fn parsed(spec: &str) -> std::result::Result<Arc<Rule>, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Rule>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(r) = cache.lock().ok().and_then(|c| c.get(spec).cloned()) {
        return Ok(r);
    }
    let value: serde_json::Value = serde_json::from_str(spec).map_err(|e| e.to_string())?;
    let rule = Arc::new(Rule::parse(&value).map_err(|e| e.to_string())?);
    if let Ok(mut c) = cache.lock() {
        if c.len() > 10_000 {
            c.clear();
        }
        c.insert(spec.to_string(), rule.clone());
    }
    Ok(rule)
}

/// The enabled rules set off by `trigger`, in order.
async fn enabled(conn: &mut dyn Conn, trigger: Trigger) -> Result<Rules> {
    let rows = conn
        .query(
            "SELECT id, spec FROM rules WHERE trigger_kind = $1 AND enabled = 1 ORDER BY position, created_at",
            args![trigger.as_str()],
        )
        .await?;
    decode_enabled(&rows)
}

/// The enabled rules of every trigger but creation (what a change may set off), in
/// order, by trigger: updated, breached, unassigned.
async fn enabled_after_creation(conn: &mut dyn Conn) -> Result<(Rules, Rules, Rules)> {
    let rows = conn
        .query(
            "SELECT id, spec, trigger_kind FROM rules WHERE trigger_kind <> $1 AND enabled = 1 ORDER BY position, created_at",
            args![Trigger::Created.as_str()],
        )
        .await?;
    let (mut updated, mut breached, mut unassigned) = (Vec::new(), Vec::new(), Vec::new());
    for row in &rows {
        let list = match row.text(2)?.parse::<Trigger>() {
            Ok(Trigger::Updated) => &mut updated,
            Ok(Trigger::Breached) => &mut breached,
            Ok(Trigger::Unassigned) => &mut unassigned,
            _ => continue,
        };
        list.extend(decode_enabled(std::slice::from_ref(row))?);
    }
    Ok((updated, breached, unassigned))
}

fn decode_enabled(rows: &[crate::Row]) -> Result<Rules> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        // Saved rules were checked; one that no longer parses (an older format) is skipped
        // rather than stopping every change.
        match parsed(&row.text(1)?) {
            Ok(rule) => out.push((row.parse(0)?, rule)),
            Err(e) => {
                tracing::warn!(rule = %row.text(0)?, error = %e, "a saved rule no longer parses")
            }
        }
    }
    Ok(out)
}

/// Checks a rule in full: its form, that the teams and agents it names exist, and that
/// with the other enabled rules it does not make a loop. `replacing` is the rule being
/// edited, left out of the loop check.
async fn check(
    conn: &mut dyn Conn,
    spec: &serde_json::Value,
    replacing: Option<RuleId>,
) -> Result<Rule> {
    let rule = Rule::parse(spec).map_err(invalid)?;
    check_referents(conn, &rule.actions).await?;
    if rule.trigger == Trigger::Updated {
        let mut all: Vec<Rule> = enabled(conn, Trigger::Updated)
            .await?
            .into_iter()
            .filter(|(id, _)| Some(*id) != replacing)
            .map(|(_, r)| (*r).clone())
            .collect();
        all.push(rule.clone());
        if let Some(circle) = find_loop(&all) {
            return Err(Error::invalid(
                "actions",
                format!(
                    "these rules would set each other off for ever: {} → {}",
                    circle.join(" → "),
                    circle[0]
                ),
            ));
        }
    }
    Ok(rule)
}

/// Checks that the teams and agents actions name exist.
pub(crate) async fn check_referents(conn: &mut dyn Conn, actions: &[Action]) -> Result<()> {
    for (i, a) in actions.iter().enumerate() {
        let path = format!("actions[{i}].value");
        match a.kind {
            ActionKind::SetTeam => {
                let team: TeamId = a
                    .value
                    .parse()
                    .map_err(|_| Error::invalid(path.clone(), "not a team id"))?;
                crate::teams::get(conn, team)
                    .await
                    .map_err(|_| Error::invalid(path, "no such team"))?;
            }
            // An agent to assign to, or to notify (notify also takes words such as
            // "supervisors").
            ActionKind::Assign | ActionKind::Notify
                if a.kind == ActionKind::Assign || a.value.parse::<AgentId>().is_ok() =>
            {
                let agent: AgentId = a
                    .value
                    .parse()
                    .map_err(|_| Error::invalid(path.clone(), "not an agent id"))?;
                crate::agents::get(conn, agent)
                    .await
                    .map_err(|_| Error::invalid(path, "no such agent"))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The stored form: only what the rule is, in a stable shape.
fn spec_of(rule: &Rule, spec: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "name": rule.name,
        "trigger": rule.trigger.as_str(),
        "conditions": spec.get("conditions").cloned().unwrap_or(serde_json::json!([])),
        "actions": spec.get("actions").cloned().unwrap_or_default(),
    })
}

pub async fn create(
    conn: &mut dyn Conn,
    spec: &serde_json::Value,
    actor: &str,
) -> Result<StoredRule> {
    let rule = check(conn, spec, None).await?;
    let id = RuleId::new();
    let now = crate::now().micros();
    let position = match spec.get("position").and_then(|p| p.as_i64()) {
        Some(p) => p,
        None => conn
            .query_one("SELECT coalesce(max(position), 0) + 10 FROM rules", args![])
            .await?
            .int(0)?,
    };
    let enabled = spec
        .get("enabled")
        .and_then(|e| e.as_bool())
        .unwrap_or(true);
    conn.execute(
        "INSERT INTO rules (id, name, trigger_kind, spec, position, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        args![
            id.to_string(),
            rule.name.as_str(),
            rule.trigger.as_str(),
            spec_of(&rule, spec).to_string(),
            position,
            enabled,
            now
        ],
    )
    .await?;
    crate::events::append(
        conn,
        "rule.created",
        None,
        actor,
        serde_json::json!({"rule_id": id, "name": rule.name}),
    )
    .await?;
    get(conn, id).await
}

/// Replaces a rule's definition (and, if given, its position and whether it is enabled).
pub async fn update(
    conn: &mut dyn Conn,
    id: RuleId,
    spec: &serde_json::Value,
    actor: &str,
) -> Result<StoredRule> {
    let old = get(conn, id).await?;
    let rule = check(conn, spec, Some(id)).await?;
    let position = spec
        .get("position")
        .and_then(|p| p.as_i64())
        .unwrap_or(old.position);
    let enabled = spec
        .get("enabled")
        .and_then(|e| e.as_bool())
        .unwrap_or(old.enabled);
    conn.execute(
        "UPDATE rules SET name = $1, trigger_kind = $2, spec = $3, position = $4, enabled = $5, last_error = NULL, updated_at = $6 WHERE id = $7",
        args![
            rule.name.as_str(),
            rule.trigger.as_str(),
            spec_of(&rule, spec).to_string(),
            position,
            enabled,
            crate::now().micros(),
            id.to_string()
        ],
    )
    .await?;
    crate::events::append(
        conn,
        "rule.updated",
        None,
        actor,
        serde_json::json!({"rule_id": id}),
    )
    .await?;
    get(conn, id).await
}

pub async fn delete(conn: &mut dyn Conn, id: RuleId, actor: &str) -> Result<()> {
    if conn
        .execute("DELETE FROM rules WHERE id = $1", args![id.to_string()])
        .await?
        == 0
    {
        return Err(Error::NotFound);
    }
    crate::events::append(
        conn,
        "rule.deleted",
        None,
        actor,
        serde_json::json!({"rule_id": id}),
    )
    .await
}

/// What a rule sees of a conversation now.
/// What rules can see of a conversation, everything included.
pub async fn facts(conn: &mut dyn Conn, id: ConversationId) -> Result<Facts> {
    facts_for(conn, id, true).await
}

/// Whether any of these rules looks at the customer's recent conversations (a count the
/// facts skip when none does).
fn wants_recent(rules: &Rules) -> bool {
    rules
        .iter()
        .any(|(_, r)| r.reads().contains(&seva_core::rules::Field::ContactRecent))
}

/// The facts, with the count of the customer's recent conversations only when `recent`.
async fn facts_for(conn: &mut dyn Conn, id: ConversationId, recent: bool) -> Result<Facts> {
    let c = crate::conversations::get(conn, id).await?;
    let text = conn
        .query_opt(
            "SELECT text FROM messages WHERE conversation_id = $1 AND kind = 'inbound' ORDER BY seq DESC LIMIT 1",
            args![id.to_string()],
        )
        .await?
        .map(|r| r.text(0))
        .transpose()?
        .unwrap_or_default();
    let contact = conn
        .query_one(
            "SELECT attributes FROM contacts WHERE id = $1",
            args![c.contact_id.to_string()],
        )
        .await?;
    let attributes: serde_json::Value = serde_json::from_str(&contact.text(0)?).unwrap_or_default();
    // By the contact's own index: a condition on the identity's kind alone would let the
    // planner walk every email identity of the desk.
    let mut emails = Vec::new();
    for row in conn
        .query(
            "SELECT kind, value FROM contact_identities WHERE contact_id = $1",
            args![c.contact_id.to_string()],
        )
        .await?
    {
        if row.text(0)? == "email" {
            emails.push(row.text(1)?);
        }
    }
    emails.sort();
    let since = c.created_at.micros() - seva_core::rules::RECENT_DAYS * 24 * 3_600_000_000;
    let contact_recent = if !recent {
        0
    } else {
        conn.query_one(
            "SELECT count(*) FROM conversations WHERE contact_id = $1 AND id <> $2 AND updated_at >= $3 AND created_at >= $3",
            args![c.contact_id.to_string(), id.to_string(), since],
        )
        .await?
        .int(0)?
    };
    Ok(Facts {
        subject: c.subject,
        text,
        language: c.language,
        channel: Some(c.channel.as_str().to_string()),
        inbox_id: c.inbox_id.map(|i| i.to_string()),
        team_id: c.team_id.map(|t| t.to_string()),
        owner_id: c.owner_id.map(|o| o.to_string()),
        priority: Some(c.priority.as_str().to_string()),
        status: Some(c.status.as_str().to_string()),
        tags: c.tags,
        contact_tier: attributes
            .get("tier")
            .and_then(|t| t.as_str())
            .map(str::to_string),
        contact_email: emails.into_iter().next(),
        contact_recent,
    })
}

/// Whether `action` would change the conversation these facts describe.
fn would_change(f: &Facts, a: &Action) -> bool {
    let differs = |v: &Option<String>| v.as_deref() != Some(a.value.as_str());
    match a.kind {
        ActionKind::SetPriority => differs(&f.priority),
        ActionKind::SetTeam => differs(&f.team_id),
        ActionKind::Assign => differs(&f.owner_id),
        ActionKind::Unassign => f.owner_id.is_some(),
        ActionKind::AddTag => !f.tags.contains(&a.value),
        ActionKind::RemoveTag => f.tags.contains(&a.value),
        ActionKind::SetStatus => {
            let (Some(from), Ok(to)) = (
                f.status.as_deref().and_then(|s| s.parse::<Status>().ok()),
                a.value.parse::<Status>(),
            ) else {
                return false;
            };
            from.can_become(to)
        }
        ActionKind::AddNote | ActionKind::Notify => true,
    }
}

/// What the rule's actions would do, in words, for dry runs and the event log.
fn describe(a: &Action) -> String {
    match a.kind {
        ActionKind::Unassign => "unassign".to_string(),
        _ => format!("{} {}", a.kind.as_str(), a.value),
    }
}

/// Carries out the actions that change something; returns them.
async fn apply(
    conn: &mut dyn Conn,
    id: ConversationId,
    rule_id: RuleId,
    rule: &Rule,
    facts: &Facts,
) -> Result<Vec<String>> {
    let actor = format!("rule:{rule_id}");
    let done = apply_actions(conn, id, &actor, &rule.name, &rule.actions, facts).await?;
    if !done.is_empty() {
        conn.execute(
            "UPDATE rules SET fired = fired + 1 WHERE id = $1",
            args![rule_id.to_string()],
        )
        .await?;
        crate::events::append(
            conn,
            "rule.applied",
            Some(id),
            &actor,
            serde_json::json!({"rule_id": rule_id, "name": rule.name, "actions": done}),
        )
        .await?;
    }
    Ok(done)
}

/// Carries out, as `actor`, the actions that change something (a rule's, a macro's);
/// `source` names what asked, in notifications. Returns what was done, in words.
pub(crate) async fn apply_actions(
    conn: &mut dyn Conn,
    id: ConversationId,
    actor: &str,
    source: &str,
    actions: &[Action],
    facts: &Facts,
) -> Result<Vec<String>> {
    let actor = actor.to_string();
    let mut done = Vec::new();
    for a in actions {
        if !would_change(facts, a) {
            continue;
        }
        let c = crate::conversations::get(conn, id).await?;
        match a.kind {
            ActionKind::SetPriority => {
                let to: Priority = a
                    .value
                    .parse()
                    .map_err(|_| Error::invalid("value", "priority"))?;
                crate::conversations::apply_priority(conn, &c, to, &actor).await?;
            }
            ActionKind::SetTeam => {
                let team: TeamId = a
                    .value
                    .parse()
                    .map_err(|_| Error::invalid("value", "team"))?;
                crate::conversations::apply_team(conn, &c, Some(team), &actor).await?;
            }
            ActionKind::Assign => {
                let agent: AgentId = a
                    .value
                    .parse()
                    .map_err(|_| Error::invalid("value", "agent"))?;
                crate::conversations::set_owner(conn, &c, Some(agent), &actor).await?;
            }
            ActionKind::Unassign => crate::conversations::set_owner(conn, &c, None, &actor).await?,
            ActionKind::AddTag => {
                crate::conversations::apply_tags(
                    conn,
                    id,
                    std::slice::from_ref(&a.value),
                    &[],
                    &actor,
                )
                .await?
            }
            ActionKind::RemoveTag => {
                crate::conversations::apply_tags(
                    conn,
                    id,
                    &[],
                    std::slice::from_ref(&a.value),
                    &actor,
                )
                .await?
            }
            ActionKind::SetStatus => {
                let to: Status = a
                    .value
                    .parse()
                    .map_err(|_| Error::invalid("value", "status"))?;
                crate::conversations::change_status(conn, &c, to, &actor).await?;
            }
            ActionKind::AddNote => {
                crate::conversations::system_note(conn, &c, MessageKind::Note, &a.value, &actor)
                    .await?;
            }
            ActionKind::Notify => {
                let text = format!("{source} — #{} {}", c.reference, c.subject);
                crate::notifications::notify(conn, &c, &a.value, "rule", &text).await?;
            }
        }
        done.push(describe(a));
    }
    Ok(done)
}

/// Runs the `conversation.created` rules on a conversation just created. Returns whether
/// any acted (the caller then reads the conversation again before routing it).
pub async fn run_created(conn: &mut dyn Conn, id: ConversationId) -> Result<bool> {
    let rules = enabled(conn, Trigger::Created).await?;
    if rules.is_empty() {
        return Ok(false);
    }
    let mut acted = false;
    let recent = wants_recent(&rules);
    let mut facts = facts_for(conn, id, recent).await?;
    let mut folded = facts.fold();
    for (rule_id, rule) in &rules {
        if rule.matches(&folded) && !apply(conn, id, *rule_id, rule, &facts).await?.is_empty() {
            acted = true;
            facts = facts_for(conn, id, recent).await?;
            folded = facts.fold();
        }
    }
    Ok(acted)
}

/// The event kinds that count as a conversation being updated.
const UPDATES: &[&str] = &[
    "conversation.status_changed",
    "conversation.priority_changed",
    "conversation.assigned",
    "conversation.team_changed",
    "conversation.tagged",
    "conversation.fields_changed",
    "conversation.transferred",
    "conversation.transfer_done",
    "message.created",
];

fn trigger_of(e: &Event) -> Option<Trigger> {
    if e.kind == "sla.breached" {
        Some(Trigger::Breached)
    } else if e.kind == "conversation.unassigned_too_long" {
        Some(Trigger::Unassigned)
    } else if UPDATES.contains(&e.kind.as_str()) {
        Some(Trigger::Updated)
    } else {
        None
    }
}

/// Runs the rules set off by the events the current operation appended (from `mark` on
/// in the connection's list), and then those set off by the rules' own changes, round by
/// round. See the module's description for how loops are stopped.
pub async fn settle(conn: &mut dyn Conn, mark: usize) -> Result<()> {
    let mut from = mark;
    let mut fired: HashSet<(RuleId, ConversationId)> = HashSet::new();
    let mut loaded: Option<(Rules, Rules, Rules)> = None;
    for round in 0.. {
        let mut due: Vec<(ConversationId, Trigger)> = Vec::new();
        for e in &conn.emitted()[from..] {
            if let (Some(t), Some(c)) = (trigger_of(e), e.conversation_id)
                && !due.contains(&(c, t))
            {
                due.push((c, t));
            }
        }
        from = conn.emitted().len();
        if due.is_empty() {
            return Ok(());
        }
        if loaded.is_none() {
            let (updated, breached, unassigned) = enabled_after_creation(conn).await?;
            if updated.is_empty() && breached.is_empty() && unassigned.is_empty() {
                return Ok(());
            }
            loaded = Some((updated, breached, unassigned));
        }
        let Some((updated, breached, unassigned)) = &loaded else {
            return Ok(());
        };
        if round >= MAX_ROUNDS {
            tracing::warn!(
                "rules were still setting each other off after {MAX_ROUNDS} rounds; stopped"
            );
            return Ok(());
        }
        for (id, trigger) in due {
            let rules = match trigger {
                Trigger::Breached => breached,
                Trigger::Unassigned => unassigned,
                _ => updated,
            };
            let recent = wants_recent(rules);
            let mut facts = facts_for(conn, id, recent).await?;
            let mut folded = facts.fold();
            for (rule_id, rule) in rules {
                if !rule.matches(&folded) {
                    continue;
                }
                if fired.contains(&(*rule_id, id)) {
                    if rule.actions.iter().any(|a| would_change(&facts, a)) {
                        stop_loop(conn, *rule_id, rule, id).await?;
                    }
                    continue;
                }
                if !apply(conn, id, *rule_id, rule, &facts).await?.is_empty() {
                    fired.insert((*rule_id, id));
                    facts = facts_for(conn, id, recent).await?;
                    folded = facts.fold();
                }
            }
        }
    }
    Ok(())
}

async fn stop_loop(
    conn: &mut dyn Conn,
    rule_id: RuleId,
    rule: &Rule,
    id: ConversationId,
) -> Result<()> {
    let message = format!(
        "stopped: it acted on a conversation and its conditions held again in the same round of changes (a loop); conversation {id}"
    );
    tracing::warn!(rule = %rule_id, name = %rule.name, conversation = %id, "a rule loop was stopped");
    conn.execute(
        "UPDATE rules SET last_error = $1 WHERE id = $2",
        args![message, rule_id.to_string()],
    )
    .await?;
    crate::events::append(
        conn,
        "rule.loop_stopped",
        Some(id),
        &format!("rule:{rule_id}"),
        serde_json::json!({"rule_id": rule_id, "name": rule.name}),
    )
    .await
}

/// One conversation a dry run looked at, and what the rule would have done to it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DryRunResult {
    pub conversation_id: ConversationId,
    pub reference: i64,
    pub subject: String,
    pub matches: bool,
    /// The actions that would have changed something.
    pub would: Vec<String>,
}

/// What a rule (saved or not) would do to the last `last` conversations, without
/// changing anything.
pub async fn dry_run(
    conn: &mut dyn Conn,
    spec: &serde_json::Value,
    last: i64,
) -> Result<Vec<DryRunResult>> {
    let rule = Rule::parse(spec).map_err(invalid)?;
    if !(1..=1000).contains(&last) {
        return Err(Error::invalid("last", "between 1 and 1000 conversations"));
    }
    let rows = conn
        .query(
            "SELECT id FROM conversations ORDER BY seq DESC LIMIT $1",
            args![last],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: ConversationId = row.parse(0)?;
        let facts = facts(conn, id).await?;
        let c = crate::conversations::get(conn, id).await?;
        let matches = rule.matches(&facts.fold());
        let would = if matches {
            rule.actions
                .iter()
                .filter(|a| would_change(&facts, a))
                .map(describe)
                .collect()
        } else {
            Vec::new()
        };
        out.push(DryRunResult {
            conversation_id: id,
            reference: c.reference,
            subject: c.subject,
            matches,
            would,
        });
    }
    Ok(out)
}
