-- Failures grouped by endpoint and cause, for the dashboard (issue 18; src/core/failures.ts).
-- Each batch of completed attempts with a failure adds its counts in its own transaction,
-- one upsert per group it touched: an outage of a million failed attempts is one row here,
-- and the dashboard never reads the attempts. `cause`: `http_5xx`, `http_4xx`, … or the
-- error kind; `host`: the endpoint URL's host when it failed, for grouping by host;
-- `writer`: as in activity_minutes, one of 16 rows per group, so that the failing batches
-- of many processes seldom wait for each other's row lock. Rows not seen for 14 days are pruned.
-- No foreign key: a batch completing an attempt of an endpoint deleted meanwhile must not
-- fail for it; the reads join the endpoints, and the rows of a deleted one age out.
CREATE TABLE failure_groups (
  endpoint_id      TEXT COLLATE "C" NOT NULL,
  cause            TEXT COLLATE "C" NOT NULL,
  writer           SMALLINT NOT NULL,
  app_id           TEXT COLLATE "C" NOT NULL,
  host             TEXT COLLATE "C" NOT NULL,
  first_at         BIGINT NOT NULL,
  last_at          BIGINT NOT NULL,
  attempts         BIGINT NOT NULL,
  last_status_code INTEGER,
  PRIMARY KEY (endpoint_id, cause, writer)
);

-- An endpoint's failed attempts since its last success (its failure streak): `since` is the
-- first one. A success deletes the row, a failure inserts it if there is none; so the
-- successes of a healthy endpoint and the failures of a broken one write nothing here.
CREATE TABLE failure_streaks (
  endpoint_id TEXT COLLATE "C" PRIMARY KEY,
  since       BIGINT NOT NULL
);

-- An endpoint's deliveries that failed for good, in id (creation) order: how many "resend
-- all" (recover) would send again, counted on this index alone. Only a delivery that fails
-- enters it, and recover takes it out.
CREATE INDEX deliveries_failed ON deliveries (endpoint_id, id) WHERE status = 'failed';
