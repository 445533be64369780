-- The audit log: changes to the desk itself (agents, tokens, teams, inboxes, rules, ...),
-- which are the events about no conversation. A new contact's event is left out, since
-- every first message makes one: so a conversation's create adds nothing to this index.
CREATE INDEX events_desk ON events(seq) WHERE conversation_id IS NULL AND kind <> 'contact.created';
