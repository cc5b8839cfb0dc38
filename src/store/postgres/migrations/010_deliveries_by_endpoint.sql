-- Restores deliveries (endpoint_id, id), which 006_deliveries_by_endpoint_msg.sql dropped:
-- 006 says its other readers only need the endpoint_id prefix, but the background tasks'
-- batches (recover, bulk replay) read an endpoint's deliveries in id order after a cursor,
-- LIMIT n. On (endpoint_id, msg_id) alone each batch read and sorted every delivery of the
-- endpoint (a sort), inside the write transaction. (A shipped migration is not edited:
-- this comment corrects 006's.) Both indexes are kept: (endpoint_id, msg_id) pages an
-- endpoint's attempted messages.
CREATE INDEX IF NOT EXISTS deliveries_by_endpoint ON deliveries (endpoint_id, id);
