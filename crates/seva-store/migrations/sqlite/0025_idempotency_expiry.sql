-- Idempotency keys are kept for a day, then forgotten: the job worker finds the old ones
-- by this index. Only creates that carry a key pay for it.
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
