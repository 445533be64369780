-- SLA: business-hours calendars, policies that give conversations their targets, and
-- the clocks that run against those targets (one per conversation and metric). A clock
-- that warned or breached keeps the record, for reports.

CREATE TABLE calendars (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- The calendar as written: time zone, opening hours by weekday, holidays (JSON).
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sla_policies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- Policies are tried in this order; the first whose conditions match applies.
    position BIGINT NOT NULL,
    -- Which conversations: {"priorities": [...], "inbox_id": ..., "channels": [...]} (JSON).
    conditions TEXT NOT NULL,
    calendar_id TEXT REFERENCES calendars(id),
    first_response_minutes BIGINT,
    resolution_minutes BIGINT,
    warn_minutes BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sla_clocks (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    metric TEXT NOT NULL,
    policy_id TEXT NOT NULL REFERENCES sla_policies(id),
    started_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    warn_at BIGINT NOT NULL,
    paused_at BIGINT,
    stopped_at BIGINT,
    warned_at BIGINT,
    breached_at BIGINT,
    PRIMARY KEY (conversation_id, metric)
);
-- The sweep reads only running clocks that have not yet breached.
CREATE INDEX sla_clocks_running ON sla_clocks(warn_at, due_at)
    WHERE stopped_at IS NULL AND paused_at IS NULL AND breached_at IS NULL;
