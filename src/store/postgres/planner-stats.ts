/**
 * Keeps the planner's picture of the queue tables from falling far behind their size.
 *
 * Each pool session prepares the delivery path's statements once (`prepared()`), and after a
 * few executions PostgreSQL keeps a generic plan for the session, costed on the statistics
 * the table had then. On a new database those are of a table of a few pages: the
 * completion's `UPDATE deliveries … FROM json_to_recordset(…)` then joins by hashing a
 * sequential scan of every delivery, and keeps doing so, one scan per batch of completions,
 * as the table grows, until an ANALYZE (autovacuum's, within its naptime of a minute by
 * default, or sooner) invalidates the plan. Measured: 100,000 deliveries on a fresh database
 * cost PostgreSQL 225 µs each, against 131 µs after an ANALYZE at 2,000 (BENCHMARKS.md,
 * fourteenth session). The same happens whenever a table outgrows its statistics between two
 * autovacuum passes (a few test messages, then a burst).
 *
 * So the process that completes deliveries counts them, and every
 * {@link CHECK_EVERY_COMPLETIONS} it asks, in one catalog query, whether a queue table holds
 * more than {@link OUTGROWN_FACTOR} times the rows its statistics say (and at least
 * {@link MIN_ROWS}); it analyzes each that does. One process analyzes at a time (a
 * transaction-level advisory lock), and never waits for a table another ANALYZE or a VACUUM
 * holds (`SKIP_LOCKED`). Only the tables Herald's user owns are looked at: PostgreSQL skips
 * another owner's with a warning, not an error (a database migrated by another role,
 * `herald migrate` with `--no-migrate` elsewhere). Best effort: a failed check or ANALYZE is
 * left for the next one and for autovacuum, which stays the steady-state mechanism.
 */
import { createHash } from 'node:crypto';
import type { PostgresConnection } from './connection.js';

/** The tables whose statements run on the delivery path with generic plans. */
const QUEUE_TABLES = ['deliveries', 'messages', 'attempts'] as const;
/** Deliveries completed between two checks (one catalog query each). */
export const CHECK_EVERY_COMPLETIONS = 1_000;
/** A table is analyzed once it holds this many times the rows its statistics say… */
export const OUTGROWN_FACTOR = 4;
/** …and at least this many (below it, a sequential scan is cheap whatever the plan). */
export const MIN_ROWS = 1_000;

/**
 * The queue tables of the current schema, owned by the current user (or a role it is a
 * member of), that have outgrown their statistics: live rows (the statistics collector's
 * count, which a busy session reports every second and an idle one within ten) over
 * `pg_class`'s `reltuples` (-1 until the first VACUUM or ANALYZE).
 */
const OUTGROWN = `
  SELECT c.relname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_stat_user_tables s ON s.relid = c.oid
  WHERE n.nspname = current_schema() AND c.relname = ANY($1::text[])
    AND pg_has_role(c.relowner, 'USAGE')
    AND s.n_live_tup >= $2 AND s.n_live_tup > $3 * GREATEST(c.reltuples, 0)
  ORDER BY c.relname`;

/** The transaction-level advisory lock that one process analyzing a schema's tables holds. */
export function plannerStatsLock(schema: string): number {
  return createHash('sha256').update(`planner stats:${schema}`).digest().readInt32BE(0);
}

/** Counts the deliveries completed and analyzes the queue tables that outgrow their statistics. */
export class PlannerStats {
  private sinceCheck = 0;
  private checking: Promise<string[]> | null = null;
  private readonly lockKey: number;

  constructor(private readonly conn: PostgresConnection) {
    this.lockKey = plannerStatsLock(conn.schema);
  }

  /** Counts `count` deliveries completed; past {@link CHECK_EVERY_COMPLETIONS} since the last check, starts one (not awaited). */
  completed(count: number): void {
    this.sinceCheck += count;
    if (this.sinceCheck < CHECK_EVERY_COMPLETIONS || this.checking) return;
    this.sinceCheck = 0;
    this.checking = this.refresh()
      .catch(() => [])
      .finally(() => {
        this.checking = null;
      });
  }

  /** The check in progress, if any (resolves with the tables it analyzed). */
  settled(): Promise<string[]> {
    return this.checking ?? Promise.resolve([]);
  }

  /**
   * Analyzes the queue tables that have outgrown their statistics; returns their names ([]
   * when none has, or another process holds the lock and is doing it).
   */
  async refresh(): Promise<string[]> {
    return this.conn.tx(async (c) => {
      const { rows: locked } = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [
        this.lockKey,
      ]);
      if (!locked[0]?.ok) return [];
      const { rows } = await c.query<{ relname: string }>(OUTGROWN, [
        QUEUE_TABLES,
        MIN_ROWS,
        OUTGROWN_FACTOR,
      ]);
      // The names come from QUEUE_TABLES (matched above), never from input.
      for (const { relname } of rows) await c.query(`ANALYZE (SKIP_LOCKED) ${relname}`);
      return rows.map((r) => r.relname);
    });
  }
}
