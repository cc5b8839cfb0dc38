/**
 * The PostgreSQL connection every record group shares: the pool (its search_path set to the
 * store's schema), transactions, error mapping (a unique violation is a `ConflictError`, a
 * lost server `StoreUnavailableError`), the wake-ups (LISTEN/NOTIFY between processes, an
 * emitter within this one), the clock and the secret box.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Clock } from '../../core/clock.js';
import { ConflictError, StoreUnavailableError } from '../../core/errors.js';
import type { Keyset } from '../paging.js';
import { rowsToReseal, SEALED_COLUMNS, type SecretBox, type SecretRow } from '../secret-box.js';
import type { WakeListener } from '../store.js';
import { migrate } from './migrate.js';

/** What a statement runs on: the pool, or a transaction's client. */
export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * The id of the application named by `$1`, its id or its uid, preferring the id: a uid equal
 * to another row's id (possible in data written before uids of id shape were refused) can
 * never shadow that row. Queries under an application resolve it first, then look inside it.
 */
export const APP_BY_KEY =
  '(SELECT id FROM applications WHERE id = $1 OR uid = $1 ORDER BY id = $1 DESC LIMIT 1)';

/**
 * The channel of a schema's wake-ups: notifications reach every session of the database, so
 * each schema has its own (two Heralds in two schemas of one database, or tests side by
 * side, would otherwise wake each other for endpoints they do not have). `public` keeps the
 * name it always had, so that processes of an older release still hear one another.
 */
export function wakeChannel(schema: string): string {
  return schema === 'public'
    ? 'herald_wake'
    : `herald_wake_${createHash('sha256').update(schema).digest('hex').slice(0, 32)}`;
}
/** NOTIFY payloads are limited to 8,000 bytes; past this, wake everyone for any endpoint. */
const WAKE_PAYLOAD_MAX = 7_000;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

// BIGINT (20) as a JS number: every time is a millisecond count well below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * A WHERE being built with positional parameters: each list adds its filters with
 * {@link param}, then {@link pageSql} its keyset, and runs the text with {@link params}.
 */
export class Where {
  readonly where: string[] = [];
  readonly params: unknown[] = [];

  /** `$n` standing for `value`. */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /**
   * Adds a time window as bounds on the list's key `column` (see `idWindow` in
   * `src/store/paging.ts`), so that the window is a range of the index the page reads.
   */
  window(column: string, bounds: { below?: string; above?: string }): this {
    if (bounds.below !== undefined) this.where.push(`${column} < ${this.param(bounds.below)}`);
    if (bounds.above !== undefined) this.where.push(`${column} > ${this.param(bounds.above)}`);
    return this;
  }

  /** `WHERE … ORDER BY … LIMIT …` of one page read by `ks` on `column` (the key). */
  pageSql(ks: Keyset, column: string, limit: number): string {
    const where = [...this.where];
    if (ks.cursor !== null) where.push(`${column} ${ks.op} ${this.param(ks.cursor)}`);
    const limitParam = this.param(limit + 1);
    return `${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${column} ${ks.sql} LIMIT ${limitParam}`;
  }
}

/** Throws `error` as Herald's error: `ConflictError`, `StoreUnavailableError`, or itself. */
export function mapError(error: unknown): never {
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
export function jsonRecords(records: readonly object[]): string {
  const text = JSON.stringify(records);
  return text.includes('\\ud')
    ? JSON.stringify(records, (_key, v) => (typeof v === 'string' ? wellFormed(v) : v))
    : text;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const wellFormed = (s: string) => s.replace(LONE_SURROGATE, '\ufffd');

/**
 * How long PostgreSQL lets one of Herald's sessions sit in an open transaction with no
 * statement running before it ends the session (and with it the transaction and its locks).
 */
export const IDLE_IN_TRANSACTION_MS = 30_000;

/**
 * Runs `run` again, up to 3 times in all, when PostgreSQL ended its transaction as the victim
 * of a deadlock (40P01): the transaction was rolled back whole, so running it again is safe.
 * Two batches of completions can deadlock on the failure streaks of two endpoints that one
 * ends and the other starts (each locks the rows of one kind in order, but the kinds in turn).
 */
export async function againOnDeadlock<T>(run: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await run();
    } catch (error) {
      if (tries >= 3 || (error as { code?: unknown }).code !== '40P01') throw error;
    }
  }
}

/** Names of the statements {@link prepared} marked, by their text. */
const PREPARED = new Map<string, string>();

/**
 * Marks a statement of the delivery path to be prepared by name: each session of the pool
 * parses it once and PostgreSQL plans it once or a few times (then may keep a generic plan),
 * instead of parsing and planning it at every execution. The planning was the costly part:
 * about 300 µs for each claim (its selectivity estimate reads the end of the due index) and
 * 46 µs per delivery in all, a fifth of the backends' CPU (BENCHMARKS.md, twelfth session).
 * Returns the text, so that the statement stays a string constant. Only constant texts that
 * name their columns: a prepared `SELECT *` fails once a migration changes the table.
 */
export function prepared(text: string): string {
  if (!PREPARED.has(text))
    PREPARED.set(text, `herald_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`);
  return text;
}

/** A pool client that runs the statements {@link prepared} marked as named statements. */
class PreparingClient extends pg.Client {
  // biome-ignore lint/suspicious/noExplicitAny: forwards every overload of pg's query unchanged
  override query(config: any, ...rest: any[]): any {
    const name = typeof config === 'string' ? PREPARED.get(config) : undefined;
    return (super.query as (...args: unknown[]) => unknown)(
      name === undefined ? config : { name, text: config },
      ...rest,
    );
  }
}

/** What {@link openConnection} needs. */
export interface ConnectionOptions {
  url: string;
  schema: string;
  clock: Clock;
  poolSize: number;
  box: SecretBox;
  /** Applies pending migrations; `false` refuses a database that has some. */
  migrate: boolean;
  /** {@link IDLE_IN_TRANSACTION_MS} unless given (tests make it short). */
  idleInTransactionMs?: number;
  /**
   * Runs the {@link prepared} statements as named ones (default). Off for a pooler between
   * Herald and PostgreSQL that cannot keep them: PgBouncer in transaction mode before 1.21,
   * or without `max_prepared_statements`.
   */
  preparedStatements?: boolean;
}

/**
 * Opens the pool on `schema` (creating and migrating it, and bringing every sealed value
 * under the box's key), then starts listening for other processes' wake-ups.
 */
export async function openConnection(options: ConnectionOptions): Promise<PostgresConnection> {
  if (!SCHEMA_NAME.test(options.schema)) throw new Error(`invalid schema name ${options.schema}`);
  const config: pg.PoolConfig = {
    connectionString: options.url,
    max: options.poolSize,
    types,
    ...(options.preparedStatements === false ? {} : { Client: PreparingClient }),
    // A process cut off from the database mid-transaction (its host partitioned, not dead)
    // leaves a session idle in that transaction, holding its row locks: the claims of every
    // other worker skip those rows until TCP gives up, hours later. Herald's transactions
    // never wait between statements, so PostgreSQL may end one that does after a while.
    options: `-c search_path=${options.schema} -c idle_in_transaction_session_timeout=${options.idleInTransactionMs ?? IDLE_IN_TRANSACTION_MS}`,
  };
  const pool = new pg.Pool(config);
  pool.on('error', () => {
    // An idle client lost its connection; the pool replaces it on the next query.
  });
  const sessions = ownSessions(pool);
  const client = await pool.connect().catch(mapError);
  try {
    await migrate(client, options.clock.now(), options.schema, { migrate: options.migrate });
    await resealSecrets(client, options.box);
  } catch (error) {
    client.release();
    await pool.end();
    throw error;
  }
  client.release();
  const conn = new PostgresConnection(
    pool,
    config,
    options.clock,
    options.box,
    sessions,
    wakeChannel(options.schema),
    options.schema,
  );
  await conn.listen();
  return conn;
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

/** An open pool with what every record group needs beside it. */
export class PostgresConnection {
  private readonly wake = new EventEmitter();
  private listener: pg.Client | null = null;
  private relisten: NodeJS.Timeout | null = null;
  private closed = false;

  /** Connections open and idle, and queries waiting for one. */
  poolStats(): { total: number; idle: number; waiting: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  constructor(
    private readonly pool: pg.Pool,
    private readonly poolConfig: pg.PoolConfig,
    readonly clock: Clock,
    readonly box: SecretBox,
    /** This store's own sessions (see {@link ownSessions}), whose notifications it ignores. */
    private readonly sessions: ReadonlySet<number>,
    /** Where this schema's wake-ups are sent and heard ({@link wakeChannel}). */
    private readonly channel: string,
    /** The schema the pool works in. */
    readonly schema: string,
  ) {
    this.wake.setMaxListeners(0);
  }

  /** The pool's client options, for a session of its own (the attempt feed's). */
  get config(): pg.PoolConfig {
    return this.poolConfig;
  }

  /** Whether a server process id is one of this store's pool sessions. */
  ownSession(pid: number): boolean {
    return this.sessions.has(pid);
  }

  /** Runs one statement on `on` (the pool by default), with the error mapping. */
  async q<R extends pg.QueryResultRow>(sql: string, params: unknown[] = [], on: Queryable = this.pool) {
    try {
      return await on.query<R>(sql, params);
    } catch (error) {
      return mapError(error);
    }
  }

  /** Runs `fn` in a transaction on one client: committed if it resolves, rolled back if not. */
  async tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
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

  /**
   * Tells other processes, once `on`'s transaction commits (at once on the pool), that
   * deliveries may be due for `endpointIds` (`null`: any endpoint).
   */
  notify(on: Queryable, endpointIds: readonly string[] | null) {
    return on.query('SELECT pg_notify($1, $2)', this.wakeNotice(endpointIds));
  }

  /** The channel and payload of `pg_notify` that wakes other processes for `endpointIds`. */
  wakeNotice(endpointIds: readonly string[] | null): [channel: string, payload: string] {
    const payload = endpointIds === null ? 'null' : JSON.stringify(endpointIds);
    return [this.channel, payload.length > WAKE_PAYLOAD_MAX ? 'null' : payload];
  }

  /**
   * Wakes this process's listeners now: every commit that notifies others does so too, without
   * waiting for the round trip (the echo is ignored, see {@link ownSessions}).
   */
  emitWake(endpointIds: readonly string[] | null): void {
    this.wake.emit('wake', endpointIds);
  }

  /** After a committed write: wakes every process, this one directly. */
  async wakeAll(endpointIds: readonly string[] | null): Promise<void> {
    await this.notify(this.pool, endpointIds).catch(() => undefined);
    this.emitWake(endpointIds);
  }

  /** See `Store.onWake`. */
  onWake(listener: WakeListener): () => void {
    this.wake.on('wake', listener);
    return () => this.wake.off('wake', listener);
  }

  /**
   * Keeps one connection listening for wake-ups from every process; reconnects when it drops.
   * Exactly one reconnect is ever pending, so an outage cannot multiply listeners.
   */
  async listen(): Promise<void> {
    if (this.closed || this.listener) return;
    const client = new pg.Client(this.poolConfig);
    client.on('error', () => {
      // Handled by 'end' below, or by the failed connect.
    });
    client.on('end', () => {
      if (this.listener !== client) return;
      this.listener = null;
      // Deliveries may have arrived while deaf: wake everyone, then listen again.
      this.emitWake(null);
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
      this.emitWake(ids);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
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

  /** Stops listening and closes the pool. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake.removeAllListeners();
    if (this.relisten) clearTimeout(this.relisten);
    await this.listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}
