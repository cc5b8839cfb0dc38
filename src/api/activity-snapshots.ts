/**
 * The queue's snapshot once a minute, for the dashboard's overview (`Store.snapshotActivity`):
 * every API process runs this, a second into each minute of the clock; the first to get
 * there takes the minute's snapshot and the others find it taken (a read of one row). Once an
 * hour it also deletes the activity minutes older than `keptMs` (`Store.pruneActivity`) and
 * the failure groups not seen for `failuresKeptMs` (`Store.pruneFailures`).
 */
import { EventEmitter } from 'node:events';
import { type Logger, pino } from 'pino';
import { type Clock, systemClock, type Timer } from '../core/clock.js';
import { ACTIVITY_KEPT_MS, MINUTE_MS } from '../store/activity.js';
import { FAILURES_KEPT_MS } from '../store/failures.js';
import type { Store } from '../store/store.js';

/** Options of {@link ActivitySnapshots}; only `store` is required. */
export interface ActivitySnapshotsOptions {
  store: Pick<Store, 'snapshotActivity' | 'pruneActivity' | 'pruneFailures'>;
  clock?: Clock;
  logger?: Logger;
  /** How long activity minutes are kept; default `ACTIVITY_KEPT_MS` (7 days). */
  keptMs?: number;
  /** How long a failure group not seen is kept; default `FAILURES_KEPT_MS` (14 days). */
  failuresKeptMs?: number;
}

/** Past the minute's start, so that a clock a little behind another's still lands in it. */
const INTO_THE_MINUTE_MS = 1_000;
const PRUNE_EVERY_MS = 60 * MINUTE_MS;

/** What a round did; emitted as `round` once the next one is set. */
export interface ActivityRound {
  /** This process took the minute's snapshot (another had not). */
  took: boolean;
  /** Activity rows pruned, or `null` when the round did not prune. */
  pruned: number | null;
  /** Failure groups (and streaks of deleted endpoints) pruned, or `null` as `pruned`. */
  prunedFailures: number | null;
  /** Why it failed, if it did. */
  error?: unknown;
}

/**
 * Takes the minute's snapshots and prunes old minutes (see the module comment); emits
 * `round` ({@link ActivityRound}) after each round.
 */
export class ActivitySnapshots extends EventEmitter implements AsyncDisposable {
  private readonly store: ActivitySnapshotsOptions['store'];
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly keptMs: number;
  private readonly failuresKeptMs: number;
  private timer: Timer | null = null;
  private running: Promise<void> | null = null;
  private prunedAt = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(options: ActivitySnapshotsOptions) {
    super();
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.keptMs = options.keptMs ?? ACTIVITY_KEPT_MS;
    this.failuresKeptMs = options.failuresKeptMs ?? FAILURES_KEPT_MS;
  }

  /** Takes this minute's snapshot now, then one a minute. */
  start(): this {
    this.run();
    return this;
  }

  /** One round: the snapshot, and the prune when an hour has passed since the last. */
  async tick(): Promise<ActivityRound> {
    const now = this.clock.now();
    const took = await this.store.snapshotActivity(now);
    if (now - this.prunedAt < PRUNE_EVERY_MS) return { took, pruned: null, prunedFailures: null };
    const pruned = await this.store.pruneActivity(now - this.keptMs);
    const prunedFailures = await this.store.pruneFailures(now - this.failuresKeptMs);
    this.prunedAt = now;
    return { took, pruned, prunedFailures };
  }

  private run(): void {
    this.timer = null;
    this.running = this.tick()
      .catch((error: unknown): ActivityRound => {
        this.logger.warn({ err: error }, 'activity snapshot failed; next one in a minute');
        return { took: false, pruned: null, prunedFailures: null, error };
      })
      .then((round) => {
        if (!this.stopped) {
          const now = this.clock.now();
          this.timer = this.clock.setTimer(
            () => this.run(),
            MINUTE_MS - (now % MINUTE_MS) + INTO_THE_MINUTE_MS,
          );
        }
        this.emit('round', round);
      });
  }

  /** Stops; resolves once a round under way has finished. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
  }
}
