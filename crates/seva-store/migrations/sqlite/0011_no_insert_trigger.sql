-- Conversations are always created without an owner; an owner is set by an UPDATE, whose
-- trigger keeps agent_load. The insert trigger never fired, yet its mere presence made
-- every INSERT INTO conversations a statement that may write more than one table, so
-- SQLite kept a statement journal for it: a copy of every page the insert touched that
-- the batch had already changed (about 6% of the writer's time under load).
DROP TRIGGER conversations_load_insert;
