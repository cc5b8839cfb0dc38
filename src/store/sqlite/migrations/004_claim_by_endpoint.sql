-- Due deliveries per endpoint. A claim that must leave saturated endpoints out goes endpoint
-- by endpoint through this index, instead of scanning past their backlog in deliveries_due
-- (which cost one pass over a hung endpoint's whole backlog per claim).
CREATE INDEX deliveries_endpoint_due ON deliveries (endpoint_id, due_at) WHERE status IN ('pending', 'sending');
