-- The health check's write probe: /api/v1/health upserts this table's one row in a
-- transaction of its own, so that a database that still answers reads but cannot commit
-- (a full disk, a read-only standby after a failover, a transaction ID wraparound stop) is
-- reported in error, not "ok".
CREATE TABLE health_probe (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at BIGINT NOT NULL
);

-- Payload retention's server default (--retention-days) finds the messages without a
-- retention of their own, oldest first, that still hold their payload: an index of those
-- only, so a sweep never walks the ones already expunged.
CREATE INDEX messages_default_retention ON messages (id)
  WHERE payload_expires_at IS NULL AND expunged_at IS NULL;

-- Autovacuum for the queue tables (README, "Retention and disk space"). PostgreSQL's
-- defaults vacuum a table once a fifth of its rows are dead (autovacuum_vacuum_scale_factor
-- 0.2): a deliveries table of 10 million rows would carry 2 million dead versions before a
-- vacuum, and every claim walks past them in the due index. Each delivery is updated at
-- least twice (claimed, completed) on indexed columns (status, due_at: no HOT update), so
-- its dead rows come at the rate of the traffic. Vacuum at 1 % dead (plus 1,000 rows, so a
-- small table is not vacuumed constantly), without the cost-based pauses, and analyze at 2 %
-- so the planner keeps seeing the due index as tiny.
ALTER TABLE deliveries SET (
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0
);
-- Attempts and messages are mostly inserted; they get dead rows from the retention sweeps
-- (payloads and bodies expunged, rows deleted past --retention-rows-days). Vacuum at 5 %
-- dead, and after 5 % new rows too (PostgreSQL 13+), so the visibility map stays current
-- and index-only scans stay index-only.
ALTER TABLE attempts SET (
  autovacuum_vacuum_scale_factor = 0.05,
  autovacuum_vacuum_insert_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.05
);
ALTER TABLE messages SET (
  autovacuum_vacuum_scale_factor = 0.05,
  autovacuum_vacuum_insert_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.05
);
