-- The inbound gateway: sources that receive third-party webhooks, and every request they got.

CREATE TABLE sources (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  provider     TEXT NOT NULL,
  secrets      TEXT NOT NULL,
  app_id       TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
  passthrough_headers BOOLEAN NOT NULL DEFAULT FALSE,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL
);

-- status: accepted (forwarded as msg_id), duplicate (already received), rejected (reason).
CREATE TABLE inbound_requests (
  id          TEXT PRIMARY KEY,
  source_id   TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
  status      TEXT NOT NULL,
  reason      TEXT,
  headers     TEXT NOT NULL,
  body        BYTEA NOT NULL,
  msg_id      TEXT,
  created_at  BIGINT NOT NULL
);

CREATE INDEX inbound_by_source ON inbound_requests (source_id, id);

-- Extra headers a message carries (a source's passed-through provider headers), JSON.
ALTER TABLE messages ADD COLUMN headers TEXT;
