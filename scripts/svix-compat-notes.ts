/**
 * Hand-kept notes of the compatibility table: how a route Herald has differs from Svix's,
 * beyond what the table finds itself (the Svix fields a route refuses, read from the
 * `x-herald-unsupported` marks of /openapi.json). Keyed by `METHOD /path` as Herald's
 * /openapi.json writes it. Why a route is not built lives with the 501s, in src/api/not-built.ts.
 * After changing a note, run `npx tsx scripts/svix-compat.ts`.
 */
export const DIFFERS: Record<string, string> = {
  'GET /api/v1/health':
    'answers 200 with `{database, dispatcher}`, each `{status: ok, error or notapplicable}`, and 503 when one is in error (the OSS document says 204; the OSS server answers 200 or 503 with `{database, queue, cache}`)',
  'POST /api/v1/auth/app-portal-access/{app_id}':
    '`url` opens a placeholder page, `/portal/{app_id}#key=<token>`, until the consumer portal is built; a token made with `capabilities` may call only the routes they name (reads, endpoint secrets, endpoint changes, replays and resends), so not message creation or application changes; a token made without them may do anything in its application',
  'POST /api/v1/auth/dashboard-access/{app_id}':
    '`url` opens a placeholder page, `/portal/{app_id}#key=<token>`, until the consumer portal is built',
  'POST /api/v1/auth/logout': 'an admin token answers 403: only application tokens log out',
  'POST /api/v1/app':
    "`throttleRate` (or `rateLimit`) is stored and returned, not enforced (endpoints' own rates are)",
  'PUT /api/v1/app/{app_id}':
    "`throttleRate` (or `rateLimit`) is stored and returned, not enforced (endpoints' own rates are)",
  'PATCH /api/v1/app/{app_id}':
    "`throttleRate` (or `rateLimit`) is stored and returned, not enforced (endpoints' own rates are)",
  'POST /api/v1/app/{app_id}/msg':
    'without `payloadRetentionPeriod` or `payloadRetentionHours` the payload is kept as long as the message (Svix applies a default retention of its own); both at once answer 422; a `deliverAt` more than 24 hours ahead answers 422, one already past sends now; the `idempotency-key` is kept with the message, for `GET /api/v1/search`',
  'GET /api/v1/app/{app_id}/msg':
    "Herald's `status` (1 pending, 2 failed) lists the messages with a delivery in that state to any endpoint; 0 and 3 answer 422 (list one endpoint's messages for those: `GET …/endpoint/{endpoint_id}/msg?status=`)",
  'POST /api/v1/app/{app_id}/msg/expunge-all-contents':
    'admin token only (403 for an application token); the task (`application.purge_content`) reports `data.messagesPurged` on `GET /api/v1/background-task/{task_id}`',
  'DELETE /api/v1/app/{app_id}/msg/{msg_id}/content':
    'admin token only (403 for an application token); a delivery of the message still waiting fails unsent when it comes due (`errorKind` `payload_expired`), recover and replays leave it alone, and a resend of it answers 409',
  'DELETE /api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content':
    'admin token only (403 for an application token)',
  'POST /api/v1/operational-webhook/endpoint':
    "admin token only; `filterTypes` must name operational event types (422 otherwise), `[]` or null for all; the responses add Herald's `disabledReason` and `disabledAt`",
  'POST /api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate':
    'the old secret stays valid for `gracePeriodSeconds` (Herald; 24 hours by default), as for an endpoint',
};

/** What Herald's own routes (beyond Svix) do, where /openapi.json gives no summary. */
export const OWN: Record<string, string> = {
  'GET /api/v1/source': "lists the inbound gateway's sources",
  'POST /api/v1/source': 'creates a source: a URL that receives, verifies and forwards third-party webhooks',
  'GET /api/v1/source/{source_id}': 'gets a source',
  'PATCH /api/v1/source/{source_id}': "changes a source's name, secrets or header passthrough",
  'DELETE /api/v1/source/{source_id}': 'deletes a source and its request log',
  'GET /api/v1/source/{source_id}/request': "lists a source's received requests",
  'PATCH /api/v1/operational-webhook/endpoint/{endpoint_id}/headers':
    "changes some of an operational webhook endpoint's headers (a null value removes one), as for an endpoint",
};
