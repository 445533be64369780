-- Email: inbox addresses and their settings, the original of every email, the quoted
-- history folded out of the visible text, the people in Cc, and where IMAP polling got to.

ALTER TABLE inboxes ADD COLUMN address TEXT;
-- Relay, IMAP account, acknowledgement texts and reopen window, as JSON; no secrets.
ALTER TABLE inboxes ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
-- Passwords and keys, encrypted with the server's key (never returned by the API).
ALTER TABLE inboxes ADD COLUMN secrets TEXT;
CREATE UNIQUE INDEX inboxes_address ON inboxes(address) WHERE address IS NOT NULL;

ALTER TABLE agents ADD COLUMN signature TEXT NOT NULL DEFAULT '';

-- The quoted history and signature taken out of `text`, shown folded.
ALTER TABLE messages ADD COLUMN folded TEXT NOT NULL DEFAULT '';
-- The original message as received (content-addressed, like attachments).
ALTER TABLE messages ADD COLUMN source_sha256 TEXT;
-- Email headers that matter to people: from, to, cc, subject (JSON).
ALTER TABLE messages ADD COLUMN email TEXT;

-- Originals up to 256 KiB live here, written in the same transaction as their message (one
-- commit, one fsync); larger ones are files under attachments/, like attachments.
CREATE TABLE message_sources (
    sha256 TEXT PRIMARY KEY,
    bytes BYTEA NOT NULL
);

CREATE TABLE conversation_participants (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    email TEXT NOT NULL,
    name TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, email)
);

CREATE TABLE imap_cursors (
    inbox_id TEXT PRIMARY KEY REFERENCES inboxes(id),
    uid_validity BIGINT NOT NULL,
    last_uid BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
