-- The dashboard's overview over the last hour and day (issue 18), from the store rather than
-- one process's counters.
-- Messages accepted and attempts by outcome, per minute (`minute`: unix ms of its start).
-- Each ingest batch and each batch of completed attempts adds its counts in its own
-- transaction, one upsert per minute it touches. `writer` spreads one minute over several
-- rows: each batch picks one of 16 for ingest or 16 others for attempts, so the batches of
-- many processes committing at once seldom wait for each other's row lock.
CREATE TABLE activity_minutes (
  minute    BIGINT NOT NULL,
  writer    SMALLINT NOT NULL,
  accepted  BIGINT NOT NULL DEFAULT 0,
  succeeded BIGINT NOT NULL DEFAULT 0,
  failed    BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (minute, writer)
);

-- The queue as it stood once a minute, taken by whichever process gets there first.
-- `oldest_due_ms`: how long the oldest due delivery had waited (0: none was late).
-- `failing_endpoints`: endpoints with a delivery waiting for a retry after a failed attempt.
CREATE TABLE activity_snapshots (
  minute            BIGINT PRIMARY KEY,
  pending           BIGINT NOT NULL,
  sending           BIGINT NOT NULL,
  oldest_due_ms     BIGINT NOT NULL,
  failing_endpoints BIGINT NOT NULL,
  retrying          BIGINT NOT NULL,
  taken_at          BIGINT NOT NULL
);

-- Deliveries waiting for a retry after a failed attempt. Only a failure puts a row in it (a
-- new delivery has no attempt yet), so the ingest and the successes never touch it; the
-- endpoints failing now are read from it one endpoint at a time, never by a scan.
CREATE INDEX deliveries_retrying ON deliveries (endpoint_id) WHERE status = 'pending' AND attempts > 0;
