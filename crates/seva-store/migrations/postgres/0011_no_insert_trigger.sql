-- Conversations are always created without an owner; an owner is set by an UPDATE, whose
-- trigger keeps agent_load. The insert trigger never fired; it goes, as on SQLite (where
-- its presence cost every create a statement journal), so that both keep the same rule.
DROP TRIGGER conversations_load_insert ON conversations;
