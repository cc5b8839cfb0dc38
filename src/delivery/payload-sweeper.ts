/**
 * The payload retention sweep: at start and then every `intervalMs` of the clock, it
 * expunges, batch by batch, the payloads whose retention (`payloadRetentionPeriod` /
 * `payloadRetentionHours`) has ended (`Store.expirePayloads`). The messages stay; a delivery
 * still pending for one fails unsent when it comes due (`payload_expired`).
 */
import { EventEmitter } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type Logger, pino } from 'pino';
import { type Clock, systemClock, type Timer } from '../core/clock.js';
import { ValidationError } from '../core/errors.js';
import type { Store } from '../store/store.js';

/** Defaults of {@link PayloadSweeperOptions}. */
export const PAYLOAD_SWEEPER_DEFAULTS = {
  /** Time between sweeps (5 min): a payload outlives its retention by at most this. */
  intervalMs: 5 * 60_000,
  /** Payloads expunged per store call (200), each call a transaction of its own. */
  batchSize: 200,
} as const;

/** Options of {@link PayloadSweeper}; only `store` is required. */
export interface PayloadSweeperOptions {
  store: Pick<Store, 'expirePayloads'>;
  clock?: Clock;
  logger?: Logger;
  intervalMs?: number;
  batchSize?: number;
}

/** What one sweep did; emitted as `sweep`. */
export interface PayloadSweepEvent {
  /** Payloads expunged. */
  expunged: number;
  /** Why it stopped early (the store failed); the next sweep tries again. */
  error?: unknown;
}

function positive(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new ValidationError(field, 'must be a whole number from 1');
  return value;
}

/** Runs the payload retention sweep; emits `sweep` ({@link PayloadSweepEvent}) after each one. */
export class PayloadSweeper extends EventEmitter implements AsyncDisposable {
  private readonly store: Pick<Store, 'expirePayloads'>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private timer: Timer | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(options: PayloadSweeperOptions) {
    super();
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.intervalMs = positive('intervalMs', options.intervalMs ?? PAYLOAD_SWEEPER_DEFAULTS.intervalMs);
    this.batchSize = positive('batchSize', options.batchSize ?? PAYLOAD_SWEEPER_DEFAULTS.batchSize);
  }

  /** Sweeps now, then every `intervalMs`. */
  start(): this {
    this.run();
    return this;
  }

  /** Expunges batch after batch until one comes back short (or the store fails). */
  async sweep(): Promise<PayloadSweepEvent> {
    let expunged = 0;
    try {
      while (!this.stopped) {
        const n = await this.store.expirePayloads(this.batchSize);
        expunged += n;
        if (n < this.batchSize) break;
        // SQLite's statements run synchronously: let requests in between two batches.
        await nextTurn();
      }
    } catch (error) {
      return { expunged, error };
    }
    return { expunged };
  }

  private run(): void {
    this.timer = null;
    this.running = this.sweep().then((event) => {
      if (event.error !== undefined)
        this.logger.warn(
          { err: event.error, expunged: event.expunged },
          'payload retention sweep failed; next one at the interval',
        );
      else if (event.expunged > 0)
        this.logger.info({ expunged: event.expunged }, 'message payloads past their retention expunged');
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
