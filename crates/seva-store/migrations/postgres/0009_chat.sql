-- Live chat: each visitor of a chat inbox holds a token (kept in their browser) that
-- names them here; only its hash is stored. The conversation is the visitor's current
-- one, continued by each message until it is solved or closed.

CREATE TABLE chat_visitors (
    id TEXT PRIMARY KEY,
    inbox_id TEXT NOT NULL REFERENCES inboxes(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    -- What the visitor gave before chatting (optional, or required by the inbox).
    name TEXT,
    email TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    conversation_id TEXT REFERENCES conversations(id),
    created_at BIGINT NOT NULL,
    -- When the server revoked the token; it opens no session after that.
    revoked_at BIGINT
);
CREATE INDEX chat_visitors_conversation ON chat_visitors(conversation_id) WHERE conversation_id IS NOT NULL;

-- A visitor who left before anyone answered (an input for analytics).
ALTER TABLE conversations ADD COLUMN abandoned_at BIGINT;
