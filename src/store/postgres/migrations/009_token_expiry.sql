-- Application tokens carry an expiry (unix ms; NULL never: admin tokens, and application
-- tokens made before this migration), a read-only flag, Svix's portal capabilities (a JSON
-- array; NULL: every one), and the portal session they were made for (Svix's `sessionId`,
-- which expire-all's `sessionIds` names). `revoked_by` says what cut a
-- token's life short (logout, expire-all), so that a refused token is told why.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE api_tokens ADD COLUMN capabilities TEXT;
ALTER TABLE api_tokens ADD COLUMN session_id TEXT;
ALTER TABLE api_tokens ADD COLUMN revoked_by TEXT;

-- expire-all: an application's tokens, of one session or all.
CREATE INDEX api_tokens_by_app ON api_tokens (app_id, session_id);
-- Forgetting tokens long expired.
CREATE INDEX api_tokens_by_expiry ON api_tokens (expires_at) WHERE expires_at IS NOT NULL;
