-- Two-step verification. The authenticator app's key, sealed with the server's key: set
-- while the agent turns it on (two_step still 0) and while it is on. The last time step
-- whose code was accepted, so that no code is good twice.
ALTER TABLE agents ADD COLUMN totp_key TEXT;
ALTER TABLE agents ADD COLUMN two_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN totp_last_step BIGINT;
-- Codes for when the phone is lost: stored as hashes, each good once.
CREATE TABLE recovery_codes (
    agent_id TEXT NOT NULL REFERENCES agents(id),
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (agent_id, code_hash)
);
