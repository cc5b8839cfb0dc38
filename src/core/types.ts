/**
 * Herald's domain types.
 *
 * Glossary (see DESIGN.md for the full contract):
 * - **application** (`app_…`): a consumer of webhooks; owns endpoints and messages.
 * - **event type**: a named kind of event (`content.published`), with a description.
 * - **endpoint** (`ep_…`): a URL subscribed to some event types and channels, with its own
 *   secret(s), custom headers, retry schedule and timeout.
 * - **message** (`msg_…`): one event sent to one application; its payload is kept as the
 *   exact JSON text that arrived and is sent byte for byte.
 * - **delivery** (`dlv_…`): one message bound for one endpoint, with its state, attempt count,
 *   due time and lease.
 * - **attempt** (`atmpt_…`): one HTTP request of a delivery and what came back.
 * - **source** (`src_…`): an inbound URL (`/in/{id}`) receiving a provider's webhooks,
 *   verified by the provider's scheme and forwarded as messages to an application.
 * - **tags**: a message's free-form labels (Svix's), which lists filter by; they route nothing.
 * - **deferred** message: one with a `deliverAt`; its deliveries are written pending, due then,
 *   and never fill a standing claim.
 * - **expunged**: a message's payload (or an attempt's response body) removed while the record
 *   stays, on request or when its payload retention ends; a delivery of it still pending fails
 *   unsent when it comes due (`payload_expired`).
 * - **background task** (`qtask_…`): work an API call started and a task runner finishes
 *   in batches (recover, replay-missing, bulk-replay): a durable row with its kind, status
 *   (`running`, `finished`, `failed`), cursor and counts, held by one runner at a time under
 *   a lease, as a delivery is.
 * - **inbound request** (`inreq_…`): one request a source received, kept in its log. A
 *   **replay** forwards a stored one again as a new message and logs a `replayed` row.
 * - **trace context**: a message's stored W3C context (JSON text), whose span its attempts
 *   are children of; the **cause** of a store write (src/store/cause.ts) is the context of
 *   the request or task making it, which the operational events it emits store as theirs.
 *
 * The delivery engine's own words (src/delivery/dispatcher.ts, src/store/sqlite/deliveries.ts):
 * - **lease**: a claimed delivery belongs to one worker (`leaseOwner`) until
 *   `leaseExpiresAt` (claim time + `leaseMs`, which outlives the request timeout). A worker
 *   that dies leaves its leases to expire, and then any worker claims them again; a late
 *   worker's completion does not overwrite a delivery another worker has re-leased.
 * - **standing claim** (SQLite only, the optional `Store.standingClaims`): what a claim did
 *   not fill of its limit stays open for its worker (`claim` stands in the claim's own
 *   transaction; `stand` alone leaves one without claiming); the deliveries of messages
 *   accepted next, up to that many and not for its skipped endpoints, are written already
 *   leased to it in the same commit, with no wake-up and no claim.
 *   `withdraw` (or a stand with `limit: 0`) ends it; one per store.
 * - **fresh** delivery: one that filled a standing claim, handed to the worker by
 *   `standingClaims.onFresh` once committed, as a claim would have returned it.
 * - **held**: the deliveries a dispatcher has claimed or taken fresh and not yet finished or
 *   given back, queued locally or sending; counted overall (`inFlight`, against
 *   `concurrency`) and per endpoint (against its budget, twice `endpointConcurrency`, less
 *   when a rate limit would keep them waiting).
 * - **saturated** endpoint: one holding its full budget; claims skip it (`skipEndpoints`)
 *   until it is down to half, so claims come in batches rather than one per attempt.
 * - **pump**: starting an endpoint's queued deliveries while its concurrency and rate limit
 *   allow; it runs when a delivery is held, an attempt ends, or a rate-limit slot comes.
 * - **give back** (`Store.release`): returning a held delivery untried, with no attempt
 *   counted, due now or at its rate limit's slot: at shutdown, when its lease is too short
 *   to try, or when it would wait past the rate limit's horizon.
 *
 * The dashboard's failures (src/core/failures.ts): a **cause** (`http_5xx` or an error kind), a
 * **failure group** (an endpoint's failed attempts of one cause, counted as they are recorded)
 * and an endpoint's **failure streak** (its failed attempts since its last success).
 *
 * All times are Unix milliseconds taken from an injected {@link Clock}.
 */

/** A consumer of webhooks. */
export interface Application {
  id: string;
  uid: string | null;
  name: string;
  /** Stored for the API; per-application throttling is not enforced yet (see README). */
  rateLimit: number | null;
  metadata: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

/** A named kind of event. */
export interface EventType {
  name: string;
  description: string;
  /** Optional JSON Schemas keyed by version, as in the Svix API. */
  schemas: Record<string, unknown> | null;
  archived: boolean;
  /** Still accepted, but its senders are asked to move off it (Svix's `deprecated`). */
  deprecated: boolean;
  /** Svix's `featureFlag`: only a token carrying the flag sees it; Herald's application tokens carry none. */
  featureFlag: string | null;
  createdAt: number;
  updatedAt: number;
}

/** One signing key of an endpoint; `expiresAt` is set on keys kept for a rotation's grace period. */
export interface EndpointSecret {
  /** `whsec_…` (HMAC, signs `v1`) or `whsk_…` (ed25519, signs `v1a`). */
  key: string;
  expiresAt: number | null;
}

/** A URL subscribed to some of an application's messages. */
export interface Endpoint {
  id: string;
  appId: string;
  uid: string | null;
  url: string;
  description: string;
  /** Event types this endpoint receives; `null` means all. */
  filterTypes: string[] | null;
  /** Channels this endpoint receives; `null` means every message, whatever its channels. */
  channels: string[] | null;
  /** The current key first, then keys still inside their rotation grace period. */
  secrets: EndpointSecret[];
  headers: Record<string, string>;
  /**
   * Names among `headers` marked sensitive: `GET …/headers` lists them without their values.
   * Credential-named headers (`isCredentialHeader`) are sensitive without a mark.
   */
  sensitiveHeaders: string[];
  /** Stored for the API; real per-endpoint throttling is on the roadmap (see README). */
  rateLimit: number | null;
  disabled: boolean;
  metadata: Record<string, string>;
  /** Per-endpoint retry delays in ms (after the first try); `null` uses the server's. */
  retrySchedule: number[] | null;
  /** Per-endpoint request timeout in ms (1,000 to 30,000); `null` uses the server's. */
  timeoutMs: number | null;
  /** When messages first exhausted their retries with no success since; drives auto-disable. */
  failingSince: number | null;
  /**
   * Herald's payload filter (`core/payload-filter.ts`): a MongoDB-style query over the
   * message's `payload`, `eventType`, `channels` and `tags`; `null`: every message it is
   * subscribed to.
   */
  filter: Record<string, unknown> | null;
  /** Its transformation's JavaScript (`function handler(webhook)`), or `null` for none. */
  transformationCode: string | null;
  /** Whether deliveries run {@link Endpoint.transformationCode}. */
  transformationEnabled: boolean;
  /**
   * Why the store disabled it by itself: `gone` (it answered 410), `failing` (its deliveries
   * failed for the auto-disable period) or `idle` (a listener endpoint no `herald listen` held
   * for `--listener-idle-days`); `null` when enabled or disabled through the API.
   */
  disabledReason: 'gone' | 'failing' | 'idle' | null;
  /** When the store disabled it by itself (ms); `null` with `disabledReason`. */
  disabledAt: number | null;
  /**
   * A listener endpoint's name (`herald listen`): its deliveries are handed to the connected
   * listen client over its stream, never POSTed by a dispatcher. `null` for every other endpoint.
   */
  listener: string | null;
  /** When a listen client last held this listener endpoint's stream; `null` if never or not a listener. */
  listenerSeenAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** One event sent to one application. */
export interface Message {
  id: string;
  appId: string;
  eventType: string;
  /** Caller-chosen idempotency id, unique within the application. */
  eventId: string | null;
  channels: string[] | null;
  /** Free-form labels that lists filter by (`?tag=`); they route nothing. */
  tags: string[] | null;
  /**
   * The payload as the exact JSON text that will be signed and sent; `null` once it is
   * gone (expunged, or past its retention): the message stays, and sends nothing more.
   */
  payload: string | null;
  /** Extra headers sent with this message (a source's passed-through provider headers). */
  headers: Record<string, string> | null;
  /** `MessageIn.transformationsParams`: handed to endpoints' transformations as given. */
  transformationsParams: Record<string, unknown> | null;
  /** When its deliveries become due, if later than its creation (Svix's `deliverAt`). */
  deliverAt: number | null;
  /** When its payload is expunged by the retention sweep; `null`: the server default applies (`--retention-days`, by age). */
  payloadExpiresAt: number | null;
  /**
   * The W3C trace context of the ingest (a JSON object of `traceparent`, and `tracestate` if
   * any), so that its attempts join the ingest's trace; `null` when tracing was off.
   */
  traceContext: string | null;
  /** The `Idempotency-Key` it was created with (POST msg), kept for the operator's search. */
  idempotencyKey: string | null;
  createdAt: number;
}

/**
 * Where a delivery stands. `sending` means leased by a worker; `canceled`, that the endpoint's
 * transformation set `webhook.cancel`: nothing was sent, and nothing failed.
 */
export type DeliveryStatus = 'pending' | 'sending' | 'succeeded' | 'failed' | 'canceled';

/** One message bound for one endpoint. */
export interface Delivery {
  id: string;
  msgId: string;
  endpointId: string;
  appId: string;
  status: DeliveryStatus;
  attempts: number;
  /** For `pending`, when the next try is due; for `sending`, when the lease expires. */
  dueAt: number | null;
  leaseOwner: string | null;
  lastAttemptAt: number | null;
  createdAt: number;
}

/**
 * Why an attempt failed without an HTTP status, or what the status meant.
 * Retry rules are keyed on these (see `core/retry.ts`).
 */
export type AttemptErrorKind =
  | 'http_status'
  | 'timeout'
  | 'connection_refused'
  | 'connection_reset'
  | 'invalid_response'
  | 'dns'
  | 'tls'
  | 'blocked_address'
  | 'invalid_url'
  | 'network'
  | 'endpoint_disabled'
  | 'payload_expired'
  /** The endpoint's transformation threw, ran past its limits, or returned something invalid. */
  | 'transformation_error'
  /** The endpoint's transformation canceled the delivery; nothing was sent. */
  | 'canceled';

/** What started an attempt. */
export type AttemptTrigger = 'scheduled' | 'manual';

/** One HTTP request of a delivery. */
export interface Attempt {
  id: string;
  deliveryId: string;
  msgId: string;
  endpointId: string;
  appId: string;
  url: string;
  trigger: AttemptTrigger;
  succeeded: boolean;
  /** HTTP status, or `null` when no response arrived. */
  statusCode: number | null;
  /** The first 20,000 bytes of the response body at most, decoded as UTF-8. */
  responseBody: string;
  /**
   * When its response body was expunged (`responseBody` is then empty); `null` if kept. Set
   * by the store on reads; an attempt being recorded leaves it out.
   */
  expungedAt?: number | null;
  durationMs: number;
  errorKind: AttemptErrorKind | null;
  errorMessage: string | null;
  /** The request headers sent, without the body. */
  requestHeaders: Record<string, string>;
  createdAt: number;
}

/** How a source verifies what it receives. */
export type SourceProvider =
  | 'github'
  | 'stripe'
  | 'shopify'
  | 'slack'
  | 'standard-webhooks'
  | 'hmac'
  | 'none';

/** An inbound URL for a third-party provider's webhooks. */
export interface Source {
  id: string;
  name: string;
  provider: SourceProvider;
  /** Verification secrets; any one may match (rotation). Empty for `none`. */
  secrets: string[];
  /** The application whose endpoints receive what arrives. */
  appId: string;
  /** Forward the provider's own headers (those Herald does not set itself) with each message. */
  passthroughHeaders: boolean;
  createdAt: number;
  updatedAt: number;
}

/** What became of one inbound request; a `replayed` row is written by a replay, not by a provider. */
export type InboundStatus = 'accepted' | 'duplicate' | 'rejected' | 'replayed';

/** One request a source received, kept raw (a rejected one keeps the start of its body only). */
export interface InboundRequest {
  id: string;
  sourceId: string;
  status: InboundStatus;
  /** Why it was rejected (a verification reason code); of a `replayed` row, the id it replays. */
  reason: string | null;
  headers: Record<string, string>;
  /** The body as received, or its first bytes when `body.length < bodySize`. */
  body: Buffer;
  /** Size in bytes of the body as received. */
  bodySize: number;
  /** When retention expunged the body (then `body` is empty); null while it is kept. */
  bodyExpungedAt: number | null;
  /** The message it became (accepted, replayed), or the earlier one (duplicate). */
  msgId: string | null;
  createdAt: number;
}

/** Where a background task stands. */
export type TaskStatus = 'running' | 'finished' | 'failed';

/** Work started by an API call and done in batches by a task runner (see `src/api/tasks/`). */
export interface BackgroundTask {
  /** `qtask_…`. */
  id: string;
  /** What it does, in Svix's words (`endpoint.recover`); a runner has one handler per kind. */
  kind: string;
  status: TaskStatus;
  /** The application it works on, if any: an application token sees only its own tasks. */
  appId: string | null;
  endpointId: string | null;
  /** The handler's input, as given when the task was created. */
  params: Record<string, unknown>;
  /** Where the next batch starts; `null` before the first. */
  cursor: string | null;
  /** What it reports (counts so far; `error` when it failed). */
  data: Record<string, unknown>;
  /** How many runners took it and did not give it back: 1, plus one for each that died during it. */
  runs: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}
