-- The inbound request log's body retention (issue 16): a received request's body is
-- expunged after the body retention (--inbound-body-days) while its row (status, reason,
-- headers, size, message) stays until the row retention (--inbound-max-age-days) deletes it.
-- When the body was expunged; NULL while the request still holds it.
ALTER TABLE inbound_requests ADD COLUMN body_expunged_at INTEGER;
-- The body sweep finds the oldest requests still holding a body: an index of those only, so
-- a sweep never walks the rows it expunged before.
CREATE INDEX inbound_bodies_by_time ON inbound_requests (created_at) WHERE body_expunged_at IS NULL;

-- Idempotency answers past the API's window (12 h) can answer nothing, yet stayed for ever:
-- a sweep deletes them oldest first through this index (Store.pruneIdempotent).
CREATE INDEX idempotency_by_time ON idempotency_keys (created_at);
