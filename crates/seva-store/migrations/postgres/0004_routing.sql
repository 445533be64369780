-- Routing: how each team hands new conversations to its agents, and what each agent can
-- take (whether they are available, which languages they speak).

CREATE TABLE team_routing (
    team_id TEXT PRIMARY KEY REFERENCES teams(id),
    -- manual, round_robin or least_busy
    strategy TEXT NOT NULL,
    -- Active conversations an agent may own before routing passes them by (NULL: no limit).
    capacity BIGINT,
    -- Where round robin continues from.
    last_agent_id TEXT
);

CREATE TABLE agent_routing (
    agent_id TEXT PRIMARY KEY REFERENCES agents(id),
    available BIGINT NOT NULL DEFAULT 1,
    -- Languages spoken, comma-separated; empty means the language of the agent's pages.
    languages TEXT NOT NULL DEFAULT ''
);
