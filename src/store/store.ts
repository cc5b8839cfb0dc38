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
  Delivery,
  Endpoint,
  EventType,
  InboundRequest,
  Message,
  Source,
  SourceProvider,
} from '../core/types.js';

/** A page request: at most `limit` items after the `iterator` (an id) in id order. */
export interface PageRequest {
  limit: number;
  iterator?: string | null;
}

/** A page of results; `iterator` continues after the last item. */
export interface Page<T> {
  data: T[];
  iterator: string | null;
  done: boolean;
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

/** Input of {@link Store.upsertEventType}. */
export interface NewEventType {
  name: string;
  description?: string;
  schemas?: Record<string, unknown> | null;
  archived?: boolean;
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
 * for `claimDue`, woken by a notification.
 */
export interface StandingClaims {
  /**
   * Leaves a standing claim for `owner`, replacing the one before it: deliveries of messages
   * accepted from now on are written leased to `owner`, up to `order.limit`, and handed to the
   * {@link onFresh} listeners once committed. A worker stands right after each claim with
   * the room that claim left. A claim by `owner` withdraws its standing claim in the claim's
   * own transaction, so that messages committed between the claim and the next stand (the
   * claim's answer crossing a thread port, say) wait pending for a claim instead of filling a
   * standing claim sized for the worker's room before that claim.
   */
  stand(owner: string, order: StandingOrder): Promise<void>;
  /** Withdraws `owner`'s standing claim; what filled it before is handed over before this resolves. */
  withdraw(owner: string): Promise<void>;
  /** Calls `listener` with the deliveries that filled a standing claim; returns the unsubscribe function. */
  onFresh(listener: FreshListener): () => void;
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
  leaseExpiresAt: number;
  /** The endpoint's `updatedAt`, so a worker knows when its cached copy is stale. */
  endpointVersion: number;
}

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
  /** The attempt made; `null` when none was (the endpoint was disabled meanwhile). */
  attempt: Attempt | null;
  next: DeliveryNext;
  /** 410 Gone: disable the endpoint now. */
  disableEndpoint: boolean;
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
}

/** Filters of {@link Store.listEndpointDeliveries}. */
export interface EndpointDeliveryFilter {
  /** Only deliveries of messages carrying this tag. */
  tag?: string;
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
export type NewInboundRequest = Omit<InboundRequest, 'id' | 'createdAt'>;

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
  /** Applications in id order. */
  listApplications(page: PageRequest): Promise<Page<Application>>;
  /** Changes an application. Throws `NotFoundError`, `ConflictError`. */
  updateApplication(id: string, patch: ApplicationPatch): Promise<Application>;
  /** Deletes an application with its endpoints, messages, deliveries and attempts. */
  deleteApplication(id: string): Promise<void>;

  /** Creates or replaces an event type. */
  upsertEventType(input: NewEventType): Promise<EventType>;
  /** An event type by name. */
  getEventType(name: string): Promise<EventType | null>;
  /** Event types in name order. */
  listEventTypes(page: PageRequest): Promise<Page<EventType>>;
  /** Deletes an event type. Throws `NotFoundError`. */
  deleteEventType(name: string): Promise<void>;

  /** Creates an endpoint. Throws `NotFoundError` (app), `ConflictError` (uid), `ValidationError`. */
  createEndpoint(appId: string, input: NewEndpoint): Promise<Endpoint>;
  /** An endpoint of an application, by id or uid. */
  getEndpoint(appId: string, idOrUid: string): Promise<Endpoint | null>;
  /** An application's endpoints in id order. */
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
  /** An application's messages, newest first. */
  listMessages(filter: MessageFilter, page: PageRequest): Promise<Page<Message>>;
  /** An endpoint's deliveries with their messages, newest first. */
  listEndpointDeliveries(
    endpointId: string,
    page: PageRequest,
    filter?: EndpointDeliveryFilter,
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
   * Expunges the payloads of up to `limit` messages whose retention has ended by the store's
   * clock (`payloadExpiresAt`); returns how many. While that is `limit`, there may be more.
   */
  expirePayloads(limit: number): Promise<number>;

  /**
   * Leases up to `limit` due deliveries: pending ones whose due time has come, and sending
   * ones whose lease expired (their worker died). Oldest due first.
   */
  claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]>;
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

  /** A message's delivery to one endpoint. */
  getDelivery(msgId: string, endpointId: string): Promise<Delivery | null>;
  /** A message's deliveries. */
  listDeliveries(msgId: string): Promise<Delivery[]>;
  /**
   * Makes an endpoint's failed deliveries created in [since, until) due now, as manual
   * attempts; returns how many.
   */
  recover(endpointId: string, since: number, until: number | null): Promise<number>;
  /**
   * Creates deliveries to an enabled endpoint for its application's messages created in
   * [since, until) that match it and never had a delivery to it; returns how many.
   */
  replayMissing(endpointId: string, since: number, until: number | null): Promise<number>;
  /**
   * Makes a message's delivery to an endpoint due now for a manual attempt, creating it when
   * the message never had one to that endpoint (of the message's application). The caller
   * checks that the endpoint is enabled. Throws `NotFoundError` (message, endpoint).
   */
  resend(msgId: string, endpointId: string): Promise<Delivery>;
  /** Attempts, newest first. */
  listAttempts(filter: AttemptFilter, page: PageRequest): Promise<Page<Attempt>>;
  /** One attempt of a message. */
  getAttempt(appId: string, msgId: string, attemptId: string): Promise<Attempt | null>;
  /** How many of an endpoint's deliveries are in each state. */
  countDeliveries(endpointId: string): Promise<Record<Delivery['status'], number>>;

  /** Creates an inbound source. Throws `NotFoundError` (app). */
  createSource(input: NewSource): Promise<Source>;
  /** A source by id. */
  getSource(id: string): Promise<Source | null>;
  /** Sources in id order. */
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
  /** A source's requests, newest first. */
  listInbound(sourceId: string, page: PageRequest): Promise<Page<InboundRequest>>;
  /** One request of a source by id; null when unknown, pruned, or another source's. */
  getInbound(sourceId: string, id: string): Promise<InboundRequest | null>;
  /**
   * Deletes up to `limit` inbound requests that the retention no longer keeps: older than
   * `maxAgeMs` by the store's clock, or past their source's `maxPerSource`. Returns how many;
   * while that is `limit`, there may be more.
   */
  pruneInbound(limit: number): Promise<number>;

  /** Stores the hash of an API token: an admin token (`appId` null) or one application's. */
  saveToken(hash: string, appId: string | null): Promise<void>;
  /** The token with this hash: `{ appId }` (`null` for admin), or `null` if unknown. */
  findToken(hash: string): Promise<{ appId: string | null } | null>;
  /** Whether any admin token exists. */
  hasAdminToken(): Promise<boolean>;

  /** The answer stored for an idempotency key, if newer than `notBefore`. */
  getIdempotent(scope: string, key: string, notBefore: number): Promise<IdempotentAnswer | null>;
  /** Stores the answer for an idempotency key; an existing one wins unless older than `replaceBefore`. */
  saveIdempotent(scope: string, key: string, answer: IdempotentAnswer, replaceBefore: number): Promise<void>;

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
}

/** What the dispatcher needs of a store: claiming, recording, and endpoints to send to. */
export type DeliveryStore = Pick<
  Store,
  'claimDue' | 'nextDueAt' | 'complete' | 'release' | 'getEndpoint' | 'onWake' | 'standingClaims'
>;
