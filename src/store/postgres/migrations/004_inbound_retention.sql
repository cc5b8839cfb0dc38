-- Inbound request retention (issue 13): a rejected request keeps the first 1 KiB of its body
-- and its size, and each source keeps its newest requests only (src/store/inbound-retention.ts).

-- The body's size as received; `body` holds fewer bytes when it was cut.
ALTER TABLE inbound_requests ADD COLUMN body_size INTEGER NOT NULL DEFAULT 0;
UPDATE inbound_requests SET body_size = length(body);
-- Rejected requests stored whole before this migration are cut as the gateway now cuts them.
UPDATE inbound_requests SET body = substring(body FROM 1 FOR 1024)
WHERE status = 'rejected' AND length(body) > 1024;

-- The request's place in its source's log (1, 2, 3, ...): the rows `cap` or more below the
-- newest are found by one probe of inbound_by_seq, where finding them by position would walk
-- `cap` index entries on every request.
ALTER TABLE inbound_requests ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE inbound_requests SET seq = ranked.n
FROM (SELECT id, row_number() OVER (PARTITION BY source_id ORDER BY id) AS n FROM inbound_requests) AS ranked
WHERE ranked.id = inbound_requests.id;
CREATE INDEX inbound_by_seq ON inbound_requests (source_id, seq);
-- The age sweep deletes the oldest first.
CREATE INDEX inbound_by_time ON inbound_requests (created_at);

-- The last seq given out per source. Its own table, so that recording a request does not
-- rewrite (and lock) the source's row.
CREATE TABLE inbound_counters (
  source_id  TEXT PRIMARY KEY REFERENCES sources (id) ON DELETE CASCADE,
  last_seq   BIGINT NOT NULL
);
INSERT INTO inbound_counters (source_id, last_seq)
SELECT source_id, max(seq) FROM inbound_requests GROUP BY source_id;
