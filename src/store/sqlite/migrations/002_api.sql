-- What the HTTP API keeps: hashed tokens and idempotency records.

-- app_id NULL is an admin token. Only the SHA-256 of a token is stored.
CREATE TABLE api_tokens (
  hash        TEXT PRIMARY KEY,
  app_id      TEXT REFERENCES applications (id) ON DELETE CASCADE,
  created_at  INTEGER NOT NULL
) STRICT;

-- One answer per (scope, key): the same key and body within the window gets the same answer.
CREATE TABLE idempotency_keys (
  scope        TEXT NOT NULL,
  key          TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  status_code  INTEGER NOT NULL,
  response     TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX messages_by_app_type ON messages (app_id, event_type, id);
