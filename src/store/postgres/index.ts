/**
 * The PostgreSQL backend (`pg`): many API and worker processes on one database. Deliveries
 * are claimed with `FOR UPDATE SKIP LOCKED` under a lease; accepted messages wake idle
 * workers in every process through `LISTEN/NOTIFY`. Connection failures surface as
 * `StoreUnavailableError` (503 at the API), and the pool reconnects on its own.
 *
 * This file only composes the parts: `connection.ts` (pool, transactions, error mapping,
 * wake-ups, clock), `catalog.ts` (applications, endpoints, event types), `messages.ts`
 * (ingest and reads), `deliveries.ts` (the queue and the attempt log), `inbound.ts` (sources
 * and the request log), `access.ts` (tokens, idempotency keys) and `content.ts` (expunged
 * payloads and response bodies).
 */
import { type Clock, systemClock } from '../../core/clock.js';
import type {
  Application,
  Attempt,
  BackgroundTask,
  Delivery,
  Endpoint,
  EventType,
  InboundRequest,
  Message,
  Source,
} from '../../core/types.js';
import type { ActivityBucket } from '../activity.js';
import { AttemptEvents } from '../attempt-events.js';
import type { FailurePage, FailureQuery } from '../failures.js';
import { type InboundRetention, inboundRetention } from '../inbound-retention.js';
import { plainBox, type SecretBox } from '../secret-box.js';
import type {
  AcceptedMessage,
  ApplicationFilter,
  ApplicationPatch,
  AttemptFilter,
  AttemptsListener,
  BatchResult,
  BulkReplayFilter,
  ClaimedDelivery,
  ClaimRequest,
  ClaimWithNext,
  Completion,
  DisabledEndpoint,
  EndpointDeliveryFilter,
  EndpointPatch,
  EventTypeFilter,
  IdempotentAnswer,
  ListenerClaim,
  MessageFilter,
  MessageMatch,
  NewApplication,
  NewEndpoint,
  NewEventType,
  NewInboundRequest,
  NewMessage,
  NewSource,
  NewTask,
  Page,
  PageRequest,
  QueueStats,
  Release,
  SourcePatch,
  Store,
  StoredToken,
  TaskFilter,
  TaskProgress,
  TimeWindow,
  TokenGrant,
  WakeListener,
} from '../store.js';
import { PostgresAccess } from './access.js';
import { PostgresActivity } from './activity.js';
import { AttemptFeed, attemptsChannel } from './attempt-feed.js';
import { PostgresCatalog } from './catalog.js';
import { openConnection, type PostgresConnection } from './connection.js';
import { PostgresContent } from './content.js';
import { PostgresDeliveries } from './deliveries.js';
import { PostgresFailures } from './failures.js';
import { PostgresInboundLog, PostgresSources } from './inbound.js';
import { ListenerLocks } from './listener-locks.js';
import { PostgresMessages } from './messages.js';
import { PostgresOperational } from './operational.js';
import { PlannerStats } from './planner-stats.js';
import { PostgresTasks } from './tasks.js';

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** `postgres://…` connection string. */
  url: string;
  /** Schema holding Herald's tables (created if missing). Default `public`. */
  schema?: string;
  clock?: Clock;
  /** Connections in the pool. Default 10. */
  poolSize?: number;
  /** Messages committed together at most (group commit). Default 512. */
  maxBatch?: number;
  /** Seals signing secrets at rest (see `secret-box.ts`). Default: stored in plain text. */
  secretBox?: SecretBox;
  /** How much of the inbound request log is kept. Default `INBOUND_RETENTION_DEFAULTS`. */
  inboundRetention?: Partial<InboundRetention>;
  /** Applies pending migrations (default); `false` refuses to open a database that has some. */
  migrate?: boolean;
  /** See `ConnectionOptions.preparedStatements`. Default true. */
  preparedStatements?: boolean;
}

/** Opens (creating the schema and migrating if needed) a PostgreSQL store. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const retention = inboundRetention(options.inboundRetention);
  const conn = await openConnection({
    url: options.url,
    schema: options.schema ?? 'public',
    clock: options.clock ?? systemClock,
    poolSize: options.poolSize ?? 10,
    box: options.secretBox ?? plainBox,
    migrate: options.migrate ?? true,
    preparedStatements: options.preparedStatements ?? true,
  });
  return new PostgresStore(conn, options.maxBatch ?? 512, retention);
}

/** The PostgreSQL implementation of {@link Store}: a façade over the record groups. */
export class PostgresStore implements Store {
  readonly kind = 'postgres';
  private readonly attemptEvents = new AttemptEvents();
  /** Other processes' attempts, heard while this one has attempt listeners. */
  private readonly attemptFeed: AttemptFeed;
  /** Analyzes the queue tables that outgrow their statistics (see planner-stats.ts). */
  readonly plannerStats: PlannerStats;
  private attemptListeners = 0;
  private readonly listenerLocks: ListenerLocks;
  private readonly catalog: PostgresCatalog;
  private readonly messages: PostgresMessages;
  private readonly deliveries: PostgresDeliveries;
  private readonly sources: PostgresSources;
  private readonly inbound: PostgresInboundLog;
  private readonly access: PostgresAccess;
  private readonly content: PostgresContent;
  private readonly tasks: PostgresTasks;
  private readonly activityMinutes: PostgresActivity;
  private readonly failures: PostgresFailures;

  constructor(
    private readonly conn: PostgresConnection,
    maxBatch: number,
    retention: InboundRetention,
  ) {
    const operational = new PostgresOperational(conn);
    const { channel, key } = attemptsChannel(conn.schema);
    this.listenerLocks = new ListenerLocks(conn.config);
    this.attemptFeed = new AttemptFeed(conn, channel, key, (events) => this.attemptEvents.told(events));
    this.catalog = new PostgresCatalog(conn, operational);
    this.messages = new PostgresMessages(conn, this.catalog, maxBatch);
    this.deliveries = new PostgresDeliveries(conn, operational);
    this.plannerStats = new PlannerStats(conn);
    this.sources = new PostgresSources(conn, (key) => this.catalog.appRow(key));
    this.inbound = new PostgresInboundLog((sql, params) => conn.q(sql, params), conn.clock, retention);
    this.access = new PostgresAccess(conn);
    this.content = new PostgresContent(conn);
    this.tasks = new PostgresTasks(conn, operational);
    this.activityMinutes = new PostgresActivity(conn);
    this.failures = new PostgresFailures(conn);
  }

  async createApplication(input: NewApplication): Promise<Application> {
    return this.catalog.createApplication(input);
  }
  async getApplication(idOrUid: string): Promise<Application | null> {
    return this.catalog.getApplication(idOrUid);
  }
  async listApplications(page: PageRequest, filter?: ApplicationFilter): Promise<Page<Application>> {
    return this.catalog.listApplications(page, filter);
  }
  async updateApplication(id: string, patch: ApplicationPatch): Promise<Application> {
    return this.catalog.updateApplication(id, patch);
  }
  async deleteApplication(id: string): Promise<void> {
    return this.catalog.deleteApplication(id);
  }

  async upsertEventType(input: NewEventType): Promise<EventType> {
    return this.catalog.upsertEventType(input);
  }
  async createEventType(input: NewEventType): Promise<EventType> {
    return this.catalog.createEventType(input);
  }
  async getEventType(name: string): Promise<EventType | null> {
    return this.catalog.getEventType(name);
  }
  async listEventTypes(page: PageRequest, filter?: EventTypeFilter): Promise<Page<EventType>> {
    return this.catalog.listEventTypes(page, filter);
  }
  async deleteEventType(name: string): Promise<void> {
    return this.catalog.deleteEventType(name);
  }

  async createEndpoint(appId: string, input: NewEndpoint): Promise<Endpoint> {
    return this.catalog.createEndpoint(appId, input);
  }
  async getEndpoint(appId: string, idOrUid: string): Promise<Endpoint | null> {
    return this.catalog.getEndpoint(appId, idOrUid);
  }
  async listEndpoints(appId: string, page: PageRequest): Promise<Page<Endpoint>> {
    return this.catalog.listEndpoints(appId, page);
  }
  async updateEndpoint(appId: string, id: string, patch: EndpointPatch): Promise<Endpoint> {
    return this.catalog.updateEndpoint(appId, id, patch);
  }
  async rotateEndpointSecret(
    appId: string,
    id: string,
    newSecret: string,
    graceMs: number,
  ): Promise<Endpoint> {
    return this.catalog.rotateEndpointSecret(appId, id, newSecret, graceMs);
  }
  async deleteEndpoint(appId: string, id: string): Promise<void> {
    return this.catalog.deleteEndpoint(appId, id);
  }

  async acceptMessage(input: NewMessage): Promise<AcceptedMessage> {
    return this.messages.acceptMessage(input);
  }
  async getMessage(appId: string, idOrEventId: string): Promise<Message | null> {
    return this.messages.getMessage(appId, idOrEventId);
  }
  async listMessages(filter: MessageFilter, page: PageRequest): Promise<Page<Message>> {
    return this.messages.listMessages(filter, page);
  }
  async getMessages(appId: string, ids: readonly string[]): Promise<Message[]> {
    return this.messages.getMessages(appId, ids);
  }
  async findMessages(key: string, limit: number): Promise<{ matched: MessageMatch; message: Message }[]> {
    return this.messages.findMessages(key, limit);
  }
  async findEndpoint(id: string): Promise<Endpoint | null> {
    return this.catalog.findEndpoint(id);
  }
  async findEndpointsByUrl(prefix: string, limit: number): Promise<Endpoint[]> {
    return this.catalog.findEndpointsByUrl(prefix, limit);
  }
  async listEndpointDeliveries(
    filter: EndpointDeliveryFilter,
    page: PageRequest,
  ): Promise<Page<{ delivery: Delivery; message: Message }>> {
    return this.messages.listEndpointDeliveries(filter, page);
  }
  async listMessageDestinations(
    msgId: string,
    page: PageRequest,
  ): Promise<Page<{ delivery: Delivery; endpoint: Endpoint }>> {
    return this.messages.listMessageDestinations(msgId, page);
  }
  async expungeMessageContent(appId: string, msgId: string): Promise<void> {
    return this.content.expungeMessage(appId, msgId);
  }
  async expungeAttemptContent(appId: string, msgId: string, attemptId: string): Promise<void> {
    return this.content.expungeAttempt(appId, msgId, attemptId);
  }
  async expungeAppContents(
    appId: string,
    after: string | null,
    limit: number,
  ): Promise<{ visited: number; last: string | null }> {
    return this.content.expungeApp(appId, after, limit);
  }
  async expirePayloads(limit: number, keepMs: number | null = null): Promise<number> {
    return this.content.expirePayloads(limit, keepMs);
  }
  async pruneMessages(limit: number, keepMs: number): Promise<number> {
    return this.content.pruneMessages(limit, keepMs);
  }

  async claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    return this.deliveries.claimDue(request);
  }

  async claimDueAndNext(request: ClaimRequest): Promise<ClaimWithNext> {
    return this.deliveries.claimDueAndNext(request);
  }
  async complete(
    completions: readonly Completion[],
    now: number,
    autoDisableAfterMs: number,
  ): Promise<DisabledEndpoint[]> {
    const disabled = await this.deliveries.complete(completions, now, autoDisableAfterMs);
    this.plannerStats.completed(completions.length);
    this.attemptEvents.committed(completions);
    // Told to the processes that tail, if any; the commit stands whatever becomes of this.
    void this.attemptFeed.committed(completions).catch(() => undefined);
    return disabled;
  }
  async openListener(appId: string, name: string, filterTypes?: string[] | null): Promise<Endpoint> {
    return this.catalog.openListener(appId, name, filterTypes);
  }
  async claimListener(request: ListenerClaim): Promise<ClaimedDelivery[]> {
    return this.deliveries.claimListener(request);
  }
  async disableIdleListeners(seenBefore: number, limit: number): Promise<number> {
    return this.catalog.disableIdleListeners(seenBefore, limit);
  }
  async onAttempts(listener: AttemptsListener): Promise<() => void> {
    const off = this.attemptEvents.on(listener);
    this.attemptListeners++;
    // Once listening for other processes' attempts (and holding the lock that makes them send).
    await this.attemptFeed.start();
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      off();
      if (--this.attemptListeners === 0) void this.attemptFeed.stop();
    };
  }
  async holdListener(endpointId: string): Promise<(() => void) | null> {
    return this.listenerLocks.hold(endpointId);
  }
  async release(owner: string, releases: readonly Release[]): Promise<void> {
    return this.deliveries.release(owner, releases);
  }
  readonly poolStats = () => this.conn.poolStats();
  async nextDueAt(): Promise<number | null> {
    return this.deliveries.nextDueAt();
  }
  async queueStats(now: number): Promise<QueueStats> {
    return this.deliveries.queueStats(now);
  }
  async countRetrying(): Promise<{ endpoints: number; deliveries: number }> {
    return this.activityMinutes.countRetrying();
  }
  async snapshotActivity(now: number): Promise<boolean> {
    return this.activityMinutes.snapshot(now);
  }
  async activity(since: number, until: number, bucketMs: number): Promise<ActivityBucket[]> {
    return this.activityMinutes.read(since, until, bucketMs);
  }
  async pruneActivity(before: number): Promise<number> {
    return this.activityMinutes.prune(before);
  }
  async listFailures(query: FailureQuery): Promise<FailurePage> {
    return this.failures.list(query);
  }
  async pruneFailures(before: number): Promise<number> {
    return this.failures.prune(before);
  }
  async getDelivery(msgId: string, endpointId: string): Promise<Delivery | null> {
    return this.deliveries.getDelivery(msgId, endpointId);
  }
  async listDeliveries(msgId: string): Promise<Delivery[]> {
    return this.deliveries.listDeliveries(msgId);
  }
  async resend(msgId: string, endpointId: string): Promise<Delivery> {
    return this.deliveries.resend(msgId, endpointId);
  }
  async listAttempts(filter: AttemptFilter, page: PageRequest): Promise<Page<Attempt>> {
    return this.deliveries.listAttempts(filter, page);
  }
  async getAttempt(appId: string, msgId: string, attemptId: string): Promise<Attempt | null> {
    return this.deliveries.getAttempt(appId, msgId, attemptId);
  }
  async countDeliveries(
    endpointId: string,
    window?: TimeWindow,
  ): Promise<Record<Delivery['status'], number>> {
    return this.deliveries.countDeliveries(endpointId, window);
  }
  async recoverBatch(
    endpointId: string,
    window: TimeWindow,
    after: string | null,
    limit: number,
  ): Promise<BatchResult> {
    return this.deliveries.recoverBatch(endpointId, window, after, limit);
  }
  async replayMissingBatch(
    endpointId: string,
    window: TimeWindow,
    after: string | null,
    limit: number,
  ): Promise<BatchResult> {
    return this.deliveries.replayMissingBatch(endpointId, window, after, limit);
  }
  async bulkReplayBatch(
    endpointId: string,
    filter: BulkReplayFilter,
    after: string | null,
    limit: number,
  ): Promise<BatchResult> {
    return this.deliveries.bulkReplayBatch(endpointId, filter, after, limit);
  }

  async createTask(input: NewTask): Promise<BackgroundTask> {
    return this.tasks.create(input);
  }
  async getTask(id: string): Promise<BackgroundTask | null> {
    return this.tasks.get(id);
  }
  async listTasks(filter: TaskFilter, page: PageRequest): Promise<Page<BackgroundTask>> {
    return this.tasks.list(filter, page);
  }
  async claimTasks(owner: string, leaseMs: number, limit: number): Promise<BackgroundTask[]> {
    return this.tasks.claim(owner, leaseMs, limit);
  }
  async advanceTask(id: string, owner: string, progress: TaskProgress): Promise<boolean> {
    return this.tasks.advance(id, owner, progress);
  }
  async releaseTask(id: string, owner: string): Promise<void> {
    await this.tasks.release(id, owner);
  }

  async createSource(input: NewSource): Promise<Source> {
    return this.sources.createSource(input);
  }
  async getSource(id: string): Promise<Source | null> {
    return this.sources.getSource(id);
  }
  async listSources(page: PageRequest): Promise<Page<Source>> {
    return this.sources.listSources(page);
  }
  async updateSource(id: string, patch: SourcePatch): Promise<Source> {
    return this.sources.updateSource(id, patch);
  }
  async deleteSource(id: string): Promise<void> {
    return this.sources.deleteSource(id);
  }
  async recordInbound(request: NewInboundRequest): Promise<InboundRequest> {
    return this.inbound.record(request);
  }
  async listInbound(sourceId: string, page: PageRequest): Promise<Page<InboundRequest>> {
    return this.inbound.list(sourceId, page);
  }
  async getInbound(sourceId: string, id: string): Promise<InboundRequest | null> {
    return this.inbound.get(sourceId, id);
  }
  async pruneInbound(limit: number): Promise<number> {
    return this.inbound.prune(limit);
  }
  async expireInboundBodies(limit: number): Promise<number> {
    return this.inbound.expireBodies(limit);
  }

  async saveToken(hash: string, appId: string | null, grant?: TokenGrant): Promise<void> {
    return this.access.saveToken(hash, appId, grant);
  }
  async findToken(hash: string): Promise<StoredToken | null> {
    return this.access.findToken(hash);
  }
  async expireTokens(appId: string, at: number, sessionIds?: readonly string[]): Promise<number> {
    return this.access.expireTokens(appId, at, sessionIds);
  }
  async revokeToken(hash: string, at: number): Promise<boolean> {
    return this.access.revokeToken(hash, at);
  }
  /** See `Store.onGroupCommit`. */
  onGroupCommit(listener: (size: number, durationMs: number) => void): () => void {
    return this.messages.onGroupCommit(listener);
  }

  async ping(): Promise<void> {
    return this.access.ping();
  }
  /** See `Store.maintenanceWarnings`. */
  async maintenanceWarnings(): Promise<string[]> {
    return this.access.maintenanceWarnings();
  }
  async hasAdminToken(): Promise<boolean> {
    return this.access.hasAdminToken();
  }
  async getIdempotent(scope: string, key: string, notBefore: number): Promise<IdempotentAnswer | null> {
    return this.access.getIdempotent(scope, key, notBefore);
  }
  async pruneIdempotent(limit: number, before: number): Promise<number> {
    return this.access.pruneIdempotent(limit, before);
  }
  async saveIdempotent(
    scope: string,
    key: string,
    answer: IdempotentAnswer,
    replaceBefore: number,
  ): Promise<void> {
    return this.access.saveIdempotent(scope, key, answer, replaceBefore);
  }

  onWake(listener: WakeListener): () => void {
    return this.conn.onWake(listener);
  }

  private disposed = false;

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.messages.flush();
    await this.plannerStats.settled();
    await this.attemptFeed.close();
    await this.listenerLocks.close();
    await this.conn.close();
  }
}
