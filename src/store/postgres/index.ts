/**
 * The PostgreSQL backend (`pg`): many API and worker processes on one database. Deliveries
 * are claimed with `FOR UPDATE SKIP LOCKED` under a lease; accepted messages wake idle
 * workers in every process through `LISTEN/NOTIFY`. Connection failures surface as
 * `StoreUnavailableError` (503 at the API), and the pool reconnects on its own.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { type Clock, systemClock } from '../../core/clock.js';
import { ConflictError, NotFoundError, StoreUnavailableError } from '../../core/errors.js';
import { matches } from '../../core/filter.js';
import { newId } from '../../core/ids.js';
import type {
  Application,
  Attempt,
  Delivery,
  Endpoint,
  EventType,
  InboundRequest,
  Message,
  Source,
} from '../../core/types.js';
import { GroupCommit, type ItemResult } from '../group-commit.js';
import { type InboundRetention, inboundRetention } from '../inbound-retention.js';
import {
  applicationRecord,
  blankApplication,
  blankEndpoint,
  endpointRecord,
  messageRecord,
  rotatedSecrets,
  sourceRecord,
  updatedSource,
} from '../normalise.js';
import {
  type ApplicationRow,
  type AttemptRow,
  CLAIM_ENDPOINTS_MAX,
  type ClaimRow,
  type DeliveryRow,
  type EndpointRow,
  type EventTypeRow,
  fromApplication,
  fromEndpoint,
  fromMessage,
  type MessageRow,
  type PendingMessage,
  pageOf,
  type SourceRow,
  toApplication,
  toAttempt,
  toClaimed,
  toDelivery,
  toEndpoint,
  toEventType,
  toMessage,
  toSource,
} from '../rows.js';
import { plainBox, rowsToReseal, SEALED_COLUMNS, type SecretBox, type SecretRow } from '../secret-box.js';
import type {
  AcceptedMessage,
  ApplicationPatch,
  AttemptFilter,
  ClaimedDelivery,
  ClaimRequest,
  Completion,
  DisabledEndpoint,
  EndpointPatch,
  IdempotentAnswer,
  MessageFilter,
  NewApplication,
  NewEndpoint,
  NewEventType,
  NewInboundRequest,
  NewMessage,
  NewSource,
  Page,
  PageRequest,
  Release,
  SourcePatch,
  Store,
  WakeListener,
} from '../store.js';
import { PostgresInboundLog } from './inbound.js';
import { migrate } from './migrate.js';

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
}

/**
 * The id of the application named by `$1`, its id or its uid, preferring the id: a uid equal
 * to another row's id (possible in data written before uids of id shape were refused) can
 * never shadow that row. Queries under an application resolve it first, then look inside it.
 */
const APP_BY_KEY = '(SELECT id FROM applications WHERE id = $1 OR uid = $1 ORDER BY id = $1 DESC LIMIT 1)';
const WAKE_CHANNEL = 'herald_wake';
/** NOTIFY payloads are limited to 8,000 bytes; past this, wake everyone for any endpoint. */
const WAKE_PAYLOAD_MAX = 7_000;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A batch of named records as one JSON array parameter, read back in SQL with
 * `json_to_recordset($n::json) AS x(column type, …)` (graphile-worker passes its batches the
 * same way): each value travels beside its column name, not at a position in one of many
 * parallel arrays.
 *
 * pg encodes a text parameter as UTF-8, turning a lone surrogate into U+FFFD; JSON.stringify
 * writes it as a `\udXXX` escape instead, which PostgreSQL refuses. The rare batch whose
 * JSON holds such an escape is written again with lone surrogates replaced as pg would.
 */
function jsonRecords(records: readonly object[]): string {
  const text = JSON.stringify(records);
  return text.includes('\\ud')
    ? JSON.stringify(records, (_key, v) => (typeof v === 'string' ? wellFormed(v) : v))
    : text;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const wellFormed = (s: string) => s.replace(LONE_SURROGATE, '\ufffd');

/** An attempt as a row of {@link INSERT_ATTEMPTS}. */
function attemptRecord(a: Attempt) {
  return {
    id: a.id,
    delivery_id: a.deliveryId,
    msg_id: a.msgId,
    endpoint_id: a.endpointId,
    app_id: a.appId,
    url: a.url,
    trigger: a.trigger,
    succeeded: a.succeeded,
    status_code: a.statusCode,
    response_body: a.responseBody,
    duration_ms: Math.round(a.durationMs),
    error_kind: a.errorKind,
    error_message: a.errorMessage,
    request_headers: JSON.stringify(a.requestHeaders),
    created_at: a.createdAt,
  };
}

/** A completion as a row of {@link COMPLETE_DELIVERIES}. */
function completionRecord(x: Completion) {
  return {
    id: x.deliveryId,
    owner: x.owner,
    status: x.next.status,
    due_at: x.next.status === 'pending' ? x.next.dueAt : null,
    counted: x.attempt ? 1 : 0,
    attempted_at: x.attempt?.createdAt ?? null,
  };
}

/** A new pending delivery, a row of {@link INSERT_DELIVERIES}. */
interface NewDeliveryRecord {
  id: string;
  msg_id: string;
  endpoint_id: string;
  app_id: string;
  /** Creation time, and due time of the first attempt. */
  at: number;
}

/**
 * Stores messages, skipping those whose eventId exists in their application.
 * $1: JSON array of {@link MessageRow}. Returns the ids inserted.
 */
const INSERT_MESSAGES = `
  INSERT INTO messages (id, app_id, event_type, event_id, channels, payload, created_at, headers)
  SELECT id, app_id, event_type, event_id, channels, payload, created_at, headers
  FROM json_to_recordset($1::json) AS m(id text, app_id text, event_type text, event_id text, channels text,
    payload text, created_at bigint, headers text)
  ON CONFLICT DO NOTHING
  RETURNING id`;

/** Creates pending deliveries due at their creation. $1: JSON array of {@link NewDeliveryRecord}. */
const INSERT_DELIVERIES = `
  INSERT INTO deliveries (id, msg_id, endpoint_id, app_id, status, attempts, due_at, created_at)
  SELECT id, msg_id, endpoint_id, app_id, 'pending', 0, at, at
  FROM json_to_recordset($1::json) AS d(id text, msg_id text, endpoint_id text, app_id text, at bigint)`;

/** Records attempts. $1: JSON array of attempt rows ({@link attemptRecord}). */
const INSERT_ATTEMPTS = `
  INSERT INTO attempts (id, delivery_id, msg_id, endpoint_id, app_id, url, trigger, succeeded, status_code,
    response_body, duration_ms, error_kind, error_message, request_headers, created_at)
  SELECT id, delivery_id, msg_id, endpoint_id, app_id, url, trigger, succeeded, status_code,
    response_body, duration_ms, error_kind, error_message, request_headers, created_at
  FROM json_to_recordset($1::json) AS a(id text, delivery_id text, msg_id text, endpoint_id text, app_id text,
    url text, trigger text, succeeded boolean, status_code int, response_body text, duration_ms int,
    error_kind text, error_message text, request_headers text, created_at bigint)`;

/**
 * Moves leased deliveries on after an attempt (or none, when `counted` is 0); a delivery
 * whose lease another worker took meanwhile is left to that worker.
 * $1: JSON array of {@link completionRecord}; $2: how many records $1 holds.
 *
 * `LIMIT $2` only tells the planner the batch's size: it takes any set-returning function
 * for 100 rows, and on a table of some thousands of deliveries then prefers a hash join over
 * a sequential scan to one index probe per record (measured: 10% fewer completions per
 * second in batches of 32, against the `unnest` of typed arrays this replaced).
 */
const COMPLETE_DELIVERIES = `
  UPDATE deliveries d
  SET status = u.status, due_at = u.due_at, attempts = d.attempts + u.counted,
    last_attempt_at = COALESCE(u.attempted_at, d.last_attempt_at), lease_owner = NULL, next_trigger = 'scheduled'
  FROM (SELECT * FROM json_to_recordset($1::json)
      AS x(id text, owner text, status text, due_at bigint, counted int, attempted_at bigint) LIMIT $2) u
  WHERE d.id = u.id AND d.lease_owner = u.owner AND d.status = 'sending'`;

/**
 * Gives leased deliveries back untried, each due at its own time; only the lease holder can.
 * $1: JSON array of {id, due_at}; $2: how many records $1 holds (see {@link COMPLETE_DELIVERIES});
 * $3: the lease owner.
 */
const RELEASE_DELIVERIES = `
  UPDATE deliveries d SET status = 'pending', due_at = r.due_at, lease_owner = NULL
  FROM (SELECT * FROM json_to_recordset($1::json) AS x(id text, due_at bigint) LIMIT $2) r
  WHERE d.id = r.id AND d.lease_owner = $3 AND d.status = 'sending'`;

// BIGINT (20) as a JS number: every time is a millisecond count well below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

function mapError(error: unknown): never {
  const code = (error as { code?: string }).code;
  if (code === '23505') throw new ConflictError('a record with this unique key exists', { cause: error });
  // Connection-level failures: refused, reset, server shutting down, too many clients.
  if (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    code === '53300' ||
    /Connection terminated|not queryable|Client has encountered a connection error/.test(String(error))
  ) {
    throw new StoreUnavailableError('the database is unavailable', { cause: error });
  }
  throw error;
}

/** Opens (creating the schema and migrating if needed) a PostgreSQL store. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name ${schema}`);
  const clock = options.clock ?? systemClock;
  const retention = inboundRetention(options.inboundRetention);
  const config: pg.PoolConfig = {
    connectionString: options.url,
    max: options.poolSize ?? 10,
    types,
    options: `-c search_path=${schema}`,
  };
  const pool = new pg.Pool(config);
  pool.on('error', () => {
    // An idle client lost its connection; the pool replaces it on the next query.
  });
  const sessions = ownSessions(pool);
  const client = await pool.connect().catch(mapError);
  const box = options.secretBox ?? plainBox;
  try {
    await migrate(client, clock.now(), schema);
    await resealSecrets(client, box);
  } catch (error) {
    client.release();
    await pool.end();
    throw error;
  }
  client.release();
  const store = new PostgresStore(pool, config, clock, options.maxBatch ?? 512, box, retention, sessions);
  await store.listen();
  return store;
}

type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * The server process ids of the pool's connections, kept as connections come and go. A
 * notification names the session that sent it; one sent from this set is the echo of a
 * commit that already woke this process directly, so it is not heard twice. (Behind a pooler
 * that hides the server's process ids nothing matches, and the echo wakes again, as before.)
 */
function ownSessions(pool: pg.Pool): ReadonlySet<number> {
  const pids = new Set<number>();
  const pidOf = (client: pg.PoolClient) => (client as pg.PoolClient & { processID: number | null }).processID;
  pool.on('connect', (client) => {
    const pid = pidOf(client);
    if (pid !== null) pids.add(pid);
  });
  pool.on('remove', (client) => {
    const pid = pidOf(client);
    if (pid !== null) pids.delete(pid);
  });
  return pids;
}

/**
 * Brings every stored secret under the current key (or checks that none needs one). Old row
 * versions keep the plain text until PostgreSQL vacuums them (README, "Secrets at rest").
 */
async function resealSecrets(client: pg.PoolClient, box: SecretBox): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const { table, column } of SEALED_COLUMNS) {
      const { rows } = await client.query<SecretRow>(
        `SELECT id, ${column} AS value FROM ${table} FOR UPDATE`,
      );
      for (const row of rowsToReseal(rows, box, column)) {
        await client.query(`UPDATE ${table} SET ${column} = $1 WHERE id = $2`, [row.value, row.id]);
      }
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The PostgreSQL implementation of {@link Store}. */
export class PostgresStore implements Store {
  readonly kind = 'postgres';
  private readonly wake = new EventEmitter();
  private readonly ingest: GroupCommit<PendingMessage, AcceptedMessage>;
  private listener: pg.Client | null = null;
  private relisten: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly inbound: PostgresInboundLog;

  constructor(
    private readonly pool: pg.Pool,
    private readonly config: pg.PoolConfig,
    private readonly clock: Clock,
    maxBatch: number,
    private readonly box: SecretBox,
    retention: InboundRetention,
    /** This store's own sessions (see {@link ownSessions}), whose notifications it ignores. */
    private readonly sessions: ReadonlySet<number>,
  ) {
    this.wake.setMaxListeners(0);
    this.inbound = new PostgresInboundLog((sql, params) => this.q(sql, params), clock, retention);
    this.ingest = new GroupCommit((items) => this.commitMessages(items), maxBatch);
  }

  /**
   * Keeps one connection listening for wake-ups from every process; reconnects when it drops.
   * Exactly one reconnect is ever pending, so an outage cannot multiply listeners.
   */
  async listen(): Promise<void> {
    if (this.closed || this.listener) return;
    const client = new pg.Client(this.config);
    client.on('error', () => {
      // Handled by 'end' below, or by the failed connect.
    });
    client.on('end', () => {
      if (this.listener !== client) return;
      this.listener = null;
      // Deliveries may have arrived while deaf: wake everyone, then listen again.
      this.wake.emit('wake', null);
      this.listenLater();
    });
    client.on('notification', (n) => {
      // Every commit that notifies also wakes this process itself, without the round trip.
      if (this.sessions.has(n.processId)) return;
      let ids: string[] | null = null;
      try {
        ids = n.payload ? (JSON.parse(n.payload) as string[] | null) : null;
      } catch {
        ids = null;
      }
      this.wake.emit('wake', ids);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${WAKE_CHANNEL}`);
    } catch {
      await client.end().catch(() => undefined);
      this.listenLater();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
  }

  private listenLater(): void {
    if (this.closed || this.relisten) return;
    this.relisten = setTimeout(() => {
      this.relisten = null;
      void this.listen();
    }, 500);
    this.relisten.unref();
  }

  private async q<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
    on: Queryable = this.pool,
  ) {
    try {
      return await on.query<R>(sql, params);
    } catch (error) {
      return mapError(error);
    }
  }

  private async tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch(mapError);
    // A checked-out client whose connection dies emits 'error'; unheard, that would end the
    // process. The failed query reports it to the caller instead.
    const onError = () => undefined;
    client.on('error', onError);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      return mapError(error);
    } finally {
      client.off('error', onError);
      // A client that could not even roll back is dropped from the pool, not reused.
      client.release(broken);
    }
  }

  private notify(on: Queryable, endpointIds: readonly string[] | null) {
    const payload = endpointIds === null ? 'null' : JSON.stringify(endpointIds);
    return on.query('SELECT pg_notify($1, $2)', [
      WAKE_CHANNEL,
      payload.length > WAKE_PAYLOAD_MAX ? 'null' : payload,
    ]);
  }

  // Applications

  private async appRow(idOrUid: string, on: Queryable = this.pool) {
    return (
      // Prefers the id: a uid equal to another row's id (possible in data written before uids of
      // id shape were refused) can never shadow that row.
      (
        await this.q<ApplicationRow>(
          `SELECT * FROM applications WHERE id = $1 OR uid = $1 ORDER BY id = $1 DESC LIMIT 1`,
          [idOrUid],
          on,
        )
      ).rows[0]
    );
  }

  async createApplication(input: NewApplication): Promise<Application> {
    const now = this.clock.now();
    const app = applicationRecord(blankApplication(newId('app', now), now), input, now);
    const r = fromApplication(app);
    try {
      await this.q(
        'INSERT INTO applications (id, uid, name, rate_limit, metadata, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7)',
        [r.id, r.uid, r.name, r.rate_limit, r.metadata, r.created_at, r.updated_at],
      );
    } catch (error) {
      if (error instanceof ConflictError)
        throw new ConflictError(`an application with uid ${app.uid} exists`);
      throw error;
    }
    return app;
  }

  async getApplication(idOrUid: string): Promise<Application | null> {
    const row = await this.appRow(idOrUid);
    return row ? toApplication(row) : null;
  }

  async listApplications(page: PageRequest): Promise<Page<Application>> {
    const { rows } = await this.q<ApplicationRow>(
      'SELECT * FROM applications WHERE id > $1 ORDER BY id LIMIT $2',
      [page.iterator ?? '', page.limit + 1],
    );
    return pageOf(rows.map(toApplication), page.limit, (a) => a.id);
  }

  async updateApplication(id: string, patch: ApplicationPatch): Promise<Application> {
    const current = await this.getApplication(id);
    if (!current) throw new NotFoundError(`application ${id} not found`);
    const next = applicationRecord(current, patch, this.clock.now());
    const r = fromApplication(next);
    try {
      await this.q(
        'UPDATE applications SET uid=$2, name=$3, rate_limit=$4, metadata=$5, updated_at=$6 WHERE id=$1',
        [r.id, r.uid, r.name, r.rate_limit, r.metadata, r.updated_at],
      );
    } catch (error) {
      if (error instanceof ConflictError)
        throw new ConflictError(`an application with uid ${next.uid} exists`);
      throw error;
    }
    return next;
  }

  async deleteApplication(id: string): Promise<void> {
    const app = await this.getApplication(id);
    if (!app) throw new NotFoundError(`application ${id} not found`);
    await this.tx(async (c) => {
      await c.query('DELETE FROM attempts WHERE app_id = $1', [app.id]);
      await c.query('DELETE FROM applications WHERE id = $1', [app.id]);
    });
  }

  // Event types

  async upsertEventType(input: NewEventType): Promise<EventType> {
    const now = this.clock.now();
    const { rows } = await this.q<EventTypeRow>(
      `INSERT INTO event_types (name, description, schemas, archived, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $5)
       ON CONFLICT (name) DO UPDATE SET description = excluded.description, schemas = excluded.schemas,
         archived = excluded.archived, updated_at = excluded.updated_at
       RETURNING *`,
      [
        input.name,
        input.description ?? '',
        input.schemas ? JSON.stringify(input.schemas) : null,
        input.archived ?? false,
        now,
      ],
    );
    return toEventType(rows[0]!);
  }

  async getEventType(name: string): Promise<EventType | null> {
    const row = (await this.q<EventTypeRow>('SELECT * FROM event_types WHERE name = $1', [name])).rows[0];
    return row ? toEventType(row) : null;
  }

  async listEventTypes(page: PageRequest): Promise<Page<EventType>> {
    const { rows } = await this.q<EventTypeRow>(
      'SELECT * FROM event_types WHERE name > $1 ORDER BY name LIMIT $2',
      [page.iterator ?? '', page.limit + 1],
    );
    return pageOf(rows.map(toEventType), page.limit, (e) => e.name);
  }

  async deleteEventType(name: string): Promise<void> {
    const { rowCount } = await this.q('DELETE FROM event_types WHERE name = $1', [name]);
    if (rowCount === 0) throw new NotFoundError(`event type ${name} not found`);
  }

  // Endpoints

  private endpointParams(e: Endpoint): unknown[] {
    const r = fromEndpoint(e, this.box);
    return [
      r.id,
      r.app_id,
      r.uid,
      r.url,
      r.description,
      r.filter_types,
      r.channels,
      r.secrets,
      r.headers,
      r.rate_limit,
      e.disabled,
      r.metadata,
      r.retry_schedule,
      r.timeout_ms,
      r.failing_since,
      r.created_at,
      r.updated_at,
    ];
  }

  async createEndpoint(appId: string, input: NewEndpoint): Promise<Endpoint> {
    const app = await this.getApplication(appId);
    if (!app) throw new NotFoundError(`application ${appId} not found`);
    const now = this.clock.now();
    const endpoint = endpointRecord(blankEndpoint(newId('ep', now), app.id, now, input.secret), input, now);
    try {
      await this.q(
        `INSERT INTO endpoints (id, app_id, uid, url, description, filter_types, channels, secrets, headers, rate_limit,
           disabled, metadata, retry_schedule, timeout_ms, failing_since, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`,
        this.endpointParams(endpoint),
      );
    } catch (error) {
      if (error instanceof ConflictError)
        throw new ConflictError(`an endpoint with uid ${endpoint.uid} exists`);
      throw error;
    }
    return endpoint;
  }

  async getEndpoint(appId: string, idOrUid: string): Promise<Endpoint | null> {
    const row = (
      await this.q<EndpointRow>(
        `SELECT * FROM endpoints WHERE app_id = ${APP_BY_KEY} AND (id = $2 OR uid = $2)
         ORDER BY id = $2 DESC LIMIT 1`,
        [appId, idOrUid],
      )
    ).rows[0];
    return row ? toEndpoint(row, this.box) : null;
  }

  private async mustGetEndpoint(appId: string, idOrUid: string): Promise<Endpoint> {
    const endpoint = await this.getEndpoint(appId, idOrUid);
    if (!endpoint) throw new NotFoundError(`endpoint ${idOrUid} not found in application ${appId}`);
    return endpoint;
  }

  async listEndpoints(appId: string, page: PageRequest): Promise<Page<Endpoint>> {
    const app = await this.getApplication(appId);
    if (!app) throw new NotFoundError(`application ${appId} not found`);
    const { rows } = await this.q<EndpointRow>(
      'SELECT * FROM endpoints WHERE app_id = $1 AND id > $2 ORDER BY id LIMIT $3',
      [app.id, page.iterator ?? '', page.limit + 1],
    );
    return pageOf(
      rows.map((r) => toEndpoint(r, this.box)),
      page.limit,
      (e) => e.id,
    );
  }

  private async saveEndpoint(next: Endpoint, wasDisabled: boolean): Promise<void> {
    try {
      await this.tx(async (c) => {
        await c.query(
          `UPDATE endpoints SET app_id=$2, uid=$3, url=$4, description=$5, filter_types=$6, channels=$7, secrets=$8,
             headers=$9, rate_limit=$10, disabled=$11, metadata=$12, retry_schedule=$13, timeout_ms=$14,
             failing_since=$15, created_at=$16, updated_at=$17
           WHERE id = $1`,
          this.endpointParams(next),
        );
        // A disabled endpoint receives nothing: what waited for it fails (recover re-sends it).
        if (next.disabled && !wasDisabled) {
          await c.query(
            `UPDATE deliveries SET status = 'failed', due_at = NULL WHERE endpoint_id = $1 AND status = 'pending'`,
            [next.id],
          );
        }
      });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`an endpoint with uid ${next.uid} exists`);
      throw error;
    }
  }

  async updateEndpoint(appId: string, id: string, patch: EndpointPatch): Promise<Endpoint> {
    const current = await this.mustGetEndpoint(appId, id);
    const next = endpointRecord(current, patch, this.clock.now());
    await this.saveEndpoint(next, current.disabled);
    return next;
  }

  async rotateEndpointSecret(
    appId: string,
    id: string,
    newSecret: string,
    graceMs: number,
  ): Promise<Endpoint> {
    const current = await this.mustGetEndpoint(appId, id);
    const now = this.clock.now();
    const next = {
      ...current,
      secrets: rotatedSecrets(current.secrets, newSecret, graceMs, now),
      updatedAt: now,
    };
    await this.saveEndpoint(next, current.disabled);
    return next;
  }

  async deleteEndpoint(appId: string, id: string): Promise<void> {
    const endpoint = await this.mustGetEndpoint(appId, id);
    await this.tx(async (c) => {
      await c.query('DELETE FROM attempts WHERE endpoint_id = $1', [endpoint.id]);
      await c.query('DELETE FROM endpoints WHERE id = $1', [endpoint.id]);
    });
  }

  // Messages

  async acceptMessage(input: NewMessage): Promise<AcceptedMessage> {
    const now = this.clock.now();
    const message = messageRecord(newId('msg', now), input, now);
    return this.ingest.submit({ message, onlyEndpointId: input.onlyEndpointId });
  }

  /** Writes a batch of messages and their deliveries in one transaction (multi-row inserts). */
  private async commitMessages(batch: PendingMessage[]): Promise<ItemResult<AcceptedMessage>[]> {
    const woken = new Set<string>();
    const results = await this.tx(async (c) => {
      const apps = new Map<string, { id: string; endpoints: Endpoint[] } | null>();
      for (const { message } of batch) {
        if (apps.has(message.appId)) continue;
        const row = await this.appRow(message.appId, c);
        const endpoints = row
          ? (
              await c.query<EndpointRow>('SELECT * FROM endpoints WHERE app_id = $1 AND NOT disabled', [
                row.id,
              ])
            ).rows.map((r) => toEndpoint(r, this.box))
          : [];
        apps.set(message.appId, row ? { id: row.id, endpoints } : null);
      }
      const known = batch.filter(({ message }) => apps.get(message.appId));
      const rows = known.map(({ message }) =>
        fromMessage({ ...message, appId: apps.get(message.appId)!.id }),
      );
      const inserted = new Set(
        (await c.query<{ id: string }>(INSERT_MESSAGES, [jsonRecords(rows)])).rows.map((r) => r.id),
      );
      const deliveries: NewDeliveryRecord[] = [];
      const out = batch.map(({ message, onlyEndpointId }): ItemResult<AcceptedMessage> => {
        const app = apps.get(message.appId);
        if (!app) return { ok: false, error: new NotFoundError(`application ${message.appId} not found`) };
        if (!inserted.has(message.id)) {
          return { ok: false, error: new ConflictError(`a message with eventId ${message.eventId} exists`) };
        }
        const stored = { ...message, appId: app.id };
        let count = 0;
        for (const endpoint of app.endpoints) {
          const wanted =
            onlyEndpointId === undefined
              ? matches(endpoint, stored.eventType, stored.channels)
              : endpoint.id === onlyEndpointId;
          if (!wanted) continue;
          deliveries.push({
            id: newId('dlv', stored.createdAt),
            msg_id: stored.id,
            endpoint_id: endpoint.id,
            app_id: app.id,
            at: stored.createdAt,
          });
          woken.add(endpoint.id);
          count++;
        }
        return { ok: true, value: { message: stored, deliveries: count } };
      });
      if (deliveries.length > 0) {
        await c.query(INSERT_DELIVERIES, [jsonRecords(deliveries)]);
        await this.notify(c, [...woken]);
      }
      return out;
    });
    // Other processes hear the NOTIFY; this one is woken now, without the round trip (and
    // ignores the echo).
    if (woken.size > 0) this.wake.emit('wake', [...woken]);
    return results;
  }

  async getMessage(appId: string, idOrEventId: string): Promise<Message | null> {
    const row = (
      await this.q<MessageRow>(
        `SELECT * FROM messages WHERE app_id = ${APP_BY_KEY} AND (id = $2 OR event_id = $2)
         ORDER BY id = $2 DESC LIMIT 1`,
        [appId, idOrEventId],
      )
    ).rows[0];
    return row ? toMessage(row) : null;
  }

  async listMessages(filter: MessageFilter, page: PageRequest): Promise<Page<Message>> {
    const app = await this.getApplication(filter.appId);
    if (!app) throw new NotFoundError(`application ${filter.appId} not found`);
    const { rows } = await this.q<MessageRow>(
      `SELECT * FROM messages
       WHERE app_id = $1
         AND ($2::text[] IS NULL OR event_type = ANY($2))
         AND ($3::text IS NULL OR channels::jsonb ? $3)
         AND ($4::bigint IS NULL OR created_at < $4)
         AND ($5::bigint IS NULL OR created_at > $5)
         AND ($6::text IS NULL OR id < $6)
       ORDER BY id DESC LIMIT $7`,
      [
        app.id,
        filter.eventTypes && filter.eventTypes.length > 0 ? filter.eventTypes : null,
        filter.channel ?? null,
        filter.before ?? null,
        filter.after ?? null,
        page.iterator ?? null,
        page.limit + 1,
      ],
    );
    return pageOf(rows.map(toMessage), page.limit, (m) => m.id);
  }

  async listEndpointDeliveries(
    endpointId: string,
    page: PageRequest,
  ): Promise<Page<{ delivery: Delivery; message: Message }>> {
    const { rows } = await this.q<DeliveryRow & { m: MessageRow }>(
      `SELECT d.*, row_to_json(m) AS m FROM deliveries d JOIN messages m ON m.id = d.msg_id
       WHERE d.endpoint_id = $1 AND ($2::text IS NULL OR d.id < $2) ORDER BY d.id DESC LIMIT $3`,
      [endpointId, page.iterator ?? null, page.limit + 1],
    );
    const items = rows.map((r) => ({ delivery: toDelivery(r), message: toMessage(r.m) }));
    return pageOf(items, page.limit, (x) => x.delivery.id);
  }

  // Deliveries

  async claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    const leaseExpiresAt = request.now + request.leaseMs;
    // Without saturated endpoints: the oldest due rows. With them: endpoint by endpoint
    // (oldest first), so that no claim reads a saturated endpoint's backlog.
    const due =
      request.skipEndpoints.length === 0
        ? `SELECT id FROM deliveries
           WHERE status IN ('pending', 'sending') AND due_at <= $1
           ORDER BY due_at LIMIT $2
           FOR UPDATE SKIP LOCKED`
        : `SELECT x.id FROM (
             SELECT e.id, f.first_due FROM endpoints e
             CROSS JOIN LATERAL (
               SELECT due_at AS first_due FROM deliveries
               WHERE endpoint_id = e.id AND status IN ('pending', 'sending')
               ORDER BY due_at LIMIT 1
             ) f
             WHERE NOT (e.id = ANY($5::text[])) AND f.first_due <= $1
             ORDER BY f.first_due LIMIT ${CLAIM_ENDPOINTS_MAX}
           ) ready
           CROSS JOIN LATERAL (
             SELECT id FROM deliveries
             WHERE endpoint_id = ready.id AND status IN ('pending', 'sending') AND due_at <= $1
             ORDER BY due_at LIMIT $2
             FOR UPDATE SKIP LOCKED
           ) x
           LIMIT $2`;
    const { rows } = await this.q<ClaimRow>(
      `WITH due AS (${due}), claimed AS (
         UPDATE deliveries d SET status = 'sending', due_at = $3, lease_owner = $4
         FROM due WHERE d.id = due.id
         RETURNING d.id, d.msg_id, d.endpoint_id, d.app_id, d.attempts, d.next_trigger
       )
       SELECT c.*, m.event_type, m.payload, m.headers, e.updated_at AS endpoint_version
       FROM claimed c JOIN messages m ON m.id = c.msg_id JOIN endpoints e ON e.id = c.endpoint_id`,
      [
        request.now,
        request.limit,
        leaseExpiresAt,
        request.owner,
        ...(request.skipEndpoints.length === 0 ? [] : [request.skipEndpoints]),
      ],
    );
    return rows.map((r) => toClaimed(r, leaseExpiresAt));
  }

  async complete(
    completions: readonly Completion[],
    now: number,
    autoDisableAfterMs: number,
  ): Promise<DisabledEndpoint[]> {
    if (completions.length === 0) return [];
    return this.tx(async (c) => {
      const attempts = completions.flatMap((x) => (x.attempt ? [attemptRecord(x.attempt)] : []));
      if (attempts.length > 0) await c.query(INSERT_ATTEMPTS, [jsonRecords(attempts)]);
      await c.query(COMPLETE_DELIVERIES, [
        jsonRecords(completions.map(completionRecord)),
        completions.length,
      ]);
      const disabled: DisabledEndpoint[] = [];
      const disable = async (endpointId: string, reason: DisabledEndpoint['reason']) => {
        const row = (
          await c.query<{ app_id: string }>(
            'UPDATE endpoints SET disabled = TRUE, updated_at = $1 WHERE id = $2 AND NOT disabled RETURNING app_id',
            [now, endpointId],
          )
        ).rows[0];
        if (!row) return;
        await c.query(
          `UPDATE deliveries SET status = 'failed', due_at = NULL WHERE endpoint_id = $1 AND status = 'pending'`,
          [endpointId],
        );
        disabled.push({ appId: row.app_id, endpointId, reason });
      };
      // Endpoint effects in order, as on SQLite: a success clears the failure clock, an
      // exhaustion starts it, 410 disables.
      const cleared = new Set<string>();
      for (const x of completions) {
        if (x.next.status === 'succeeded' && !cleared.has(x.endpointId)) {
          await c.query(
            'UPDATE endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL',
            [x.endpointId],
          );
          cleared.add(x.endpointId);
        }
        if (x.disableEndpoint) await disable(x.endpointId, 'gone');
        else if (x.next.status === 'failed' && x.next.exhausted) {
          cleared.delete(x.endpointId);
          const state = (
            await c.query<{ failing_since: number; disabled: boolean }>(
              'UPDATE endpoints SET failing_since = COALESCE(failing_since, $1) WHERE id = $2 RETURNING failing_since, disabled',
              [now, x.endpointId],
            )
          ).rows[0];
          if (state && !state.disabled && now - state.failing_since >= autoDisableAfterMs)
            await disable(x.endpointId, 'failing');
        }
      }
      return disabled;
    });
  }

  async release(owner: string, releases: readonly Release[]): Promise<void> {
    if (releases.length === 0) return;
    await this.q(RELEASE_DELIVERIES, [
      jsonRecords(releases.map((r) => ({ id: r.deliveryId, due_at: r.dueAt }))),
      releases.length,
      owner,
    ]);
    await this.notify(this.pool, null).catch(() => undefined);
    this.wake.emit('wake', null);
  }

  async nextDueAt(): Promise<number | null> {
    const { rows } = await this.q<{ due: number | null }>(
      `SELECT MIN(due_at) AS due FROM deliveries WHERE status IN ('pending', 'sending')`,
    );
    return rows[0]?.due ?? null;
  }

  async getDelivery(msgId: string, endpointId: string): Promise<Delivery | null> {
    const row = (
      await this.q<DeliveryRow>('SELECT * FROM deliveries WHERE msg_id = $1 AND endpoint_id = $2', [
        msgId,
        endpointId,
      ])
    ).rows[0];
    return row ? toDelivery(row) : null;
  }

  async listDeliveries(msgId: string): Promise<Delivery[]> {
    return (
      await this.q<DeliveryRow>('SELECT * FROM deliveries WHERE msg_id = $1 ORDER BY id', [msgId])
    ).rows.map(toDelivery);
  }

  private async wakeFor(endpointIds: string[]): Promise<void> {
    await this.notify(this.pool, endpointIds).catch(() => undefined);
    this.wake.emit('wake', endpointIds);
  }

  async recover(endpointId: string, since: number, until: number | null): Promise<number> {
    const { rowCount } = await this.q(
      `UPDATE deliveries SET status = 'pending', due_at = $1, next_trigger = 'manual'
       WHERE endpoint_id = $2 AND status = 'failed' AND created_at >= $3 AND ($4::bigint IS NULL OR created_at < $4)`,
      [this.clock.now(), endpointId, since, until],
    );
    if (rowCount) await this.wakeFor([endpointId]);
    return rowCount ?? 0;
  }

  async replayMissing(endpointId: string, since: number, until: number | null): Promise<number> {
    const row = (await this.q<EndpointRow>('SELECT * FROM endpoints WHERE id = $1', [endpointId])).rows[0];
    if (!row) throw new NotFoundError(`endpoint ${endpointId} not found`);
    const endpoint = toEndpoint(row, this.box);
    if (endpoint.disabled) return 0;
    const now = this.clock.now();
    const created = await this.tx(async (c) => {
      const missing = (
        await c.query<MessageRow>(
          `SELECT m.* FROM messages m
           WHERE m.app_id = $1 AND m.created_at >= $2 AND ($3::bigint IS NULL OR m.created_at < $3)
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = $4)`,
          [endpoint.appId, since, until, endpoint.id],
        )
      ).rows
        .map(toMessage)
        .filter((m) => matches(endpoint, m.eventType, m.channels));
      for (const m of missing) {
        await c.query(
          `INSERT INTO deliveries (id, msg_id, endpoint_id, app_id, status, attempts, due_at, created_at)
           VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) ON CONFLICT DO NOTHING`,
          [newId('dlv', now), m.id, endpoint.id, endpoint.appId, now],
        );
      }
      return missing.length;
    });
    if (created > 0) await this.wakeFor([endpoint.id]);
    return created;
  }

  async resend(msgId: string, endpointId: string): Promise<Delivery> {
    const { rowCount } = await this.q(
      `UPDATE deliveries SET status = 'pending', due_at = $1, next_trigger = 'manual', lease_owner = NULL
       WHERE msg_id = $2 AND endpoint_id = $3 AND status <> 'sending'`,
      [this.clock.now(), msgId, endpointId],
    );
    const delivery = await this.getDelivery(msgId, endpointId);
    if (!delivery) throw new NotFoundError(`no delivery of message ${msgId} to endpoint ${endpointId}`);
    if (rowCount) await this.wakeFor([endpointId]);
    return delivery;
  }

  async listAttempts(filter: AttemptFilter, page: PageRequest): Promise<Page<Attempt>> {
    const { rows } = await this.q<AttemptRow>(
      `SELECT * FROM attempts
       WHERE app_id = $1
         AND ($2::text IS NULL OR msg_id = $2)
         AND ($3::text IS NULL OR endpoint_id = $3)
         AND ($4::boolean IS NULL OR succeeded = $4)
         AND ($5::int IS NULL OR ($5 = 0 AND status_code IS NULL) OR (status_code >= $5 AND status_code < $5 + 100))
         AND ($6::text[] IS NULL OR msg_id IN (SELECT id FROM messages WHERE event_type = ANY($6)))
         AND ($7::bigint IS NULL OR created_at < $7)
         AND ($8::bigint IS NULL OR created_at > $8)
         AND ($9::text IS NULL OR id < $9)
       ORDER BY id DESC LIMIT $10`,
      [
        filter.appId,
        filter.msgId ?? null,
        filter.endpointId ?? null,
        filter.succeeded ?? null,
        filter.statusCodeClass ?? null,
        filter.eventTypes && filter.eventTypes.length > 0 ? filter.eventTypes : null,
        filter.before ?? null,
        filter.after ?? null,
        page.iterator ?? null,
        page.limit + 1,
      ],
    );
    return pageOf(rows.map(toAttempt), page.limit, (a) => a.id);
  }

  async getAttempt(appId: string, msgId: string, attemptId: string): Promise<Attempt | null> {
    const row = (
      await this.q<AttemptRow>(
        `SELECT * FROM attempts WHERE app_id = ${APP_BY_KEY} AND msg_id = $2 AND id = $3`,
        [appId, msgId, attemptId],
      )
    ).rows[0];
    return row ? toAttempt(row) : null;
  }

  async countDeliveries(endpointId: string): Promise<Record<Delivery['status'], number>> {
    const counts = { pending: 0, sending: 0, succeeded: 0, failed: 0 };
    const { rows } = await this.q<{ status: Delivery['status']; n: string }>(
      'SELECT status, COUNT(*) AS n FROM deliveries WHERE endpoint_id = $1 GROUP BY status',
      [endpointId],
    );
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }

  async saveToken(hash: string, appId: string | null): Promise<void> {
    await this.q(
      'INSERT INTO api_tokens (hash, app_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [hash, appId, this.clock.now()],
    );
  }

  async findToken(hash: string): Promise<{ appId: string | null } | null> {
    const row = (
      await this.q<{ app_id: string | null }>('SELECT app_id FROM api_tokens WHERE hash = $1', [hash])
    ).rows[0];
    return row ? { appId: row.app_id } : null;
  }

  async hasAdminToken(): Promise<boolean> {
    return (await this.q('SELECT 1 FROM api_tokens WHERE app_id IS NULL LIMIT 1')).rows.length > 0;
  }

  async getIdempotent(scope: string, key: string, notBefore: number): Promise<IdempotentAnswer | null> {
    const row = (
      await this.q<{ request_hash: string; status_code: number; response: string; created_at: number }>(
        'SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at >= $3',
        [scope, key, notBefore],
      )
    ).rows[0];
    return row
      ? {
          requestHash: row.request_hash,
          statusCode: row.status_code,
          response: row.response,
          createdAt: row.created_at,
        }
      : null;
  }

  async saveIdempotent(
    scope: string,
    key: string,
    answer: IdempotentAnswer,
    replaceBefore: number,
  ): Promise<void> {
    await this.q(
      `INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, status_code = excluded.status_code,
         response = excluded.response, created_at = excluded.created_at
       WHERE idempotency_keys.created_at < $7`,
      [scope, key, answer.requestHash, answer.statusCode, answer.response, answer.createdAt, replaceBefore],
    );
  }

  async createSource(input: NewSource): Promise<Source> {
    const app = await this.appRow(input.appId);
    if (!app) throw new NotFoundError(`application ${input.appId} not found`);
    const now = this.clock.now();
    const source = sourceRecord(newId('src', now), app.id, input, now);
    await this.q(
      `INSERT INTO sources (id, name, provider, secrets, app_id, passthrough_headers, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
      [
        source.id,
        source.name,
        source.provider,
        this.box.seal(JSON.stringify(source.secrets), source.id),
        source.appId,
        source.passthroughHeaders,
        now,
      ],
    );
    return source;
  }

  async getSource(id: string): Promise<Source | null> {
    const row = (await this.q<SourceRow>('SELECT * FROM sources WHERE id = $1', [id])).rows[0];
    return row ? toSource(row, this.box) : null;
  }

  async listSources(page: PageRequest): Promise<Page<Source>> {
    const { rows } = await this.q<SourceRow>('SELECT * FROM sources WHERE id > $1 ORDER BY id LIMIT $2', [
      page.iterator ?? '',
      page.limit + 1,
    ]);
    return pageOf(
      rows.map((r) => toSource(r, this.box)),
      page.limit,
      (x) => x.id,
    );
  }

  async updateSource(id: string, patch: SourcePatch): Promise<Source> {
    return this.tx(async (client) => {
      const row = (await client.query<SourceRow>('SELECT * FROM sources WHERE id = $1 FOR UPDATE', [id]))
        .rows[0];
      if (!row) throw new NotFoundError(`source ${id} not found`);
      const source = updatedSource(toSource(row, this.box), patch, this.clock.now());
      await client.query(
        'UPDATE sources SET name = $1, secrets = $2, passthrough_headers = $3, updated_at = $4 WHERE id = $5',
        [
          source.name,
          this.box.seal(JSON.stringify(source.secrets), source.id),
          source.passthroughHeaders,
          source.updatedAt,
          id,
        ],
      );
      return source;
    });
  }

  async deleteSource(id: string): Promise<void> {
    const { rowCount } = await this.q('DELETE FROM sources WHERE id = $1', [id]);
    if (rowCount === 0) throw new NotFoundError(`source ${id} not found`);
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

  onWake(listener: WakeListener): () => void {
    this.wake.on('wake', listener);
    return () => this.wake.off('wake', listener);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.closed) return;
    await this.ingest.flush();
    this.closed = true;
    this.wake.removeAllListeners();
    if (this.relisten) clearTimeout(this.relisten);
    await this.listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}
