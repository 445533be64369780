-- Closed conversations by their last change, for deleting them once the desk's retention
-- period has passed (`delete_closed_after_days`). Only closed ones are in it, so the
-- check of whether any is due reads one entry, and a create never touches it.
CREATE INDEX conversations_closed ON conversations(updated_at) WHERE status = 'closed';
