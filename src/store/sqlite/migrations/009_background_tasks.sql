-- Background tasks (recover, replay-missing, bulk-replay, ...): durable rows that a task
-- runner works through in batches. `cursor` is where the next batch starts (the last id a
-- batch went past), `data` the counts reported so far. A runner holds a task by its lease
-- (`lease_owner` until `lease_expires_at`); a running task whose lease expired is taken over,
-- and `runs` counts the runners that took it and did not give it back (one that stops cleanly
-- gives it back), so a task that keeps killing its runner fails.
CREATE TABLE background_tasks (
  id               TEXT PRIMARY KEY,
  kind             TEXT NOT NULL,
  status           TEXT NOT NULL,
  app_id           TEXT,
  endpoint_id      TEXT,
  params           TEXT NOT NULL DEFAULT '{}',
  cursor           TEXT,
  data             TEXT NOT NULL DEFAULT '{}',
  runs             INTEGER NOT NULL DEFAULT 0,
  lease_owner      TEXT,
  lease_expires_at INTEGER,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
) STRICT;

CREATE INDEX background_tasks_running ON background_tasks (lease_expires_at) WHERE status = 'running';
CREATE INDEX background_tasks_by_app ON background_tasks (app_id, id);

-- Event types: Svix's `deprecated` flag and `featureFlag`.
ALTER TABLE event_types ADD COLUMN deprecated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE event_types ADD COLUMN feature_flag TEXT;
