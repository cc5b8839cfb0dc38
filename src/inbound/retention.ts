/**
 * The inbound request log's sweep: at start and then every `intervalMs` of the clock, it
 * deletes, batch by batch, what the store's retention no longer keeps (requests older than
 * `maxAgeMs`; those past a source's cap after the cap was lowered). The cap itself is
 * applied as each request is recorded (`Store.recordInbound`).
 */
import { EventEmitter } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type Logger, pino } from 'pino';
import { type Clock, systemClock, type Timer } from '../core/clock.js';
import { ValidationError } from '../core/errors.js';
import type { Store } from '../store/store.js';

/** Defaults of {@link InboundSweeperOptions}. */
export const INBOUND_SWEEPER_DEFAULTS = {
  /** Time between sweeps (10 min): an expired request outlives `maxAgeMs` by at most this. */
  intervalMs: 10 * 60_000,
  /**
   * Requests deleted per statement (500). Each batch is a transaction of its own and other
   * work runs between two, so a sweep after a long outage never holds the database long.
   */
  batchSize: 500,
} as const;

/** Options of {@link InboundSweeper}; only `store` is required. */
export interface InboundSweeperOptions {
  store: Pick<Store, 'pruneInbound'>;
  clock?: Clock;
  logger?: Logger;
  intervalMs?: number;
  batchSize?: number;
}

/** What one sweep did; emitted as `sweep`. */
export interface SweepEvent {
  /** Requests deleted. */
  deleted: number;
  /** Why it stopped early (the store failed); the next sweep tries again. */
  error?: unknown;
}

function positive(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new ValidationError(field, 'must be a whole number from 1');
  return value;
}

/** Runs the inbound retention sweep; emits `sweep` ({@link SweepEvent}) after each one. */
export class InboundSweeper extends EventEmitter implements AsyncDisposable {
  private readonly store: Pick<Store, 'pruneInbound'>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private timer: Timer | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(options: InboundSweeperOptions) {
    super();
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.intervalMs = positive('intervalMs', options.intervalMs ?? INBOUND_SWEEPER_DEFAULTS.intervalMs);
    this.batchSize = positive('batchSize', options.batchSize ?? INBOUND_SWEEPER_DEFAULTS.batchSize);
  }

  /** Sweeps now, then every `intervalMs`. */
  start(): this {
    this.run();
    return this;
  }

  /** Deletes batch after batch until one comes back short (or the store fails). */
  async sweep(): Promise<SweepEvent> {
    let deleted = 0;
    try {
      while (!this.stopped) {
        const n = await this.store.pruneInbound(this.batchSize);
        deleted += n;
        if (n < this.batchSize) break;
        // SQLite's statements run synchronously: let requests in between two batches.
        await nextTurn();
      }
    } catch (error) {
      return { deleted, error };
    }
    return { deleted };
  }

  private run(): void {
    this.timer = null;
    this.running = this.sweep().then((event) => {
      if (event.error !== undefined)
        this.logger.warn(
          { err: event.error, deleted: event.deleted },
          'inbound retention sweep failed; next one at the interval',
        );
      else if (event.deleted > 0)
        this.logger.info({ deleted: event.deleted }, 'inbound requests past retention deleted');
      if (!this.stopped) this.timer = this.clock.setTimer(() => this.run(), this.intervalMs);
      this.emit('sweep', event);
    });
  }

  /** Stops sweeping; resolves once a sweep under way has finished its batch. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
  }
}
