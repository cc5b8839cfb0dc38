/**
 * Activity per minute on SQLite (see `src/store/activity.ts`): the counters the ingest and
 * completion batches add in their transactions, the queue's snapshot once a minute, and the
 * window the dashboard reads. One process writes a file at a time, so every row is writer 0.
 */
import {
  type ActivityBucket,
  type ActivityCounts,
  type ActivitySnapshot,
  type ActivityTally,
  activityBuckets,
  minuteOf,
} from '../activity.js';
import type { SqliteConnection } from './connection.js';
import { OLDEST_DUE_SQL, QUEUE_COUNTS_SQL } from './deliveries.js';

/**
 * The endpoints with a delivery waiting for a retry, by a loose scan of `deliveries_retrying`:
 * each step seeks the next endpoint id past the one before, so an outage of a million
 * retrying deliveries on three endpoints costs four probes, not a million rows.
 */
const RETRYING_ENDPOINTS_SQL = `
  WITH RECURSIVE failing(id) AS (
    SELECT min(endpoint_id) FROM deliveries INDEXED BY deliveries_retrying
    WHERE status = 'pending' AND attempts > 0
    UNION ALL
    SELECT (SELECT min(endpoint_id) FROM deliveries INDEXED BY deliveries_retrying
            WHERE status = 'pending' AND attempts > 0 AND endpoint_id > failing.id)
    FROM failing WHERE failing.id IS NOT NULL)
  SELECT count(id) AS n FROM failing`;

function prepare({ db }: SqliteConnection) {
  return {
    add: db.prepare<[ActivityCounts]>(
      `INSERT INTO activity_minutes (minute, writer, accepted, succeeded, failed)
       VALUES (@minute, 0, @accepted, @succeeded, @failed)
       ON CONFLICT (minute, writer) DO UPDATE SET accepted = accepted + excluded.accepted,
         succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed`,
    ),
    retryingEndpoints: db.prepare<[], { n: number }>(RETRYING_ENDPOINTS_SQL),
    retryingDeliveries: db.prepare<[], { n: number }>(
      `SELECT count(*) AS n FROM deliveries INDEXED BY deliveries_retrying
       WHERE status = 'pending' AND attempts > 0`,
    ),
    queueCounts: db.prepare<[], { status: 'pending' | 'sending'; n: number }>(QUEUE_COUNTS_SQL),
    oldestDue: db.prepare<[number], { due: number | null }>(OLDEST_DUE_SQL),
    snapshotTaken: db.prepare<[number], { one: number }>(
      'SELECT 1 AS one FROM activity_snapshots WHERE minute = ?',
    ),
    snapshot: db.prepare<[ActivitySnapshot & { takenAt: number }]>(
      `INSERT INTO activity_snapshots (minute, pending, sending, oldest_due_ms, failing_endpoints, retrying, taken_at)
       VALUES (@minute, @pending, @sending, @oldestDueMs, @failingEndpoints, @retrying, @takenAt)
       ON CONFLICT (minute) DO NOTHING`,
    ),
    counts: db.prepare<[number, number], ActivityCounts>(
      `SELECT minute, sum(accepted) AS accepted, sum(succeeded) AS succeeded, sum(failed) AS failed
       FROM activity_minutes WHERE minute >= ? AND minute < ? GROUP BY minute`,
    ),
    snapshots: db.prepare<[number, number], ActivitySnapshot>(
      `SELECT minute, pending, sending, oldest_due_ms AS oldestDueMs, failing_endpoints AS failingEndpoints,
         retrying FROM activity_snapshots WHERE minute >= ? AND minute < ?`,
    ),
    pruneCounts: db.prepare<[number]>('DELETE FROM activity_minutes WHERE minute < ?'),
    pruneSnapshots: db.prepare<[number]>('DELETE FROM activity_snapshots WHERE minute < ?'),
  };
}

/** The activity minutes of a SQLite store. */
export class SqliteActivity {
  private readonly stmt;

  constructor(private readonly conn: SqliteConnection) {
    this.stmt = prepare(conn);
  }

  /** Adds a batch's counts, in the caller's transaction: one upsert per minute it touched. */
  add(tally: ActivityTally): void {
    for (const [minute, m] of tally.minutes) this.stmt.add.run({ minute, ...m });
  }

  /** See `Store.countRetrying`. */
  countRetrying(): { endpoints: number; deliveries: number } {
    return {
      endpoints: this.stmt.retryingEndpoints.get()!.n,
      deliveries: this.stmt.retryingDeliveries.get()!.n,
    };
  }

  /** See `Store.snapshotActivity`. */
  snapshot(now: number): boolean {
    const minute = minuteOf(now);
    if (this.stmt.snapshotTaken.get(minute)) return false;
    return this.conn.immediate(() => {
      const counts = { pending: 0, sending: 0 };
      for (const { status, n } of this.stmt.queueCounts.all()) counts[status] = n;
      const oldest = this.stmt.oldestDue.get(now)?.due ?? null;
      const retrying = this.countRetrying();
      const { changes } = this.stmt.snapshot.run({
        minute,
        ...counts,
        oldestDueMs: oldest === null ? 0 : Math.max(0, now - oldest),
        failingEndpoints: retrying.endpoints,
        retrying: retrying.deliveries,
        takenAt: now,
      });
      return changes > 0;
    });
  }

  /** See `Store.activity`. */
  read(since: number, until: number, bucketMs: number): ActivityBucket[] {
    return activityBuckets(
      since,
      until,
      bucketMs,
      this.stmt.counts.all(since, until),
      this.stmt.snapshots.all(since, until),
    );
  }

  /** See `Store.pruneActivity`. */
  prune(before: number): number {
    return this.conn.immediate(
      () => this.stmt.pruneCounts.run(before).changes + this.stmt.pruneSnapshots.run(before).changes,
    );
  }
}
