-- The tools agents use every minute: snooze, escalation of conversations nobody took,
-- macros (canned replies with actions) and saved views.

-- Pending until this time (or until the customer writes, whichever comes first).
ALTER TABLE conversations ADD COLUMN snoozed_until INTEGER;
CREATE INDEX conversations_snoozed ON conversations(snoozed_until) WHERE snoozed_until IS NOT NULL;
-- When the team's supervisors were told that nobody had taken it.
ALTER TABLE conversations ADD COLUMN unassigned_escalated_at INTEGER;

-- Minutes a conversation may wait in the team's queue before the supervisors are told.
ALTER TABLE team_routing ADD COLUMN escalate_after_minutes INTEGER;

CREATE TABLE macros (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- The language it is written in (te, el, tl, en, …); NULL for any.
    language TEXT,
    -- The reply, with variables such as {{customer.name}}; may be empty (actions only).
    text TEXT NOT NULL,
    -- Actions, JSON: [{"type": "set_status", "value": "pending"}, …].
    actions TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE saved_views (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    name TEXT NOT NULL,
    -- The list's filters, JSON: {"status": [...], "owner": ..., "team": ..., "tag": ..., "priority": [...]}.
    filters TEXT NOT NULL,
    -- Shown to every agent, not only its author.
    shared INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX saved_views_agent ON saved_views(agent_id);

-- What waits unowned in each team's queue, oldest first: the queue, its hand-out and
-- the escalation of long waits read it without touching owned or finished work.
CREATE INDEX conversations_waiting ON conversations(team_id, created_at)
    WHERE active = 1 AND owner_id IS NULL AND unassigned_escalated_at IS NULL;

-- Topics an agent handles (tags, comma-separated), for skill-match routing.
ALTER TABLE agent_routing ADD COLUMN skills TEXT NOT NULL DEFAULT '';

-- Presence: when an agent's desk last told us it was open (its live stream). Routing
-- may require it; supervisors see it.
ALTER TABLE agent_routing ADD COLUMN seen_at INTEGER;
-- Give new conversations only to agents whose desk is open.
ALTER TABLE team_routing ADD COLUMN require_online INTEGER NOT NULL DEFAULT 0;

-- Custom fields a team defines for its conversations (a team with definitions accepts
-- only those); team_id NULL: for every team.
CREATE TABLE custom_field_defs (
    id TEXT PRIMARY KEY,
    team_id TEXT REFERENCES teams(id),
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    -- text, number, checkbox, date (YYYY-MM-DD) or select
    kind TEXT NOT NULL,
    -- For select: the allowed values, JSON.
    options TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX custom_field_defs_key ON custom_field_defs(coalesce(team_id, ''), key);
