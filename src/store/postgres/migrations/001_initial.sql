-- Herald's first schema on PostgreSQL. Times are Unix milliseconds (BIGINT), JSON columns
-- hold text (stored and returned exactly as written), as on SQLite.

CREATE TABLE applications (
  id          TEXT PRIMARY KEY,
  uid         TEXT UNIQUE,
  name        TEXT NOT NULL,
  rate_limit  INTEGER,
  metadata    TEXT NOT NULL DEFAULT '{}',
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL
);

CREATE TABLE event_types (
  name        TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  schemas     TEXT,
  archived    BOOLEAN NOT NULL DEFAULT FALSE,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL
);

CREATE TABLE endpoints (
  id             TEXT PRIMARY KEY,
  app_id         TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
  uid            TEXT,
  url            TEXT NOT NULL,
  description    TEXT NOT NULL DEFAULT '',
  filter_types   TEXT,
  channels       TEXT,
  secrets        TEXT NOT NULL,
  headers        TEXT NOT NULL DEFAULT '{}',
  rate_limit     INTEGER,
  disabled       BOOLEAN NOT NULL DEFAULT FALSE,
  metadata       TEXT NOT NULL DEFAULT '{}',
  retry_schedule TEXT,
  timeout_ms     INTEGER,
  failing_since  BIGINT,
  created_at     BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL,
  UNIQUE (app_id, uid)
);

CREATE INDEX endpoints_by_app ON endpoints (app_id, id);

CREATE TABLE messages (
  id          TEXT PRIMARY KEY,
  app_id      TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
  event_type  TEXT NOT NULL,
  event_id    TEXT,
  channels    TEXT,
  payload     TEXT NOT NULL,
  created_at  BIGINT NOT NULL
);

CREATE UNIQUE INDEX messages_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX messages_by_app ON messages (app_id, id);
CREATE INDEX messages_by_app_type ON messages (app_id, event_type, id);

-- status: pending (due_at = next try), sending (due_at = lease expiry), succeeded, failed.
-- An expired lease is simply due, so one partial index serves the claim query.
CREATE TABLE deliveries (
  id              TEXT PRIMARY KEY,
  msg_id          TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  endpoint_id     TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
  app_id          TEXT NOT NULL,
  status          TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  due_at          BIGINT,
  next_trigger    TEXT NOT NULL DEFAULT 'scheduled',
  lease_owner     TEXT,
  last_attempt_at BIGINT,
  created_at      BIGINT NOT NULL,
  UNIQUE (msg_id, endpoint_id)
);

CREATE INDEX deliveries_due ON deliveries (due_at) WHERE status IN ('pending', 'sending');
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, id);

CREATE TABLE attempts (
  id              TEXT PRIMARY KEY,
  delivery_id     TEXT NOT NULL,
  msg_id          TEXT NOT NULL,
  endpoint_id     TEXT NOT NULL,
  app_id          TEXT NOT NULL,
  url             TEXT NOT NULL,
  trigger         TEXT NOT NULL,
  succeeded       BOOLEAN NOT NULL,
  status_code     INTEGER,
  response_body   TEXT NOT NULL,
  duration_ms     INTEGER NOT NULL,
  error_kind      TEXT,
  error_message   TEXT,
  request_headers TEXT NOT NULL,
  created_at      BIGINT NOT NULL
);

CREATE INDEX attempts_by_msg ON attempts (msg_id, id);
CREATE INDEX attempts_by_endpoint ON attempts (endpoint_id, id);

-- app_id NULL is an admin token. Only the SHA-256 of a token is stored.
CREATE TABLE api_tokens (
  hash        TEXT PRIMARY KEY,
  app_id      TEXT REFERENCES applications (id) ON DELETE CASCADE,
  created_at  BIGINT NOT NULL
);

CREATE TABLE idempotency_keys (
  scope        TEXT NOT NULL,
  key          TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  status_code  INTEGER NOT NULL,
  response     TEXT NOT NULL,
  created_at   BIGINT NOT NULL,
  PRIMARY KEY (scope, key)
);
