/**
 * A background sweep of the store: at start and then every `intervalMs` of the clock, it
 * runs `step` batch after batch (each a store call, a transaction of its own) until one comes
 * back short, letting other work in between two batches. The inbound request log's retention
 * and the message payloads' retention are such sweeps.
 *
 * A sweep is paced: after each batch it rests for as long as makes its batches at most
 * `maxShare` of its time ({@link SWEEP_MAX_SHARE}, a tenth: 9 ms of rest after a 1 ms batch).
 * A backlog of expired rows (the first sweep after an upgrade, a retention made shorter) is
 * then worked off over minutes rather than in one burst that holds SQLite's single writer, or
 * PostgreSQL's I/O, away from the deliveries for as long as it lasts.
 */
import { EventEmitter } from 'node:events';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { type Logger, pino } from 'pino';
import { type Clock, systemClock, type Timer } from '../core/clock.js';
import { ValidationError } from '../core/errors.js';
import type { Store } from './store.js';

/** What one sweep did, under the sweep's own name for its count; emitted as `sweep`. */
export type SweepResult<K extends string> = { [key in K]: number } & {
  /** Why it stopped early (the store failed); the next sweep tries again. */
  error?: unknown;
};

/** The timing every sweep takes. */
export interface SweepTiming {
  clock?: Clock;
  logger?: Logger;
  intervalMs: number;
  batchSize: number;
  /** The largest share of a sweep's time its batches may take, above 0 and at most 1 (default {@link SWEEP_MAX_SHARE}). */
  maxShare?: number;
}

/** The share of its time a sweep spends in its batches at most (a tenth); the rest it waits. */
export const SWEEP_MAX_SHARE = 0.1;

/** What a sweep does and how it says so. */
export interface SweepWork<K extends string> {
  /** The name of its count in {@link SweepResult} and in its log lines. */
  count: K;
  /** One batch of at most `batchSize` records; resolves with how many it did. */
  step(batchSize: number): Promise<number>;
  /** The info line of a sweep that did something. */
  done: string;
  /** The warn line of a sweep the store stopped. */
  failed: string;
  /** Runs after a sweep that did something (SQLite gives the freed pages back). */
  after?: () => Promise<void>;
}

/** Pages given back per `Store.reclaimSpace` call (4 MiB of 4 KiB pages): a few ms of writes. */
export const RECLAIM_PAGES = 1_000;

/**
 * Gives the store's free pages back to the file system, {@link RECLAIM_PAGES} at a time with
 * a turn of the event loop between two calls; nothing on a store without `reclaimSpace`.
 */
export async function reclaimAll(store: Pick<Store, 'reclaimSpace'>): Promise<number> {
  if (!store.reclaimSpace) return 0;
  let total = 0;
  for (;;) {
    const n = await store.reclaimSpace(RECLAIM_PAGES);
    total += n;
    if (n < RECLAIM_PAGES) return total;
    await nextTurn();
  }
}

function share(value: number): number {
  if (!(value > 0 && value <= 1)) throw new ValidationError('maxShare', 'must be above 0 and at most 1');
  return value;
}

function positive(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new ValidationError(field, 'must be a whole number from 1');
  return value;
}

/** Runs a sweep; emits `sweep` ({@link SweepResult}) after each one. */
export class Sweeper<K extends string> extends EventEmitter implements AsyncDisposable {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  /** Rest after a batch, per ms the batch took. */
  private readonly restPerMs: number;
  private timer: Timer | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    timing: SweepTiming,
    private readonly work: SweepWork<K>,
  ) {
    super();
    this.clock = timing.clock ?? systemClock;
    this.logger = timing.logger ?? pino({ level: 'silent' });
    this.intervalMs = positive('intervalMs', timing.intervalMs);
    this.batchSize = positive('batchSize', timing.batchSize);
    this.restPerMs = 1 / share(timing.maxShare ?? SWEEP_MAX_SHARE) - 1;
  }

  /** Sweeps now, then every `intervalMs`. */
  start(): this {
    this.run();
    return this;
  }

  /** Runs batch after batch until one comes back short (or the store fails). */
  async sweep(): Promise<SweepResult<K>> {
    let done = 0;
    const result = (error?: unknown) =>
      ({ [this.work.count]: done, ...(error === undefined ? {} : { error }) }) as SweepResult<K>;
    try {
      while (!this.stopped) {
        const started = performance.now();
        const n = await this.work.step(this.batchSize);
        done += n;
        if (n < this.batchSize) break;
        // SQLite's statements run synchronously: let requests in between two batches, and
        // rest as the pace says (a real wait: the batch's cost is real time, whatever the clock).
        // A timer counts from the event loop's time, which the batch itself may have left
        // behind, and in whole milliseconds: it can end a little early, so the rest is topped
        // up until less than a millisecond of it is left.
        const rest = (performance.now() - started) * this.restPerMs;
        if (rest < 1) await nextTurn();
        const restEnds = performance.now() + rest;
        for (let left = rest; left >= 1; left = restEnds - performance.now()) await sleep(left);
      }
      if (done > 0 && this.work.after && !this.stopped) await this.work.after();
    } catch (error) {
      return result(error);
    }
    return result();
  }

  private run(): void {
    this.timer = null;
    this.running = this.sweep().then((event) => {
      const count = { [this.work.count]: event[this.work.count] };
      if (event.error !== undefined) this.logger.warn({ err: event.error, ...count }, this.work.failed);
      else if (event[this.work.count] > 0) this.logger.info(count, this.work.done);
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
