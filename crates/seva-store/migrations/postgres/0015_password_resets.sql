-- An agent who forgot their password asks for a link by email: each link's token is kept
-- only as its SHA-256, works for an hour, and once.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX password_resets_agent ON password_resets(agent_id);
