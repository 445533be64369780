-- When a message's words were taken out (a card number sent by mistake, or a customer's
-- erasure): the timeline says so instead of showing an empty message.
ALTER TABLE messages ADD COLUMN redacted_at INTEGER;
