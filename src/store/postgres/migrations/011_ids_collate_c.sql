-- Ids compare byte by byte, in every database: new tables and columns holding an id, a
-- foreign id or anything a keyset pages or a range compares on are declared
-- TEXT COLLATE "C" (a migration after this one that forgets it reintroduces the bug below).
--
-- Ids sort by creation time only in byte order (base62 digits, '0'-'9' < 'A'-'Z' < 'a'-'z';
-- core/ids.ts). Until now these columns were plain TEXT, compared in the database's default
-- collation: C or C.UTF-8 orders them right, but a database created with en_US (the official
-- Docker image's default) or an ICU locale orders them by linguistic rules ('msg_0Za' after
-- 'msg_0aa'), so keyset pages, before/after windows and the background tasks' id ranges
-- returned wrong rows. ALTER TYPE rebuilds each index and key on the new collation; under
-- C (or C.UTF-8) the order does not change. A referenced key and its foreign keys are
-- altered in one statement per table here, parents first; both sides end up "C".
ALTER TABLE applications
  ALTER COLUMN id TYPE TEXT COLLATE "C",
  ALTER COLUMN uid TYPE TEXT COLLATE "C";
ALTER TABLE event_types
  ALTER COLUMN name TYPE TEXT COLLATE "C";
ALTER TABLE endpoints
  ALTER COLUMN id TYPE TEXT COLLATE "C",
  ALTER COLUMN app_id TYPE TEXT COLLATE "C",
  ALTER COLUMN uid TYPE TEXT COLLATE "C";
ALTER TABLE messages
  ALTER COLUMN id TYPE TEXT COLLATE "C",
  ALTER COLUMN app_id TYPE TEXT COLLATE "C",
  ALTER COLUMN event_type TYPE TEXT COLLATE "C",
  ALTER COLUMN event_id TYPE TEXT COLLATE "C";
ALTER TABLE deliveries
  ALTER COLUMN id TYPE TEXT COLLATE "C",
  ALTER COLUMN msg_id TYPE TEXT COLLATE "C",
  ALTER COLUMN endpoint_id TYPE TEXT COLLATE "C",
  ALTER COLUMN app_id TYPE TEXT COLLATE "C";
ALTER TABLE attempts
  ALTER COLUMN id TYPE TEXT COLLATE "C",
  ALTER COLUMN delivery_id TYPE TEXT COLLATE "C",
  ALTER COLUMN msg_id TYPE TEXT COLLATE "C",
  ALTER COLUMN endpoint_id TYPE TEXT COLLATE "C",
  ALTER COLUMN app_id TYPE TEXT COLLATE "C";
ALTER TABLE api_tokens
  ALTER COLUMN hash TYPE TEXT COLLATE "C",
  ALTER COLUMN app_id TYPE TEXT COLLATE "C",
  ALTER COLUMN session_id TYPE TEXT COLLATE "C";
ALTER TABLE sources
  ALTER COLUMN id TYPE TEXT COLLATE "C",
  ALTER COLUMN app_id TYPE TEXT COLLATE "C";
ALTER TABLE inbound_requests
  ALTER COLUMN id TYPE TEXT COLLATE "C",
  ALTER COLUMN source_id TYPE TEXT COLLATE "C",
  ALTER COLUMN msg_id TYPE TEXT COLLATE "C";
ALTER TABLE inbound_counters
  ALTER COLUMN source_id TYPE TEXT COLLATE "C";
ALTER TABLE background_tasks
  ALTER COLUMN id TYPE TEXT COLLATE "C",
  ALTER COLUMN app_id TYPE TEXT COLLATE "C",
  ALTER COLUMN endpoint_id TYPE TEXT COLLATE "C";
