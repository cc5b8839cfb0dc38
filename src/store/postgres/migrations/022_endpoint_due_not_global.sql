-- The claims' two due indexes had the same predicate, so a claim of the oldest due deliveries
-- across endpoints (`ORDER BY due_at LIMIT n`) could be planned on deliveries_endpoint_due
-- (endpoint_id, due_at) as well as on deliveries_due (due_at): a scan of every due delivery
-- and a sort, for each claim. PostgreSQL chose it whenever its statistics said the queue was
-- small (a generic plan made while it was, kept when a backlog came): with 100,000 deliveries
-- due, a worker drained them at 2,600/s rising to 7,300/s as the backlog shrank, where it
-- now drains them at 8,200-9,300/s (BENCHMARKS.md, fourteenth session).
-- `endpoint_id IS NOT NULL` holds for every row; it is in the predicate so that only a query
-- naming its endpoint (`endpoint_id = …`, which implies it) can use the index, and a claim
-- across endpoints has deliveries_due alone, read in order.
--
-- Built under a new name before the old one is dropped: the build reads the whole table and
-- holds off writes to it (not reads) until the migration commits; the DROP's exclusive lock
-- comes only at the end.
CREATE INDEX deliveries_endpoint_due_022 ON deliveries (endpoint_id, due_at)
  WHERE status IN ('pending', 'sending') AND NOT listener AND endpoint_id IS NOT NULL;
DROP INDEX deliveries_endpoint_due;
ALTER INDEX deliveries_endpoint_due_022 RENAME TO deliveries_endpoint_due;
