-- The kinds of notification an agent is not mailed about (comma-separated groups of
-- notifications::EMAIL_GROUPS), while their mail of unread notifications is on.
ALTER TABLE agents ADD COLUMN email_muted TEXT NOT NULL DEFAULT '';
