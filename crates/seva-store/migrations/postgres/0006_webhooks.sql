-- Outgoing webhooks for integrators: each subscribes to event kinds and follows the
-- event log from where it was created (its cursor); every attempt is logged.

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    -- Comma-separated event kinds, or '*' for all.
    events TEXT NOT NULL,
    -- The signing secret, sealed with the server key.
    secret TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    -- The last event seq handed to this webhook's deliveries.
    cursor_seq BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_seq BIGINT NOT NULL,
    event_kind TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    -- The HTTP status the receiver answered, if it answered.
    status_code BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, created_at);
