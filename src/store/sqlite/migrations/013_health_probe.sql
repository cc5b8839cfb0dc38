-- The health check's write probe: /api/v1/health upserts this table's one row in a
-- transaction of its own, so that a database that still answers reads but cannot commit
-- (a full disk, a file made read-only) is reported in error, not "ok".
CREATE TABLE health_probe (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at INTEGER NOT NULL
) STRICT;

-- Payload retention's server default (--retention-days) finds the messages without a
-- retention of their own, oldest first, that still hold their payload: an index of those
-- only, so a sweep never walks the ones already expunged.
CREATE INDEX messages_default_retention ON messages (id)
  WHERE payload_expires_at IS NULL AND expunged_at IS NULL;
