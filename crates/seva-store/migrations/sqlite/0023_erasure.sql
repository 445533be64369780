-- Erasing a customer removes the files only their messages used: whether any other
-- attachment or message still uses a file is then asked by its SHA-256. An API create
-- carries neither, so its path gains no index entry.
CREATE INDEX attachments_sha256 ON attachments(sha256);
CREATE INDEX messages_source ON messages(source_sha256) WHERE source_sha256 IS NOT NULL;
