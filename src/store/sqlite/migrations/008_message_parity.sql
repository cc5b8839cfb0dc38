-- Svix message parity: tags, deliverAt, payload retention and expunged content.
-- tags: JSON array text or NULL. deliver_at: when the deliveries became due, if later than
-- created_at. payload_expires_at: when the retention sweep expunges the payload.
-- expunged_at: when the payload was expunged (by request or retention); payload is then ''.
ALTER TABLE messages ADD COLUMN tags TEXT;
ALTER TABLE messages ADD COLUMN deliver_at INTEGER;
ALTER TABLE messages ADD COLUMN payload_expires_at INTEGER;
ALTER TABLE messages ADD COLUMN expunged_at INTEGER;

-- The retention sweep's work, oldest expiry first; rows without retention are not in it.
CREATE INDEX messages_payload_expiry ON messages (payload_expires_at)
  WHERE payload_expires_at IS NOT NULL AND expunged_at IS NULL;

-- When an attempt's response body was expunged (response_body is then '').
ALTER TABLE attempts ADD COLUMN expunged_at INTEGER;
