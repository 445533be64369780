-- Erasing a customer removes the files only their messages used: whether any other
-- attachment or message still uses a file is then asked by its SHA-256. It also takes
-- their address out of other conversations' copy lists, found by the address. An API
-- create carries none of the three, so its path gains no index entry.
CREATE INDEX attachments_sha256 ON attachments(sha256);
CREATE INDEX messages_source ON messages(source_sha256) WHERE source_sha256 IS NOT NULL;
CREATE INDEX conversation_participants_email ON conversation_participants(email);
