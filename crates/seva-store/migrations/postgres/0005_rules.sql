-- Rules as data (routing, priority, automations), notifications for agents, and
-- transfers between teams with the follow-up task they leave for the owner.

CREATE TABLE rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- conversation.created, conversation.updated or sla.breached
    trigger_kind TEXT NOT NULL,
    -- The rule as saved, JSON: {name, trigger, conditions, actions}.
    spec TEXT NOT NULL,
    position BIGINT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    fired BIGINT NOT NULL DEFAULT 0,
    -- Set when the rule was stopped at run time (a loop) or an action failed.
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX rules_trigger ON rules(trigger_kind, enabled, position);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    conversation_id TEXT REFERENCES conversations(id),
    -- mention, urgent, rule, follow_up, transfer
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notifications_agent ON notifications(agent_id, created_at);

CREATE TABLE transfers (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    from_team_id TEXT REFERENCES teams(id),
    to_team_id TEXT NOT NULL REFERENCES teams(id),
    -- The accountable owner when the conversation left; they get the follow-up.
    owner_id TEXT REFERENCES agents(id),
    note TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    done_at BIGINT,
    done_note TEXT
);
-- At most one transfer of a conversation is under way at a time.
CREATE UNIQUE INDEX transfers_open ON transfers(conversation_id) WHERE done_at IS NULL;

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    agent_id TEXT NOT NULL REFERENCES agents(id),
    -- follow_up
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    -- The transfer that left this task: one follow-up per transfer, however often "done"
    -- is pressed.
    transfer_id TEXT UNIQUE REFERENCES transfers(id),
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX tasks_agent ON tasks(agent_id, done_at);

-- SLA: a target for each answer after the first (the clock restarts at every customer
-- message that follows an answer).
ALTER TABLE sla_policies ADD COLUMN next_response_minutes BIGINT;

-- The SLA sweep asks two questions, each answered from its own index: which warnings
-- are due, and which deadlines have passed (one index over both made it scan every
-- running clock: 130 ms with a million of them).
DROP INDEX sla_clocks_running;
CREATE INDEX sla_clocks_warn ON sla_clocks(warn_at)
    WHERE stopped_at IS NULL AND paused_at IS NULL AND breached_at IS NULL AND warned_at IS NULL;
CREATE INDEX sla_clocks_due ON sla_clocks(due_at)
    WHERE stopped_at IS NULL AND paused_at IS NULL AND breached_at IS NULL;

-- Each agent's active conversations, kept by triggers on every change of a conversation's
-- owner or active flag, so that routing reads one row per agent instead of counting
-- their conversations at every decision.
CREATE TABLE agent_load (
    agent_id TEXT PRIMARY KEY,
    active BIGINT NOT NULL DEFAULT 0
);
INSERT INTO agent_load (agent_id, active)
    SELECT owner_id, count(*) FROM conversations WHERE active = 1 AND owner_id IS NOT NULL GROUP BY owner_id;
CREATE FUNCTION seva_agent_load() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.active = 1 AND OLD.owner_id IS NOT NULL THEN
        UPDATE agent_load SET active = active - 1 WHERE agent_id = OLD.owner_id;
    END IF;
    IF NEW.active = 1 AND NEW.owner_id IS NOT NULL THEN
        INSERT INTO agent_load (agent_id, active) VALUES (NEW.owner_id, 1)
            ON CONFLICT (agent_id) DO UPDATE SET active = agent_load.active + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER conversations_load_insert AFTER INSERT ON conversations
    FOR EACH ROW WHEN (NEW.owner_id IS NOT NULL AND NEW.active = 1) EXECUTE FUNCTION seva_agent_load();
CREATE TRIGGER conversations_load_update AFTER UPDATE OF owner_id, active ON conversations
    FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id OR OLD.active <> NEW.active)
    EXECUTE FUNCTION seva_agent_load();
