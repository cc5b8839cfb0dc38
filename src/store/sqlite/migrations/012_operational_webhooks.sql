-- Operational webhooks (core/operational.ts): the reserved application that holds the
-- operational endpoints and their event messages, hidden from the applications API. Its id
-- has the shape of an application id but cannot be made by newId (an underscore is not a
-- base62 digit), and a uid of id shape is refused, so nothing a user creates can take it.
INSERT INTO applications (id, uid, name, rate_limit, metadata, created_at, updated_at)
  VALUES ('app_operational_webhooks', NULL, 'Operational webhooks', NULL, '{}', 0, 0)
  ON CONFLICT DO NOTHING;

-- Why and when the store disabled an endpoint by itself: 'gone' (a 410) or 'failing' (its
-- deliveries failed for the auto-disable period); both NULL when it is enabled, or was
-- disabled through the API.
ALTER TABLE endpoints ADD COLUMN disabled_reason TEXT;
ALTER TABLE endpoints ADD COLUMN disabled_at INTEGER;
