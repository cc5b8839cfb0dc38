/**
 * The embedded SQLite backend (better-sqlite3): a façade over one module per group of
 * records, all on one connection (`connection.ts`: opening, pragmas, transactions, wake-ups):
 * `catalog.ts` (applications, event types, endpoints), `messages.ts` (ingest by group
 * commit, message reads), `deliveries.ts` (the queue and the attempt log), `inbound.ts`
 * (sources and their request log), `access.ts` (tokens, idempotency keys), `tasks.ts`
 * (background tasks) and `content.ts` (expunged payloads and response bodies).
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
  StandingClaims,
  Store,
  StoredToken,
  TaskFilter,
  TaskProgress,
  TimeWindow,
  TokenGrant,
  WakeListener,
} from '../store.js';
import { SqliteAccess } from './access.js';
import { SqliteActivity } from './activity.js';
import { SqliteCatalog } from './catalog.js';
import { startCheckpointThread } from './checkpoint-thread.js';
import { SqliteConnection } from './connection.js';
import { SqliteContent } from './content.js';
import { SqliteDeliveries } from './deliveries.js';
import { SqliteFailures } from './failures.js';
import { SqliteInboundLog, SqliteSources } from './inbound.js';
import { SqliteMessages } from './messages.js';
import { SqliteOperational } from './operational.js';
import { SqliteTasks } from './tasks.js';

export {
  BATCH_SQL,
  DUE_DELIVERIES_SQL,
  DUE_ENDPOINTS_SQL,
  DUE_OF_ENDPOINT_SQL,
  OLDEST_DUE_SQL,
  QUEUE_COUNTS_SQL,
} from './deliveries.js';

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** Database file path; `:memory:` for a throwaway store. */
  path: string;
  /** Source of time for created/updated stamps. Default: the system clock. */
  clock?: Clock;
  /** Messages committed together at most (group commit). Default 512. */
  maxBatch?: number;
  /** Seals signing secrets at rest (see `secret-box.ts`). Default: stored in plain text. */
  secretBox?: SecretBox;
  /** How much of the inbound request log is kept. Default `INBOUND_RETENTION_DEFAULTS`. */
  inboundRetention?: Partial<InboundRetention>;
  /** Applies pending migrations (default); `false` refuses to open a database that has some. */
  migrate?: boolean;
}

/** Opens (creating and migrating if needed) a SQLite store. */
export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}

/**
 * The SQLite implementation of {@link Store}: each method hands over to its record group.
 * The groups are synchronous; every method here is `async`, so that a throw is a rejection.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly conn: SqliteConnection;
  private readonly catalog: SqliteCatalog;
  private readonly messages: SqliteMessages;
  private readonly deliveries: SqliteDeliveries;
  private readonly operational: SqliteOperational;
  private readonly sources: SqliteSources;
  private readonly inbound: SqliteInboundLog;
  private readonly access: SqliteAccess;
  private readonly content: SqliteContent;
  private readonly tasks: SqliteTasks;
  private readonly activityMinutes: SqliteActivity;
  private readonly failures: SqliteFailures;
  private readonly attemptEvents = new AttemptEvents();
  readonly standingClaims: StandingClaims;
  readonly backgroundCheckpoints?: Store['backgroundCheckpoints'];

  constructor(options: SqliteStoreOptions) {
    const clock = options.clock ?? systemClock;
    this.conn = new SqliteConnection(options.path, clock, options.secretBox ?? plainBox, {
      migrate: options.migrate ?? true,
    });
    this.activityMinutes = new SqliteActivity(this.conn);
    this.failures = new SqliteFailures(this.conn);
    this.deliveries = new SqliteDeliveries(
      this.conn,
      (key) => this.catalog.appId(key),
      () => this.operational,
      this.activityMinutes,
      this.failures,
    );
    this.operational = new SqliteOperational(this.conn, (row) => this.deliveries.insert(row));
    this.catalog = new SqliteCatalog(
      this.conn,
      (endpointId) => this.deliveries.failPending(endpointId),
      this.operational,
    );
    this.messages = new SqliteMessages(
      this.conn,
      this.catalog,
      this.deliveries,
      this.activityMinutes,
      options.maxBatch ?? 512,
    );
    this.sources = new SqliteSources(this.conn, (key) => this.catalog.mustAppId(key));
    this.inbound = new SqliteInboundLog(this.conn.db, clock, inboundRetention(options.inboundRetention));
    this.access = new SqliteAccess(this.conn);
    this.content = new SqliteContent(this.conn, (key) => this.catalog.appId(key));
    this.tasks = new SqliteTasks(this.conn, this.operational);
    this.standingClaims = {
      stand: async (owner, order) => this.deliveries.stand(owner, order),
      claim: async (request) => this.deliveries.claimAndStand(request),
      withdraw: async (owner) => this.deliveries.withdraw(owner),
      onFresh: (listener) => this.conn.onFresh(listener),
    };
    const path = options.path;
    if (path !== ':memory:' && path !== '') {
      this.backgroundCheckpoints = (onFailure) =>
        startCheckpointThread(path, onFailure).then(
          (thread) => () => thread.stop(),
          (error: Error) => {
            onFailure(error.message);
            return null;
          },
        );
    }
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
    this.catalog.deleteApplication(id);
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
    this.catalog.deleteEventType(name);
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
    this.catalog.deleteEndpoint(appId, id);
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
    return this.deliveries.listEndpointDeliveries(filter, page);
  }
  async listMessageDestinations(
    msgId: string,
    page: PageRequest,
  ): Promise<Page<{ delivery: Delivery; endpoint: Endpoint }>> {
    return this.deliveries.listMessageDestinations(msgId, page);
  }
  async expungeMessageContent(appId: string, msgId: string): Promise<void> {
    this.content.expungeMessage(appId, msgId);
  }
  async expungeAttemptContent(appId: string, msgId: string, attemptId: string): Promise<void> {
    this.content.expungeAttempt(appId, msgId, attemptId);
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
    const disabled = this.deliveries.complete(completions, now, autoDisableAfterMs);
    this.attemptEvents.committed(completions);
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
    // One process writes a SQLite file: its own commits are every attempt.
    return this.attemptEvents.on(listener);
  }
  async release(owner: string, releases: readonly Release[]): Promise<void> {
    this.deliveries.release(owner, releases);
  }
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
    this.tasks.release(id, owner);
  }

  async createSource(input: NewSource): Promise<Source> {
    return this.sources.create(input);
  }
  async getSource(id: string): Promise<Source | null> {
    return this.sources.get(id);
  }
  async listSources(page: PageRequest): Promise<Page<Source>> {
    return this.sources.list(page);
  }
  async updateSource(id: string, patch: SourcePatch): Promise<Source> {
    return this.sources.update(id, patch);
  }
  async deleteSource(id: string): Promise<void> {
    this.sources.delete(id);
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
    this.access.saveToken(hash, appId, grant);
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

  /** See `Store.reclaimSpace`. */
  async reclaimSpace(maxPages: number): Promise<number> {
    const { db } = this.conn;
    if (db.pragma('auto_vacuum', { simple: true }) !== 2) return 0;
    const before = db.pragma('freelist_count', { simple: true }) as number;
    if (before === 0) return 0;
    db.pragma(`incremental_vacuum(${Math.max(1, Math.floor(maxPages))})`);
    return before - (db.pragma('freelist_count', { simple: true }) as number);
  }

  async ping(): Promise<void> {
    this.access.ping();
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
    this.access.saveIdempotent(scope, key, answer, replaceBefore);
  }

  onWake(listener: WakeListener): () => void {
    return this.conn.onWake(listener);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.messages.flush();
    this.conn.close();
  }
}
