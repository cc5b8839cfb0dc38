-- The dashboard's overview over the last hour and day (issue 18), from the store rather than
-- one process's counters.
-- Messages accepted and attempts by outcome, per minute (`minute`: unix ms of its start).
-- Each ingest batch and each batch of completed attempts adds its counts in its own
-- transaction, one upsert per minute it touches. `writer` spreads the rows of one minute
-- over several keys on PostgreSQL, where many processes commit at once; SQLite writes 0.
CREATE TABLE activity_minutes (
  minute    INTEGER NOT NULL,
  writer    INTEGER NOT NULL,
  accepted  INTEGER NOT NULL DEFAULT 0,
  succeeded INTEGER NOT NULL DEFAULT 0,
  failed    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (minute, writer)
) STRICT, WITHOUT ROWID;

-- The queue as it stood once a minute, taken by whichever process gets there first.
-- `oldest_due_ms`: how long the oldest due delivery had waited (0: none was late).
-- `failing_endpoints`: endpoints with a delivery waiting for a retry after a failed attempt.
CREATE TABLE activity_snapshots (
  minute            INTEGER PRIMARY KEY,
  pending           INTEGER NOT NULL,
  sending           INTEGER NOT NULL,
  oldest_due_ms     INTEGER NOT NULL,
  failing_endpoints INTEGER NOT NULL,
  retrying          INTEGER NOT NULL,
  taken_at          INTEGER NOT NULL
) STRICT;

-- Deliveries waiting for a retry after a failed attempt. Only a failure puts a row in it (a
-- new delivery has no attempt yet), so the ingest and the successes never touch it; the
-- endpoints failing now are read from it one endpoint at a time, never by a scan.
CREATE INDEX deliveries_retrying ON deliveries (endpoint_id) WHERE status = 'pending' AND attempts > 0;
