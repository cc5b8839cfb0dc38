/**
 * Activity per minute on PostgreSQL (see `src/store/activity.ts`). The counters are added by
 * the statements that insert messages and attempts themselves (a data-modifying CTE: no round
 * trip more per batch); each batch upserts the row of one of {@link WRITERS} writers of its
 * kind, one that no other open transaction holds ({@link takeWriter}), so that the batches of
 * many processes committing in the same minute do not queue behind one row lock. A window
 * sums a minute's rows.
 */
import { createHash } from 'node:crypto';
import {
  type ActivityBucket,
  type ActivityCounts,
  type ActivitySnapshot,
  activityBuckets,
  minuteOf,
} from '../activity.js';
import { type PostgresConnection, prepared, type Queryable } from './connection.js';

/** Rows per minute and kind of writer (ingest, attempts): 16 of each. */
const WRITERS = 16;

/**
 * A writer row (of the minute's activity, and of the failure groups) is taken for a
 * transaction with a transaction-level advisory lock on (this class, the writer), tried on
 * the writers of its kind in random order: a batch takes one no other open transaction
 * holds. A process cut off from the database in the middle of a batch (its session idle in
 * the transaction until PostgreSQL ends it) then holds its one writer's rows, and every other
 * batch takes another, instead of waiting on that row lock: without this, one partitioned
 * worker stalled the completions of every worker for as long as its session lived.
 * (`OFFSET 0` keeps the planner from pushing the lock into the scan of the series, where it
 * would take every writer at once.)
 */
const TAKE_WRITER = prepared(`
  SELECT w FROM (SELECT w FROM generate_series($2::int, $3::int) AS w ORDER BY random() OFFSET 0) s
  WHERE pg_try_advisory_xact_lock($1::int, s.w) LIMIT 1`);

/** The advisory lock class of a schema's writer rows. */
export function writerClass(schema: string): number {
  let key = writerClasses.get(schema);
  if (key === undefined) {
    key = createHash('sha256').update(`activity writers:${schema}`).digest().readInt32BE(0);
    writerClasses.set(schema, key);
  }
  return key;
}
const writerClasses = new Map<string, number>();

/**
 * Takes a writer row for the transaction of `c`: ingest batches 0 to 15, batches of
 * completions 16 to 31. When every one of them is held (more open batches than writers), it
 * waits for one picked at random, as any upsert of a shared row would.
 */
export async function takeWriter(c: Queryable, schema: string, kind: 'ingest' | 'attempts'): Promise<number> {
  const first = firstWriter(kind);
  const key = writerClass(schema);
  const { rows } = await c.query<{ w: number }>(TAKE_WRITER, [key, first, first + WRITERS - 1]);
  if (rows[0]) return rows[0].w;
  const w = first + Math.floor(Math.random() * WRITERS);
  await c.query('SELECT pg_advisory_xact_lock($1::int, $2::int)', [key, w]);
  return w;
}

/**
 * {@link takeWriter} inside a statement, for a batch written as one statement with no
 * transaction of its own to take it in first: a query of one row, `w`, the writer taken (the
 * second branch, waiting for one at random, runs only when every one is held). `key` and
 * `first` are the statement's parameters holding the lock class ({@link writerClass}) and the
 * first writer of the kind ({@link firstWriter}).
 */
export function writerQuery(key: string, first: string): string {
  return `SELECT COALESCE(
    (SELECT s.w FROM (SELECT w FROM generate_series(${first}::int, ${first}::int + ${WRITERS - 1}) AS w
      ORDER BY random() OFFSET 0) s WHERE pg_try_advisory_xact_lock(${key}::int, s.w) LIMIT 1),
    (SELECT r.w FROM (SELECT ${first}::int + floor(random() * ${WRITERS})::int AS w OFFSET 0) r
      CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock(${key}::int, r.w)) l)) AS w`;
}

/** The first writer of a kind, a parameter of {@link writerQuery}. */
export const firstWriter = (kind: 'ingest' | 'attempts'): number => (kind === 'ingest' ? 0 : WRITERS);

/**
 * The end of an `INSERT INTO activity_minutes (minute, writer, accepted, succeeded, failed)
 * SELECT …` grouped by minute (one row per minute: an upsert may touch a row once).
 */
export const ADD_ACTIVITY = `
  ON CONFLICT (minute, writer) DO UPDATE SET accepted = activity_minutes.accepted + excluded.accepted,
    succeeded = activity_minutes.succeeded + excluded.succeeded, failed = activity_minutes.failed + excluded.failed`;

/**
 * Endpoints with a delivery waiting for a retry, by a loose scan of `deliveries_retrying`
 * (PostgreSQL has no skip scan): each step seeks the next endpoint id past the one before.
 */
const RETRYING = `
  WITH RECURSIVE failing(id) AS (
    SELECT min(endpoint_id) FROM deliveries WHERE status = 'pending' AND attempts > 0
    UNION ALL
    SELECT (SELECT min(endpoint_id) FROM deliveries
            WHERE status = 'pending' AND attempts > 0 AND endpoint_id > failing.id)
    FROM failing WHERE failing.id IS NOT NULL)
  SELECT (SELECT count(id) FROM failing)::int AS endpoints,
    (SELECT count(*) FROM deliveries WHERE status = 'pending' AND attempts > 0)::int AS deliveries`;

/**
 * The minute's snapshot, unless a process took it already. $1: the minute; $2: now.
 * One statement: two processes racing compute it both, and the first to commit keeps its row.
 */
const SNAPSHOT = `
  WITH queue AS (
    SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'sending') AS sending,
           MIN(due_at) FILTER (WHERE status = 'pending' AND due_at <= $2) AS oldest
    FROM deliveries WHERE status IN ('pending', 'sending') AND NOT listener),
  retrying AS (${RETRYING})
  INSERT INTO activity_snapshots (minute, pending, sending, oldest_due_ms, failing_endpoints, retrying, taken_at)
  SELECT $1, q.pending, q.sending, COALESCE(GREATEST($2 - q.oldest, 0), 0), r.endpoints, r.deliveries, $2
  FROM queue q, retrying r
  WHERE NOT EXISTS (SELECT 1 FROM activity_snapshots WHERE minute = $1)
  ON CONFLICT (minute) DO NOTHING`;

/** The activity minutes of a PostgreSQL store. */
export class PostgresActivity {
  constructor(private readonly conn: PostgresConnection) {}

  /** See `Store.countRetrying`. */
  async countRetrying(): Promise<{ endpoints: number; deliveries: number }> {
    const { rows } = await this.conn.q<{ endpoints: number; deliveries: number }>(RETRYING);
    return rows[0]!;
  }

  /** See `Store.snapshotActivity`. */
  async snapshot(now: number): Promise<boolean> {
    const minute = minuteOf(now);
    const taken = await this.conn.q('SELECT 1 FROM activity_snapshots WHERE minute = $1', [minute]);
    if (taken.rowCount) return false;
    const { rowCount } = await this.conn.q(SNAPSHOT, [minute, now]);
    return (rowCount ?? 0) > 0;
  }

  /** See `Store.activity`. */
  async read(since: number, until: number, bucketMs: number): Promise<ActivityBucket[]> {
    const counts = await this.conn.q<ActivityCounts>(
      `SELECT minute, sum(accepted)::int AS accepted, sum(succeeded)::int AS succeeded, sum(failed)::int AS failed
       FROM activity_minutes WHERE minute >= $1 AND minute < $2 GROUP BY minute`,
      [since, until],
    );
    const snapshots = await this.conn.q<ActivitySnapshot>(
      `SELECT minute, pending, sending, oldest_due_ms AS "oldestDueMs", failing_endpoints AS "failingEndpoints",
         retrying FROM activity_snapshots WHERE minute >= $1 AND minute < $2`,
      [since, until],
    );
    return activityBuckets(since, until, bucketMs, counts.rows, snapshots.rows);
  }

  /** See `Store.pruneActivity`. */
  async prune(before: number): Promise<number> {
    const { rows } = await this.conn.q<{ n: number }>(
      `WITH m AS (DELETE FROM activity_minutes WHERE minute < $1 RETURNING 1),
            s AS (DELETE FROM activity_snapshots WHERE minute < $1 RETURNING 1)
       SELECT ((SELECT count(*) FROM m) + (SELECT count(*) FROM s))::int AS n`,
      [before],
    );
    return rows[0]!.n;
  }
}
