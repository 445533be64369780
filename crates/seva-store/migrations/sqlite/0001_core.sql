-- Seva's core schema (SQLite). Ids are UUIDv7 text; instants are microseconds since the
-- Unix epoch in UTC; JSON is text. The PostgreSQL schema mirrors this one column for column.

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'en',
    password_hash TEXT,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    private INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams(id),
    agent_id TEXT NOT NULL REFERENCES agents(id),
    PRIMARY KEY (team_id, agent_id)
);
CREATE INDEX team_members_agent ON team_members(agent_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain TEXT UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    language TEXT,
    organization_id TEXT REFERENCES organizations(id),
    merged_into TEXT REFERENCES contacts(id),
    attributes TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE contact_identities (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX contact_identities_contact ON contact_identities(contact_id);

CREATE TABLE inboxes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    team_id TEXT REFERENCES teams(id),
    created_at INTEGER NOT NULL
);

CREATE TABLE conversations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    -- 1 while open, pending or on hold: the inbox views filter on it, so that one index
    -- range in update order serves them without sorting.
    active INTEGER NOT NULL DEFAULT 1,
    priority TEXT NOT NULL,
    channel TEXT NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    inbox_id TEXT REFERENCES inboxes(id),
    team_id TEXT REFERENCES teams(id),
    owner_id TEXT REFERENCES agents(id),
    language TEXT,
    custom_fields TEXT NOT NULL DEFAULT '{}',
    preview TEXT NOT NULL DEFAULT '',
    customer_key_hash TEXT,
    message_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    first_response_at INTEGER,
    solved_at INTEGER
);
CREATE INDEX conversations_active ON conversations(active, updated_at, seq);
CREATE INDEX conversations_owner ON conversations(owner_id, active, updated_at, seq);
CREATE INDEX conversations_team ON conversations(team_id, active, updated_at, seq);
CREATE INDEX conversations_contact ON conversations(contact_id, updated_at, seq);
-- Partial indexes: most rows have no inbox or customer key, and those rows cost no index entry.
CREATE INDEX conversations_inbox ON conversations(inbox_id, updated_at, seq) WHERE inbox_id IS NOT NULL;
CREATE UNIQUE INDEX conversations_customer_key ON conversations(customer_key_hash) WHERE customer_key_hash IS NOT NULL;
CREATE INDEX conversations_updated ON conversations(updated_at, seq);

CREATE TABLE conversation_tags (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX conversation_tags_tag ON conversation_tags(tag);

CREATE TABLE conversation_followers (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    agent_id TEXT NOT NULL REFERENCES agents(id),
    PRIMARY KEY (conversation_id, agent_id)
);

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    author_agent_id TEXT REFERENCES agents(id),
    author_contact_id TEXT REFERENCES contacts(id),
    text TEXT NOT NULL,
    html TEXT NOT NULL,
    delivery TEXT NOT NULL,
    delivery_error TEXT,
    provider_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation_id, seq);
CREATE UNIQUE INDEX messages_provider ON messages(channel, provider_id) WHERE provider_id IS NOT NULL;

CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id);

CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL, -- UUIDv7, unique by construction; nothing looks events up by it
    kind TEXT NOT NULL,
    conversation_id TEXT,
    actor TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_conversation ON events(conversation_id, seq);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    locked_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, run_at);

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
