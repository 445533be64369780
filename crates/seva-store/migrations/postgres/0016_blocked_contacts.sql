-- A contact an agent marked as a spammer: what they send is still stored (nothing is
-- lost), but it arrives solved and tagged spam, with no acknowledgement, routing or SLA.
ALTER TABLE contacts ADD COLUMN blocked_at BIGINT;
