-- Solved conversations by when they were solved, for closing them once they have stayed
-- solved long enough (`close_solved_after_days`). Only solved ones are in it, so the
-- check of whether any is due reads one entry.
CREATE INDEX conversations_solved ON conversations(solved_at) WHERE status = 'solved';
