/**
 * The `Store` contract: everything Herald keeps, behind one interface that every backend
 * (SQLite and PostgreSQL) implements and that one contract test suite checks.
 * No driver type crosses it. Methods that write take their time from the store's clock,
 * except the delivery methods, which take `now` from the dispatcher.
 */
import type { NextState } from '../core/retry.js';
import type {
  Application,
  Attempt,
  AttemptTrigger,
  BackgroundTask,
  Delivery,
  Endpoint,
  EventType,
  InboundRequest,
  Message,
  Source,
  SourceProvider,
  TaskStatus,
} from '../core/types.js';
import type { ActivityBucket } from './activity.js';
import type { FailurePage, FailureQuery } from './failures.js';

/** The order of a list by its key (an id, or an event type's name). */
export type Order = 'ascending' | 'descending';

/**
 * A page request, paged by key as Svix pages (see `src/store/paging.ts`): at most `limit`
 * items after `iterator` (a key) in the list's order, or with `iterator` `-X`, the `limit`
 * items just before X.
 */
export interface PageRequest {
  limit: number;
  iterator?: string | null;
  /** The list's order; left out, the list's own (each method says which). */
  order?: Order;
}

/** A page of results, in the list's order. */
export interface Page<T> {
  data: T[];
  /** The last item's key: as `iterator`, the page after this one. */
  iterator: string | null;
  /** `-` and the first item's key: as `iterator`, the page before this one. */
  prevIterator: string | null;
  /** Nothing is left past this page in the direction it was read. */
  done: boolean;
}

/** Filters of {@link Store.listEventTypes}. */
export interface EventTypeFilter {
  /** Archived event types too; left out, only the others. */
  includeArchived?: boolean;
}

/** Filters of {@link Store.listApplications}. */
export interface ApplicationFilter {
  /** Only applications whose name contains this text, in any case. */
  nameContains?: string;
}

/** Filters of {@link Store.listEndpointDeliveries}. */
export interface EndpointDeliveryFilter {
  endpointId: string;
  status?: Delivery['status'];
  eventTypes?: readonly string[];
  channel?: string;
  /** Only deliveries of messages carrying this tag. */
  tag?: string;
  /** Only messages created before / after these times (ms). */
  before?: number;
  after?: number;
}

/** Input of {@link Store.createApplication}. */
export interface NewApplication {
  name: string;
  uid?: string | null;
  rateLimit?: number | null;
  metadata?: Record<string, string>;
}

/** Fields of an application that can change. */
export type ApplicationPatch = Partial<NewApplication>;

/** Input of {@link Store.upsertEventType} and {@link Store.createEventType}. */
export interface NewEventType {
  name: string;
  description?: string;
  schemas?: Record<string, unknown> | null;
  archived?: boolean;
  deprecated?: boolean;
  featureFlag?: string | null;
}

/** Input of {@link Store.createEndpoint}; a secret is generated when none is given. */
export interface NewEndpoint {
  url: string;
  uid?: string | null;
  description?: string;
  filterTypes?: string[] | null;
  channels?: string[] | null;
  secret?: string | null;
  headers?: Record<string, string>;
  /** Names among `headers` to mark sensitive; left out, the marks of headers still there stay. */
  sensitiveHeaders?: string[];
  rateLimit?: number | null;
  disabled?: boolean;
  metadata?: Record<string, string>;
  retrySchedule?: number[] | null;
  timeoutMs?: number | null;
  /** A payload filter (checked by `checkFilter`); `null` removes it. */
  filter?: Record<string, unknown> | null;
  /** Its transformation's code; the caller has compiled it (the store does not run code). */
  transformationCode?: string | null;
  transformationEnabled?: boolean;
}

/** Fields of an endpoint that can change (secrets change through rotation only). */
export type EndpointPatch = Partial<Omit<NewEndpoint, 'secret'>>;

/** Input of {@link Store.acceptMessage}. */
export interface NewMessage {
  appId: string;
  eventType: string;
  eventId?: string | null;
  channels?: string[] | null;
  /** JSON text, stored and sent byte for byte. */
  payload: string;
  /** Deliver to this enabled endpoint only, whatever its filters (an example message). */
  onlyEndpointId?: string;
  /** Extra headers to send with the message (reserved names are dropped). */
  headers?: Record<string, string> | null;
  /** Free-form labels lists filter by (at most 5, Svix's pattern). */
  tags?: string[] | null;
  /**
   * When the deliveries become due (ms); at most `LIMITS.deliverAtMaxAheadMs` after the
   * store's now (`ValidationError` on `deliverAt` past it). A time already past means now.
   */
  deliverAt?: number | null;
  /** Hours to keep the payload (1 to 2160); left out or `null`, as long as the message. */
  payloadRetentionHours?: number | null;
  /** Handed to the endpoints' transformations as `webhook.transformationsParams`. */
  transformationsParams?: Record<string, unknown> | null;
  /** The ingest's W3C trace context as JSON text ({@link Message.traceContext}); stored as given. */
  traceContext?: string | null;
  /** The `Idempotency-Key` of the request that created it ({@link Message.idempotencyKey}). */
  idempotencyKey?: string | null;
}

/** A durably stored message and how many deliveries it fanned out to. */
export interface AcceptedMessage {
  message: Message;
  deliveries: number;
}

/** Input of {@link Store.claimDue}. */
export interface ClaimRequest {
  /** Who holds the lease (a worker id). */
  owner: string;
  now: number;
  /** The lease lasts until `now + leaseMs`; it must outlive the request timeout. */
  leaseMs: number;
  limit: number;
  /** Endpoints whose concurrency budget is full: leave their deliveries for later. */
  skipEndpoints: readonly string[];
}

/** What {@link Store.claimDueAndNext} answers. */
export interface ClaimWithNext {
  claimed: ClaimedDelivery[];
  /**
   * The earliest due time after the claim's `now` among the deliveries it left, pending or
   * leased (a lease's end; not the leases this claim takes), of the endpoints it did not
   * skip; `null` if none is due later, or if the claim took its whole limit (its caller
   * claims again rather than sleeps). Deliveries already due that it did not take (held by
   * another claim) are not in it: they are the other claim's. A skipped endpoint's
   * deliveries are not in it either: its completions in this worker are what wake it.
   */
  nextDueAt: number | null;
}

/** Input of {@link StandingClaims.stand}: what a worker's last claim left room for. */
export interface StandingOrder {
  /** The lease of each delivery taken lasts until its message's time + `leaseMs`. */
  leaseMs: number;
  /** Deliveries it takes at most; 0 leaves none standing. */
  limit: number;
  /** Endpoints whose concurrency budget is full: their deliveries are left pending. */
  skipEndpoints: readonly string[];
}

/**
 * Hears of deliveries that filled the standing claim of `owner`, already leased to it (see
 * {@link StandingClaims}); a listener takes only those of its own worker.
 */
export type FreshListener = (owner: string, deliveries: ClaimedDelivery[]) => void;

/**
 * Standing claims: a capability of a store that commits messages in this process (SQLite),
 * so that it can hand their deliveries to a waiting worker as it writes them, without a
 * claim. A store spanning processes (PostgreSQL) leaves it out: there every delivery waits
 * for a claim (`claimDueAndNext`), woken by a notification.
 */
export interface StandingClaims {
  /**
   * Leaves a standing claim for `owner`, replacing the one before it: deliveries of messages
   * accepted from now on are written leased to `owner`, up to `order.limit`, and handed to the
   * {@link onFresh} listeners once committed. A worker claims through {@link claim}, which
   * stands with the room each claim left in the claim's own transaction. A `claimDue` by
   * `owner` withdraws its standing claim in that claim's transaction, so that nothing fills a
   * standing claim sized for the worker's room before that claim.
   */
  stand(owner: string, order: StandingOrder): Promise<void>;
  /**
   * Claims as {@link Store.claimDue} does and, in the same transaction, stands for the room
   * the claim left (`request.limit` less what it took, skipping the same endpoints): one call
   * where a claim and a stand would take two, with no moment between them in which a
   * committed message waits pending for the next claim. What a worker with standing claims
   * calls in its loop.
   */
  claim(request: ClaimRequest): Promise<ClaimedDelivery[]>;
  /** Withdraws `owner`'s standing claim; what filled it before is handed over before this resolves. */
  withdraw(owner: string): Promise<void>;
  /** Calls `listener` with the deliveries that filled a standing claim; returns the unsubscribe function. */
  onFresh(listener: FreshListener): () => void;
}

/** See {@link Store.queueStats}. */
export interface QueueStats {
  pending: number;
  sending: number;
  oldestDueAt: number | null;
}

/** A delivery leased to a worker, with what its attempt needs. */
export interface ClaimedDelivery {
  id: string;
  msgId: string;
  endpointId: string;
  appId: string;
  /** Attempts made before this one. */
  attempts: number;
  trigger: AttemptTrigger;
  eventType: string;
  /** `null` when the message's payload is gone: the worker fails the delivery unsent (`payload_expired`). */
  payload: string | null;
  /** The message's extra headers, if any. */
  headers: Record<string, string> | null;
  /** The message's `transformationsParams`, for the endpoint's transformation. */
  transformationsParams: Record<string, unknown> | null;
  /** The message's trace context ({@link Message.traceContext}): the attempt's span is its child. */
  traceContext: string | null;
  leaseExpiresAt: number;
  /** The endpoint's `updatedAt`, so a worker knows when its cached copy is stale. */
  endpointVersion: number;
}

/** Input of {@link Store.claimListener}: one listener endpoint's stream asking for work. */
export interface ListenerClaim {
  endpointId: string;
  /** Who holds the lease (the stream's connection id). */
  owner: string;
  now: number;
  /** A delivery handed to a client that vanishes is due again when its lease ends. */
  leaseMs: number;
  limit: number;
}

/** Told of attempts committed by {@link Store.complete} in this process, with their deliveries' next state. */
export type AttemptsListener = (events: readonly { attempt: Attempt; next: DeliveryNext }[]) => void;

/** A leased delivery given back untried, and when it is due again. */
export interface Release {
  deliveryId: string;
  dueAt: number;
}

/** What became of a delivery after an attempt: core's decision ({@link NextState}), as stored. */
export type DeliveryNext = NextState;

/** One attempt's result, written by {@link Store.complete}. */
export interface Completion {
  owner: string;
  deliveryId: string;
  endpointId: string;
  /**
   * The attempt made; `null` when none was (the endpoint was disabled meanwhile). Its id
   * begins with its `createdAt` (`newId('atmpt', createdAt)`): attempt lists read a time
   * window as a range of ids.
   */
  attempt: Attempt | null;
  next: DeliveryNext;
  /** 410 Gone: disable the endpoint now. */
  disableEndpoint: boolean;
  /**
   * The delivery's attempts so far, this one included: the operational events
   * `message.attempt.failing` (the 4th failure) and `.recovered` are told by it. Absent:
   * unknown, and neither is sent.
   */
  attemptsMade?: number;
  /**
   * The attempt's span as stored JSON text (see `src/tracing`): the operational events it
   * causes (failing, exhausted, recovered, its endpoint disabled) are its children. Absent:
   * not traced.
   */
  traceContext?: string | null;
}

/** An endpoint that a batch of completions disabled. */
export interface DisabledEndpoint {
  appId: string;
  endpointId: string;
  reason: 'gone' | 'failing';
}

/** Filters of {@link Store.listAttempts}: by message, by endpoint, or both. */
export type AttemptFilter = {
  appId: string;
  succeeded?: boolean;
  /** 0 (no response), 100, 200, 300, 400 or 500. */
  statusCodeClass?: number;
  eventTypes?: readonly string[];
  /** Only attempts of messages carrying this tag. */
  tag?: string;
  /** Only attempts of messages sent on this channel. */
  channel?: string;
  /** Only attempts made before / after these times (ms). */
  before?: number;
  after?: number;
} & ({ msgId: string; endpointId?: string } | { msgId?: string; endpointId: string });

/** Filters of {@link Store.listMessages}. */
export interface MessageFilter {
  appId: string;
  eventTypes?: readonly string[];
  channel?: string;
  /** Only messages carrying this tag. */
  tag?: string;
  /** Only messages created before / after these times (ms). */
  before?: number;
  after?: number;
  /**
   * Only messages with at least one delivery in this state, to any endpoint. Only these two
   * are served without an endpoint: the index of it (`deliveries_by_app_status`) holds them alone.
   */
  deliveryStatus?: SearchableDeliveryStatus;
}

/** The delivery states {@link MessageFilter.deliveryStatus} filters by. */
export type SearchableDeliveryStatus = 'pending' | 'failed';

/** What a message found by {@link Store.findMessages} matched on. */
export type MessageMatch = 'id' | 'eventId' | 'idempotencyKey';

/** How long an expired application token is kept, so that using it hears "expired", not "invalid": 30 days. */
export const EXPIRED_TOKEN_KEPT_MS = 30 * 86_400_000;

/** What an API token may do, and for how long ({@link Store.saveToken}). */
export interface TokenGrant {
  /** When it stops working (unix ms); `null` or left out, never. */
  expiresAt?: number | null;
  /** It may only read: every write is refused. */
  readOnly?: boolean;
  /** Svix's portal capabilities it holds (`ViewBase`, …); `null` or left out, every one. */
  capabilities?: readonly string[] | null;
  /** The portal session it was made for (Svix's `sessionId`), which expire-all may name. */
  sessionId?: string | null;
}

/** A stored API token (its hash is the key). */
export interface StoredToken {
  /** `null` for an admin token. */
  appId: string | null;
  /** When it stops (or stopped) working, unix ms; `null` never. */
  expiresAt: number | null;
  readOnly: boolean;
  /** Svix's portal capabilities; `null`: every one. */
  capabilities: string[] | null;
  sessionId: string | null;
  /** What cut its life short, if anything did. */
  revokedBy: 'logout' | 'expire-all' | null;
}

/** A stored idempotent answer. */
export interface IdempotentAnswer {
  requestHash: string;
  statusCode: number;
  response: string;
  createdAt: number;
}

/** Input of {@link Store.createSource}. */
export interface NewSource {
  name: string;
  provider: SourceProvider;
  secrets: string[];
  /** Application id or uid. */
  appId: string;
  passthroughHeaders?: boolean;
}

/** What {@link Store.updateSource} may change: a source keeps its id (so its ingest URL), provider and application. */
export type SourcePatch = Partial<Pick<NewSource, 'name' | 'secrets' | 'passthroughHeaders'>>;

/** Input of {@link Store.recordInbound}: a request as the gateway kept it; the store stamps id and time. */
export type NewInboundRequest = Omit<InboundRequest, 'id' | 'createdAt' | 'bodyExpungedAt'>;

/** A time window [since, until) in ms; `until` null: no end. */
export interface TimeWindow {
  since: number;
  until: number | null;
}

/** One batch of a background task's scan: `next` is where the following batch starts, `null` when done. */
export interface BatchResult {
  /** Deliveries made due again (recover, bulk-replay) or created (replay-missing). */
  count: number;
  next: string | null;
}

/** Filters of {@link Store.bulkReplayBatch}, on a delivery and its message. */
export interface BulkReplayFilter extends TimeWindow {
  eventTypes?: readonly string[];
  channel?: string;
  /** Only deliveries of messages carrying this tag. */
  tag?: string;
  /** The delivery's state now. */
  status?: Delivery['status'];
  /** The class of its last attempt's status: 0 (no response), 100, 200, 300, 400 or 500. */
  statusCodeClass?: number;
}

/** Input of {@link Store.createTask}. */
export interface NewTask {
  kind: string;
  appId: string | null;
  endpointId: string | null;
  params: Record<string, unknown>;
  data: Record<string, unknown>;
  /** The runner that starts it at once: it holds the lease from the start. */
  owner: string;
  leaseMs: number;
}

/** Filters of {@link Store.listTasks}. */
export interface TaskFilter {
  /** Only this application's tasks (an application token's view). */
  appId?: string;
  status?: TaskStatus;
  kind?: string;
}

/** What {@link Store.advanceTask} writes after a batch. */
export interface TaskProgress {
  cursor: string | null;
  data: Record<string, unknown>;
  /** `running` keeps it going (its lease renewed by `leaseMs`); `finished` or `failed` ends it and frees it. */
  status: TaskStatus;
  leaseMs: number;
}

/** Told that deliveries may be due, for these endpoints (`null`: any endpoint). */
export type WakeListener = (endpointIds: readonly string[] | null) => void;

/** Durable storage of everything Herald knows. */
export interface Store extends AsyncDisposable {
  /** The backend's name, for logs and the startup banner. */
  readonly kind: string;

  /** Creates an application. Throws `ConflictError` on a duplicate `uid`. */
  createApplication(input: NewApplication): Promise<Application>;
  /** An application by id or uid. */
  getApplication(idOrUid: string): Promise<Application | null>;
  /** Applications by id, newest first unless `page.order` says otherwise. */
  listApplications(page: PageRequest, filter?: ApplicationFilter): Promise<Page<Application>>;
  /** Changes an application. Throws `NotFoundError`, `ConflictError`. */
  updateApplication(id: string, patch: ApplicationPatch): Promise<Application>;
  /** Deletes an application with its endpoints, messages, deliveries and attempts. */
  deleteApplication(id: string): Promise<void>;

  /** Creates or replaces an event type. */
  upsertEventType(input: NewEventType): Promise<EventType>;
  /** An event type by name. */
  getEventType(name: string): Promise<EventType | null>;
  /** Event types by name, ascending unless `page.order` says otherwise. */
  listEventTypes(page: PageRequest, filter?: EventTypeFilter): Promise<Page<EventType>>;
  /**
   * Creates an event type, or revives an archived one of that name with these fields (Svix's
   * create). Throws `ConflictError` when a live (not archived) one has the name.
   */
  createEventType(input: NewEventType): Promise<EventType>;
  /** Deletes an event type. Throws `NotFoundError`. */
  deleteEventType(name: string): Promise<void>;

  /** Creates an endpoint. Throws `NotFoundError` (app), `ConflictError` (uid), `ValidationError`. */
  createEndpoint(appId: string, input: NewEndpoint): Promise<Endpoint>;
  /** An endpoint of an application, by id or uid. */
  getEndpoint(appId: string, idOrUid: string): Promise<Endpoint | null>;
  /** An application's endpoints by id, newest first unless `page.order` says otherwise. */
  listEndpoints(appId: string, page: PageRequest): Promise<Page<Endpoint>>;
  /** Changes an endpoint. Re-enabling it clears its failure clock. */
  updateEndpoint(appId: string, id: string, patch: EndpointPatch): Promise<Endpoint>;
  /**
   * Makes `newSecret` the current key; the previous current key keeps signing until
   * `now + graceMs`.
   */
  rotateEndpointSecret(appId: string, id: string, newSecret: string, graceMs: number): Promise<Endpoint>;
  /** Deletes an endpoint with its deliveries and attempts. */
  deleteEndpoint(appId: string, id: string): Promise<void>;

  /**
   * Stores a message and one delivery per matching endpoint in one transaction, shared with
   * other messages accepted at the same moment (group commit). Resolves only once committed.
   * Throws `NotFoundError` (app), `ConflictError` (duplicate `eventId` in the application).
   */
  acceptMessage(input: NewMessage): Promise<AcceptedMessage>;
  /** A message of an application, by id or eventId. */
  getMessage(appId: string, idOrEventId: string): Promise<Message | null>;
  /**
   * An application's messages by id, newest first; with `after` and no `before` nor
   * iterator, the oldest page after `after` (see `keyset` in `src/store/paging.ts`).
   */
  listMessages(filter: MessageFilter, page: PageRequest): Promise<Page<Message>>;
  /** Messages of an application by id, those that exist, in no particular order. */
  getMessages(appId: string, ids: readonly string[]): Promise<Message[]>;
  /**
   * Messages of any application whose id, eventId or idempotency key is `key` (the operator's
   * search): the one with that id, then up to `limit` by eventId and up to `limit` by
   * idempotency key, in no particular order; each kind one index search that stops at `limit`.
   */
  findMessages(key: string, limit: number): Promise<{ matched: MessageMatch; message: Message }[]>;
  /** The endpoint with this id, in whichever application. */
  findEndpoint(id: string): Promise<Endpoint | null>;
  /** Endpoints of any application whose URL starts with `prefix`, by URL, at most `limit` (one index range). */
  findEndpointsByUrl(prefix: string, limit: number): Promise<Endpoint[]>;
  /**
   * An endpoint's deliveries with their messages, keyed by message id and paged as
   * {@link listMessages} pages (the time window is the messages' time).
   */
  listEndpointDeliveries(
    filter: EndpointDeliveryFilter,
    page: PageRequest,
  ): Promise<Page<{ delivery: Delivery; message: Message }>>;
  /**
   * Expunges a message's payload and its attempts' response bodies: the message and its
   * attempts stay, their content is gone (overwritten in the files too, on SQLite). Its
   * deliveries send nothing more: each fails unsent when it next comes due
   * (`payload_expired`). Throws `NotFoundError`.
   */
  expungeMessageContent(appId: string, msgId: string): Promise<void>;
  /** Expunges one attempt's response body. Throws `NotFoundError`. */
  expungeAttemptContent(appId: string, msgId: string, attemptId: string): Promise<void>;
  /**
   * Expunges, as {@link expungeMessageContent} does, the content of up to `limit` of an
   * application's messages with ids after `after` (in id order, `null`: from the first);
   * returns how many it visited and the last id, to continue from. One transaction per call.
   */
  expungeAppContents(
    appId: string,
    after: string | null,
    limit: number,
  ): Promise<{ visited: number; last: string | null }>;
  /**
   * Expunges, as {@link expungeMessageContent} does (payload and attempts' response bodies),
   * up to `limit` messages whose retention has ended by the store's clock: their own
   * (`payloadExpiresAt`), or, for those without one, `keepMs` after their creation (the
   * server's `--retention-days`; `null`: kept). Returns how many; while that is `limit`,
   * there may be more.
   */
  expirePayloads(limit: number, keepMs?: number | null): Promise<number>;
  /**
   * Deletes up to `limit` messages created more than `keepMs` ago whose deliveries are all
   * done (succeeded or failed), with their deliveries and attempts (`--retention-rows-days`).
   * Returns how many; while that is `limit`, there may be more. One transaction per call.
   */
  pruneMessages(limit: number, keepMs: number): Promise<number>;
  /** A message's deliveries with their endpoints (those that still exist), keyed by endpoint id, ascending. */
  listMessageDestinations(
    msgId: string,
    page: PageRequest,
  ): Promise<Page<{ delivery: Delivery; endpoint: Endpoint }>>;

  /**
   * Leases up to `limit` due deliveries: pending ones whose due time has come, and sending
   * ones whose lease expired (their worker died). Oldest due first.
   */
  claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]>;
  /**
   * Claims as {@link claimDue} and tells in the same call when the next delivery it left is
   * due (see {@link ClaimWithNext}): what a worker calls in its loop, so that a claim that
   * comes back short does not take a second round trip for the time to sleep until.
   */
  claimDueAndNext(request: ClaimRequest): Promise<ClaimWithNext>;
  /**
   * Records attempts and moves their deliveries on, in one transaction. A delivery whose
   * lease another worker took meanwhile keeps that worker's state; the attempt is still kept.
   * Applies auto-disable: an endpoint whose deliveries exhaust their retries with no success
   * for `autoDisableAfterMs` is disabled.
   */
  complete(
    completions: readonly Completion[],
    now: number,
    autoDisableAfterMs: number,
  ): Promise<DisabledEndpoint[]>;
  /**
   * Gives leased deliveries back without counting an attempt, each due at its own time
   * (now, for one that could not be tried; later, for one waiting for its endpoint's rate).
   */
  release(owner: string, releases: readonly Release[]): Promise<void>;
  /** The earliest due time among pending and leased deliveries, or `null` if none. */
  nextDueAt(): Promise<number | null>;
  /**
   * How long the queue is, for metrics: deliveries waiting (`pending`, due or not) and
   * leased (`sending`), counted on the partial index of the queue (not the table), and the
   * due time of the oldest pending delivery already due at `now` (`null`: none is late).
   */
  queueStats(now: number): Promise<QueueStats>;
  /**
   * The endpoints failing now: how many endpoints have a delivery waiting for a retry after a
   * failed attempt, and how many such deliveries there are. Read from the partial index of
   * those deliveries, one probe per failing endpoint (a loose index scan), not the table.
   */
  countRetrying(): Promise<{ endpoints: number; deliveries: number }>;
  /**
   * Takes the snapshot of the queue for the minute holding `now` (pending, sending, the oldest
   * due delivery's wait, {@link countRetrying}), unless a process took it already; resolves
   * with whether this call took it. Every API process calls it once a minute.
   */
  snapshotActivity(now: number): Promise<boolean>;
  /**
   * Activity over [since, until) in buckets of `bucketMs` (see `src/store/activity.ts`): messages
   * accepted and attempts by outcome, counted in the ingest's and the completions' own
   * transactions, and the snapshots of the queue taken in each bucket.
   */
  activity(since: number, until: number, bucketMs: number): Promise<ActivityBucket[]>;
  /** Deletes the activity minutes (counters and snapshots) before `before` (ms); returns how many rows. */
  pruneActivity(before: number): Promise<number>;
  /**
   * Failed attempts grouped by endpoint (or host) and cause, newest failure first, with the
   * state of each group's endpoints (URL, deliveries failed now, still failing): see
   * `src/store/failures.ts`. Read from the failure groups that `complete` counts in its own
   * transaction and from the index of failed deliveries, never from the attempts.
   */
  listFailures(query: FailureQuery): Promise<FailurePage>;
  /** Deletes the failure groups last seen before `before` (ms); returns how many groups. */
  pruneFailures(before: number): Promise<number>;

  /**
   * Opens the listener endpoint `name` of an application (`herald listen`): creates it, or
   * takes the one of that name up again (enabled, these filter types if given, seen now), so its id and
   * secret stay the same across restarts. Its deliveries are never claimed by
   * {@link claimDue}, only by {@link claimListener}. Throws `NotFoundError` (app), `ValidationError`.
   */
  openListener(appId: string, name: string, filterTypes?: string[] | null): Promise<Endpoint>;
  /**
   * Leases up to `limit` due deliveries of one listener endpoint, oldest due first (pending
   * ones whose time has come, and handed ones whose lease expired), and marks the endpoint seen
   * at `now`. The results are written by {@link complete}, as a dispatcher's are.
   */
  claimListener(request: ListenerClaim): Promise<ClaimedDelivery[]>;
  /**
   * Disables up to `limit` enabled listener endpoints not seen since `seenBefore` (ms; never
   * seen counts from their creation), failing their pending deliveries; returns how many.
   */
  disableIdleListeners(seenBefore: number, limit: number): Promise<number>;
  /**
   * Calls `listener` after each {@link complete} commits, with its attempts (for `herald tail`);
   * resolves, once listening, with the unsubscribe function. On PostgreSQL the attempts other
   * processes commit are heard too (a NOTIFY they send while someone listens, so those
   * committed in the first second or so of listening may be missed); on SQLite, this process's
   * are every attempt.
   */
  onAttempts(listener: AttemptsListener): Promise<() => void>;
  /**
   * Optional (PostgreSQL): takes a listener endpoint for one stream connection across every
   * process of the database, resolving with the function that gives it back, or `null` when
   * another process holds it. Absent (SQLite, one process to a file), the API's own check of
   * its connections is all there is.
   */
  holdListener?(endpointId: string): Promise<(() => void) | null>;

  /** A message's delivery to one endpoint. */
  getDelivery(msgId: string, endpointId: string): Promise<Delivery | null>;
  /** A message's deliveries. */
  listDeliveries(msgId: string): Promise<Delivery[]>;
  /**
   * Makes a message's delivery to an endpoint due now for a manual attempt, creating it when
   * the message never had one to that endpoint (of the message's application). The caller
   * checks that the endpoint is enabled. Throws `NotFoundError` (message, endpoint).
   */
  resend(msgId: string, endpointId: string): Promise<Delivery>;
  /** Attempts by id, paged as {@link listMessages} pages. */
  listAttempts(filter: AttemptFilter, page: PageRequest): Promise<Page<Attempt>>;
  /** One attempt of a message. */
  getAttempt(appId: string, msgId: string, attemptId: string): Promise<Attempt | null>;
  /** How many of an endpoint's deliveries (created in `window`, if given) are in each state. */
  countDeliveries(endpointId: string, window?: TimeWindow): Promise<Record<Delivery['status'], number>>;

  /**
   * One batch of a recover: of the endpoint's deliveries after id `after` (in id order, at most
   * `limit` of them looked at), those failed and created in `window` become due now as manual
   * attempts. Safe to run again over the same ids: only failed ones change.
   */
  recoverBatch(
    endpointId: string,
    window: TimeWindow,
    after: string | null,
    limit: number,
  ): Promise<BatchResult>;
  /**
   * One batch of a replay-missing: of the application's messages after id `after` (at most
   * `limit` looked at, in id order) those created in `window`, those the endpoint should have had and has no
   * delivery of get one, due now. None for a disabled endpoint; throws `NotFoundError` for
   * an unknown one. Safe to run again: an existing delivery is left alone.
   */
  replayMissingBatch(
    endpointId: string,
    window: TimeWindow,
    after: string | null,
    limit: number,
  ): Promise<BatchResult>;
  /**
   * One batch of a bulk-replay: of the endpoint's deliveries after id `after` (at most `limit`
   * looked at) whose message was created in the filter's window and matches it, those not
   * being sent right now become due now as manual attempts, whatever their state.
   */
  bulkReplayBatch(
    endpointId: string,
    filter: BulkReplayFilter,
    after: string | null,
    limit: number,
  ): Promise<BatchResult>;

  /** Creates a running background task, leased to `input.owner`. */
  createTask(input: NewTask): Promise<BackgroundTask>;
  /** A background task by id. */
  getTask(id: string): Promise<BackgroundTask | null>;
  /** Background tasks, newest first unless `page.order` says otherwise, paged by id. */
  listTasks(filter: TaskFilter, page: PageRequest): Promise<Page<BackgroundTask>>;
  /**
   * Leases to `owner` up to `limit` running tasks that no runner holds: their lease expired
   * (their runner died) or was given back (it stopped). Counts a run of each (`runs`).
   */
  claimTasks(owner: string, leaseMs: number, limit: number): Promise<BackgroundTask[]>;
  /** Records a batch's progress, if `owner` still holds the task; returns whether it did. */
  advanceTask(id: string, owner: string, progress: TaskProgress): Promise<boolean>;
  /**
   * Gives a task back (its runner stops): another runner may take it at once, and the run
   * given back is not counted (`runs` counts the runners that took it and died, plus the current one).
   */
  releaseTask(id: string, owner: string): Promise<void>;

  /** Creates an inbound source. Throws `NotFoundError` (app). */
  createSource(input: NewSource): Promise<Source>;
  /** A source by id. */
  getSource(id: string): Promise<Source | null>;
  /** Sources by id, ascending unless `page.order` says otherwise. */
  listSources(page: PageRequest): Promise<Page<Source>>;
  /** Changes a source's name, secrets or header passthrough; throws NotFoundError for an unknown id. */
  updateSource(id: string, patch: SourcePatch): Promise<Source>;
  /** Deletes a source and its request log. Throws `NotFoundError`. */
  deleteSource(id: string): Promise<void>;
  /**
   * Records one inbound request with an id and the store's time, then deletes that source's
   * oldest requests past the retention's `maxPerSource` (at most `INBOUND_PRUNE_BATCH` of
   * them; other sources are not touched). Bounded work: one index probe, whatever the cap.
   */
  recordInbound(request: NewInboundRequest): Promise<InboundRequest>;
  /** A source's requests by id, newest first unless `page.order` says otherwise. */
  listInbound(sourceId: string, page: PageRequest): Promise<Page<InboundRequest>>;
  /** One request of a source by id; null when unknown, pruned, or another source's. */
  getInbound(sourceId: string, id: string): Promise<InboundRequest | null>;
  /**
   * Deletes up to `limit` inbound requests that the retention no longer keeps: older than
   * `maxAgeMs` by the store's clock, or past their source's `maxPerSource`. Returns how many;
   * while that is `limit`, there may be more.
   */
  pruneInbound(limit: number): Promise<number>;
  /**
   * Expunges the bodies of up to `limit` inbound requests older than the retention's
   * `bodyMaxAgeMs` by the store's clock, oldest first (the body emptied, `bodyExpungedAt`
   * set; the row stays until `pruneInbound` deletes it). Nothing when `bodyMaxAgeMs` is null.
   * Returns how many; while that is `limit`, there may be more.
   */
  expireInboundBodies(limit: number): Promise<number>;

  /**
   * Stores the hash of an API token: an admin token (`appId` null) or one application's, with
   * what `grant` says (default: never expires, reads and writes, no session). Storing a hash
   * again changes nothing. Forgets application tokens expired more than
   * {@link EXPIRED_TOKEN_KEPT_MS} ago (by the store's clock).
   */
  saveToken(hash: string, appId: string | null, grant?: TokenGrant): Promise<void>;
  /** The token with this hash, expired or not (the caller compares `expiresAt`), or `null` if unknown. */
  findToken(hash: string): Promise<StoredToken | null>;
  /** Whether any admin token exists. */
  hasAdminToken(): Promise<boolean>;
  /**
   * Makes an application's tokens stop working at `at` (ms), those of `sessionIds` only when
   * given; a token already ending sooner keeps its end. Returns how many were cut short.
   */
  expireTokens(appId: string, at: number, sessionIds?: readonly string[]): Promise<number>;
  /** Ends one application token at `at` (logout); `false` when no application token has this hash. */
  revokeToken(hash: string, at: number): Promise<boolean>;
  /**
   * Resolves once the database has committed a trivial write (one row of `health_probe`);
   * throws when it cannot (health checks): a store that reads but cannot commit fails it.
   */
  ping(): Promise<void>;

  /** The answer stored for an idempotency key, if newer than `notBefore`. */
  getIdempotent(scope: string, key: string, notBefore: number): Promise<IdempotentAnswer | null>;
  /** Stores the answer for an idempotency key; an existing one wins unless older than `replaceBefore`. */
  saveIdempotent(scope: string, key: string, answer: IdempotentAnswer, replaceBefore: number): Promise<void>;
  /**
   * Deletes up to `limit` idempotency answers created before `before` (ms), oldest first
   * (answers past the API's window, which can answer nothing). Returns how many; while that
   * is `limit`, there may be more.
   */
  pruneIdempotent(limit: number, before: number): Promise<number>;

  /**
   * Calls `listener` whenever deliveries may have become due (messages accepted, a resend,
   * a release), with the endpoints concerned when known, or `null`; returns the unsubscribe
   * function. Backends spanning processes wake other processes too.
   */
  onWake(listener: WakeListener): () => void;
  /** Optional: standing claims (SQLite); a store without them leaves every delivery to `claimDue`. */
  readonly standingClaims?: StandingClaims;
  /**
   * Optional: copies the write-ahead log back into the database in a thread of its own
   * (SQLite on a file), so that no request waits for the copy. Resolves with the function that
   * stops it, or `null` when the thread could not start (`onFailure` says why; the store then
   * checkpoints in its commits, as it always could).
   */
  readonly backgroundCheckpoints?: (
    onFailure: (message: string) => void,
  ) => Promise<(() => Promise<void>) | null>;
  /**
   * Optional: calls `listener` after each group commit of accepted messages (how many, and
   * how long the commit took in ms), for metrics; returns the unsubscribe function.
   */
  readonly onGroupCommit?: (listener: (size: number, durationMs: number) => void) => () => void;
  /**
   * Optional: gives free pages back to the file system, at most `maxPages` per call (SQLite
   * in `auto_vacuum = INCREMENTAL` mode: `PRAGMA incremental_vacuum`); resolves with how many
   * it gave back, 0 when none is free or the file is not in that mode.
   */
  readonly reclaimSpace?: (maxPages: number) => Promise<number>;
  /**
   * Optional: what about the database server's own settings will hurt Herald, in words for a
   * warn line at start (PostgreSQL: autovacuum turned off, under which the per-table settings
   * of migration 013 never act and the queue tables bloat); empty when nothing does.
   */
  readonly maintenanceWarnings?: () => Promise<string[]>;
  /**
   * Optional: the connection pool's state now (PostgreSQL), for metrics: connections open,
   * idle, and queries waiting for one.
   */
  readonly poolStats?: () => { total: number; idle: number; waiting: number };
}

/** What the dispatcher needs of a store: claiming, recording, and endpoints to send to. */
export type DeliveryStore = Pick<
  Store,
  | 'claimDue'
  | 'claimDueAndNext'
  | 'nextDueAt'
  | 'complete'
  | 'release'
  | 'getEndpoint'
  | 'onWake'
  | 'standingClaims'
>;
