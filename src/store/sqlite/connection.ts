/**
 * The SQLite connection every record group shares: opening (WAL, `synchronous=NORMAL`: a
 * committed transaction survives a process crash; a power loss can take the last ones),
 * pragmas, migrations, transactions, error mapping, the wake-ups and the clock.
 * better-sqlite3 is synchronous, so every method runs its statements in one go; writes from
 * several processes are serialised by SQLite's lock with a busy timeout.
 */
import { EventEmitter } from 'node:events';
import Database from 'better-sqlite3';
import type { Clock } from '../../core/clock.js';
import { ConflictError } from '../../core/errors.js';
import type { Keyset } from '../paging.js';
import { rowsToReseal, SEALED_COLUMNS, type SecretBox, type SecretRow } from '../secret-box.js';
import type { ClaimedDelivery, FreshListener, WakeListener } from '../store.js';
import { migrate, vacuumIncrementallyIfNew } from './migrate.js';

const SQLITE_CONSTRAINT_UNIQUE = 'SQLITE_CONSTRAINT_UNIQUE';

/** Whether `error` is SQLite's unique constraint violation. */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string }).code === SQLITE_CONSTRAINT_UNIQUE;
}

/** Runs `write`; a unique violation becomes a `ConflictError` saying `conflict` (with the cause). */
export function conflictOnUnique<T>(write: () => T, conflict: string): T {
  try {
    return write();
  } catch (error) {
    if (isUniqueViolation(error)) throw new ConflictError(conflict, { cause: error });
    throw error;
  }
}

/**
 * A WHERE being built with named parameters: `where` holds its conditions, `params` their
 * values. Each list adds its own filters, then {@link pageSql} its keyset.
 */
export interface Where {
  where: string[];
  params: Record<string, unknown>;
}

/**
 * Adds a time window as bounds on the list's key `column` (see `idWindow` in
 * `src/store/paging.ts`), so that the window is a range of the index the page reads.
 */
export function windowBounds(w: Where, column: string, bounds: { below?: string; above?: string }): void {
  if (bounds.below !== undefined) {
    w.where.push(`${column} < @below`);
    w.params.below = bounds.below;
  }
  if (bounds.above !== undefined) {
    w.where.push(`${column} > @above`);
    w.params.above = bounds.above;
  }
}

/** Adds a list's filters on the message `m`: event types, channel, tag. */
export function messageConditions(
  w: Where,
  filter: { eventTypes?: readonly string[]; channel?: string; tag?: string },
): void {
  if (filter.eventTypes && filter.eventTypes.length > 0) {
    w.where.push('m.event_type IN (SELECT value FROM json_each(@eventTypes))');
    w.params.eventTypes = JSON.stringify(filter.eventTypes);
  }
  if (filter.channel !== undefined) {
    w.where.push('EXISTS (SELECT 1 FROM json_each(m.channels) WHERE value = @channel)');
    w.params.channel = filter.channel;
  }
  if (filter.tag !== undefined) {
    w.where.push('EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value = @tag)');
    w.params.tag = filter.tag;
  }
}

/** `WHERE … ORDER BY … LIMIT …` of one page read by `ks` on `column` (the key). */
export function pageSql(w: Where, ks: Keyset, column: string, limit: number): string {
  const where = [...w.where];
  if (ks.cursor !== null) {
    where.push(`${column} ${ks.op} @cursor`);
    w.params.cursor = ks.cursor;
  }
  w.params.limit = limit + 1;
  return `${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${column} ${ks.sql} LIMIT @limit`;
}

/** An open SQLite database with what every record group needs beside it. */
export class SqliteConnection {
  readonly db: Database.Database;
  private readonly events = new EventEmitter();
  /** Statements whose text depends on a filter's shape: a handful each, prepared once. */
  private readonly byShape = new Map<string, Database.Statement>();

  constructor(
    path: string,
    readonly clock: Clock,
    readonly box: SecretBox,
    options: { migrate: boolean } = { migrate: true },
  ) {
    this.db = new Database(path);
    vacuumIncrementallyIfNew(this.db);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    // A 16 MiB page cache holds the hot pages (the right edges of the indexes, recent
    // messages): 64 MiB drained a 200,000-delivery backlog and ran the fan-out bench no
    // faster, and its pages counted in RSS (fan-out 301 MB against 252). No memory-mapped
    // reads either: mapped pages count in RSS too, and grow with the database (a
    // 100,000-delivery backlog drained at 327 MB with the map, 236 MB without).
    this.db.pragma('cache_size = -16384');
    // Checkpoint every ~40 MiB of WAL instead of SQLite's 4 MiB: hot pages (the due indexes,
    // recent deliveries) are rewritten many times between checkpoints but copied back once.
    // Measured with 9 fan-out and 6 one-to-one runs of the bench, alternating: fan-out
    // 4,655/s against 3,863/s (medians), one to one 3,072/s against 2,766/s.
    this.db.pragma('wal_autocheckpoint = 10000');
    // Under a main key, freed cells are zeroed so that no plain secret outlives its rewrite.
    if (box.encrypts) this.db.pragma('secure_delete = ON');
    try {
      migrate(this.db, clock.now(), options);
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.resealSecrets();
    this.events.setMaxListeners(0);
  }

  /** Runs `fn` in a `BEGIN IMMEDIATE` transaction: it holds the write lock from the start. */
  immediate<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /**
   * The statement for `sql`, prepared the first time (for list queries whose WHERE depends on
   * which filters are given: as many statements as filter shapes, not one per call).
   */
  cached<P extends unknown[], R>(sql: string): Database.Statement<P, R> {
    let statement = this.byShape.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.byShape.set(sql, statement);
    }
    return statement as Database.Statement<P, R>;
  }

  /** Brings every stored secret under the current key (or checks that none needs one). */
  private resealSecrets(): void {
    let rewritten = 0;
    this.immediate(() => {
      for (const { table, column } of SEALED_COLUMNS) {
        // Run once at opening, over every sealed column: not worth keeping prepared.
        const rows = this.db.prepare<[], SecretRow>(`SELECT id, ${column} AS value FROM ${table}`).all();
        const update = this.db.prepare(`UPDATE ${table} SET ${column} = ? WHERE id = ?`);
        for (const row of rowsToReseal(rows, this.box, column)) {
          update.run(row.value, row.id);
          rewritten++;
        }
      }
    });
    // Push the rewritten pages out of the WAL so the old text is gone from the files too.
    if (rewritten > 0 && this.box.encrypts) this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Tells the wake listeners that deliveries may be due for `endpointIds` (`null`: any). */
  wake(endpointIds: readonly string[] | null): void {
    this.events.emit('wake', endpointIds);
  }

  /** See `Store.onWake`. */
  onWake(listener: WakeListener): () => void {
    this.events.on('wake', listener);
    return () => this.events.off('wake', listener);
  }

  /** Hands committed deliveries that filled `owner`'s standing claim to the fresh listeners. */
  fresh(owner: string, deliveries: ClaimedDelivery[]): void {
    this.events.emit('fresh', owner, deliveries);
  }

  /** See `StandingClaims.onFresh`. */
  onFresh(listener: FreshListener): () => void {
    this.events.on('fresh', listener);
    return () => this.events.off('fresh', listener);
  }

  /** Whether anyone hears of fresh deliveries (a standing claim without a listener is pointless). */
  get hasFreshListeners(): boolean {
    return this.events.listenerCount('fresh') > 0;
  }

  /** Forgets the listeners and closes the database. */
  close(): void {
    this.events.removeAllListeners();
    if (this.db.open) this.db.close();
  }
}
