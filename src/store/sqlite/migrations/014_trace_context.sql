-- Tracing: the W3C trace context of the request that accepted a message (a JSON object of
-- traceparent and, if any, tracestate), so that its attempts, however much later and in
-- whichever worker, are spans of the ingest's trace. NULL when tracing was off at ingest.
ALTER TABLE messages ADD COLUMN trace_context TEXT;
