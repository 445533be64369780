-- Capacity per channel: an agent may hold, say, three chats and twenty emails at once.
-- The load table now counts each agent's active conversations per channel, and in all
-- under the channel '*', so that routing reads both by primary key.

DROP TRIGGER conversations_load_insert ON conversations;
DROP TRIGGER conversations_load_update ON conversations;
DROP TABLE agent_load;
CREATE TABLE agent_load (
    agent_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, channel)
);
INSERT INTO agent_load (agent_id, channel, active)
    SELECT owner_id, channel, count(*) FROM conversations
    WHERE active = 1 AND owner_id IS NOT NULL GROUP BY owner_id, channel;
INSERT INTO agent_load (agent_id, channel, active)
    SELECT owner_id, '*', count(*) FROM conversations
    WHERE active = 1 AND owner_id IS NOT NULL GROUP BY owner_id;
CREATE OR REPLACE FUNCTION seva_agent_load() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.active = 1 AND OLD.owner_id IS NOT NULL THEN
        UPDATE agent_load SET active = active - 1 WHERE agent_id = OLD.owner_id AND channel IN (OLD.channel, '*');
    END IF;
    IF NEW.active = 1 AND NEW.owner_id IS NOT NULL THEN
        INSERT INTO agent_load (agent_id, channel, active) VALUES (NEW.owner_id, NEW.channel, 1), (NEW.owner_id, '*', 1)
            ON CONFLICT (agent_id, channel) DO UPDATE SET active = agent_load.active + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER conversations_load_insert AFTER INSERT ON conversations
    FOR EACH ROW WHEN (NEW.owner_id IS NOT NULL AND NEW.active = 1) EXECUTE FUNCTION seva_agent_load();
CREATE TRIGGER conversations_load_update AFTER UPDATE OF owner_id, active, channel ON conversations
    FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id OR OLD.active <> NEW.active OR OLD.channel <> NEW.channel)
    EXECUTE FUNCTION seva_agent_load();

-- A team's limit per channel, as a JSON object ({"chat": 3}); the plain capacity still
-- bounds the total.
ALTER TABLE team_routing ADD COLUMN channel_capacity TEXT NOT NULL DEFAULT '{}';

-- One agent's own limit on a channel, which overrides the team's.
CREATE TABLE agent_capacity (
    agent_id TEXT NOT NULL REFERENCES agents(id),
    channel TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    PRIMARY KEY (agent_id, channel)
);

-- A team's working hours: routing hands out its conversations only while the calendar is
-- open; outside hours they wait in the queue. held_for_opening says that something was
-- held back, so that the queue is handed out at the next opening (even one that comes
-- while the server is down).
ALTER TABLE team_routing ADD COLUMN calendar_id TEXT REFERENCES calendars(id);
ALTER TABLE team_routing ADD COLUMN held_for_opening BIGINT NOT NULL DEFAULT 0;
