/**
 * Activity over time, for the dashboard's overview (issue 18): what each backend keeps per
 * minute and how a window of it is read. Counters (messages accepted, attempts by outcome)
 * are added by the ingest and completion batches in their own transactions, one row per
 * minute and writer; the queue's state is a snapshot per minute, taken by whichever process
 * gets there first. The backends sum their rows per minute; {@link activityBuckets} then
 * cuts a window into buckets, the same way for both.
 */

/** A minute's length in ms: the unit counters and snapshots are kept in. */
export const MINUTE_MS = 60_000;

/** How long minutes are kept (7 days): the longest window read is a day. */
export const ACTIVITY_KEPT_MS = 7 * 86_400_000;

/** The start of the minute holding `at` (ms). */
export function minuteOf(at: number): number {
  return at - (at % MINUTE_MS);
}

/** A minute's counters, summed over its writers. */
export interface ActivityCounts {
  minute: number;
  accepted: number;
  succeeded: number;
  failed: number;
}

/** The queue as a snapshot saw it. */
export interface QueueSnapshot {
  /** Deliveries waiting (due or not), and leased. */
  pending: number;
  sending: number;
  /** How long the oldest due delivery had waited (ms); 0 when none was late. */
  oldestDueMs: number;
  /** Endpoints with at least one delivery waiting for a retry after a failed attempt. */
  failingEndpoints: number;
  /** Deliveries waiting for a retry after a failed attempt. */
  retrying: number;
}

/** A minute's snapshot of the queue. */
export interface ActivitySnapshot extends QueueSnapshot {
  minute: number;
}

/** One bucket of a window ({@link Store.activity}). */
export interface ActivityBucket {
  /** Its start (ms); it lasts the window's `bucketMs`. */
  start: number;
  accepted: number;
  succeeded: number;
  failed: number;
  /**
   * The highest reading of each queue figure among the bucket's snapshots (the worst moment
   * of an hour reads as it was); `null` when no snapshot was taken in it (no process ran).
   */
  queue: QueueSnapshot | null;
}

/** Counters added by one batch: per minute, what it accepted or attempted. */
export class ActivityTally {
  readonly minutes = new Map<number, { accepted: number; succeeded: number; failed: number }>();

  private of(at: number) {
    const minute = minuteOf(at);
    let m = this.minutes.get(minute);
    if (!m) {
      m = { accepted: 0, succeeded: 0, failed: 0 };
      this.minutes.set(minute, m);
    }
    return m;
  }

  /** Counts a message accepted at `at`. */
  accepted(at: number): void {
    this.of(at).accepted++;
  }

  /** Counts an attempt made at `at`. */
  attempted(at: number, succeeded: boolean): void {
    const m = this.of(at);
    if (succeeded) m.succeeded++;
    else m.failed++;
  }

  /** The minutes as records (for a JSON parameter), oldest first. */
  records(): ActivityCounts[] {
    return [...this.minutes].map(([minute, m]) => ({ minute, ...m })).sort((a, b) => a.minute - b.minute);
  }
}

/**
 * The buckets of [since, until), `bucketMs` each (a multiple of a minute; `since` a multiple
 * of it), from the minutes' counters and snapshots in that window: every bucket is there,
 * those with nothing in them at zero.
 */
export function activityBuckets(
  since: number,
  until: number,
  bucketMs: number,
  counts: readonly ActivityCounts[],
  snapshots: readonly ActivitySnapshot[],
): ActivityBucket[] {
  const buckets: ActivityBucket[] = [];
  for (let start = since; start < until; start += bucketMs)
    buckets.push({ start, accepted: 0, succeeded: 0, failed: 0, queue: null });
  const at = (minute: number) => buckets[Math.floor((minute - since) / bucketMs)];
  for (const c of counts) {
    const b = at(c.minute);
    if (!b) continue;
    b.accepted += c.accepted;
    b.succeeded += c.succeeded;
    b.failed += c.failed;
  }
  for (const { minute, ...s } of snapshots) {
    const b = at(minute);
    if (!b) continue;
    if (!b.queue) b.queue = { ...s };
    else for (const k of Object.keys(s) as (keyof QueueSnapshot)[]) b.queue[k] = Math.max(b.queue[k], s[k]);
  }
  return buckets;
}
