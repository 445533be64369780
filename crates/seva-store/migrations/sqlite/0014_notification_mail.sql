-- Notifications by email: an agent who has not read a notification within a few minutes
-- is sent it (with any others waiting) by email, unless they turned that off.
ALTER TABLE agents ADD COLUMN email_notifications INTEGER NOT NULL DEFAULT 1;
-- When the email sender took the notification in hand: queued in a mail, or passed over
-- (read meanwhile, or its agent takes no email). Empty while it may still be mailed.
ALTER TABLE notifications ADD COLUMN email_handled_at INTEGER;
-- The notifications from before this migration were shown in the desk, never mailed.
UPDATE notifications SET email_handled_at = created_at;
-- The ones still to look at, oldest first; the sweep's read finds them without a scan.
CREATE INDEX notifications_to_email ON notifications(created_at) WHERE email_handled_at IS NULL;
