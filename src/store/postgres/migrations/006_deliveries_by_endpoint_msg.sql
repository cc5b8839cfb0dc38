-- An endpoint's attempted messages (GET /api/v1/app/{app}/endpoint/{ep}/msg) page by message
-- id, as Svix pages them, and their before/after window is a range of message ids: this index
-- reads a page of them in either direction without a sort. It replaces (endpoint_id, id),
-- whose other readers (counts by status, recover, failing an endpoint's pending deliveries)
-- only need its endpoint_id prefix, so each delivery written still updates as many indexes.
CREATE INDEX deliveries_by_endpoint_msg ON deliveries (endpoint_id, msg_id);
DROP INDEX deliveries_by_endpoint;
