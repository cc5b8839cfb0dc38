-- The operator's search across every application (GET /api/v1/search, issue 18) and the
-- message log's status filter (GET /app/{app}/msg?status=), each one index search.

-- The Idempotency-Key a message was created with (POST msg), kept with the message: the
-- idempotency_keys rows expire after 12 hours, the message stays. NULL when none was sent.
ALTER TABLE messages ADD COLUMN idempotency_key TEXT;
CREATE INDEX messages_by_idempotency_key ON messages (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- eventId across applications (messages_event_id leads with app_id, so it finds one only
-- within an application).
CREATE INDEX messages_by_event_id ON messages (event_id) WHERE event_id IS NOT NULL;

-- Endpoints by URL, exact or by prefix (a range on this index, in byte order).
CREATE INDEX endpoints_by_url ON endpoints (url);

-- Messages with a pending or a failed delivery, newest first. Only those two states are in
-- it: a succeeded or sending delivery leaves it, so the hot path pays one entry per delivery
-- while it waits (none on SQLite for a delivery a standing claim writes leased) and one per
-- delivery that fails for good.
CREATE INDEX deliveries_by_app_status ON deliveries (app_id, status, msg_id)
  WHERE status IN ('pending', 'failed');
