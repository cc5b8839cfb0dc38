-- Listener endpoints (`herald listen`): an endpoint whose deliveries Herald does not POST but
-- hands to a connected `herald listen` client over its stream. `listener` is its name (unique
-- in the application, so the same name takes the same endpoint, id and secret, up again);
-- `listener_seen_at` is when a client last held its stream, for the idle sweep.
ALTER TABLE endpoints ADD COLUMN listener TEXT COLLATE "C";
ALTER TABLE endpoints ADD COLUMN listener_seen_at BIGINT;
CREATE UNIQUE INDEX endpoints_listener ON endpoints (app_id, listener) WHERE listener IS NOT NULL;
-- A delivery to a listener endpoint says so itself, so that the dispatcher's due indexes can
-- leave it out: the dispatcher never claims one, and a listener's backlog (a laptop closed
-- for a week) costs its claims nothing.
ALTER TABLE deliveries ADD COLUMN listener BOOLEAN NOT NULL DEFAULT false;
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE status IN ('pending', 'sending') AND NOT listener;
DROP INDEX deliveries_endpoint_due;
CREATE INDEX deliveries_endpoint_due ON deliveries (endpoint_id, due_at)
  WHERE status IN ('pending', 'sending') AND NOT listener;
-- What a listener's stream claims: its own due deliveries, oldest first.
CREATE INDEX deliveries_listener_due ON deliveries (endpoint_id, due_at, id)
  WHERE status IN ('pending', 'sending') AND listener;
