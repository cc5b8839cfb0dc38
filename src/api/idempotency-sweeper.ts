/**
 * The idempotency answers' sweep: at start and then every `intervalMs` of the clock, it
 * deletes, batch by batch, the answers older than the API's idempotency window
 * (`Store.pruneIdempotent`). Past the window an answer is never read again (the API asks for
 * newer ones only and replaces an older one), yet it held the whole response, a message's
 * payload among them, for ever.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import { Sweeper, type SweepResult } from '../store/sweeper.js';

/** Defaults of {@link IdempotencySweeperOptions}. */
export const IDEMPOTENCY_SWEEPER_DEFAULTS = {
  /** Time between sweeps (10 min). */
  intervalMs: 10 * 60_000,
  /** Answers deleted per store call (500), each a transaction of its own. */
  batchSize: 500,
} as const;

/** Options of {@link IdempotencySweeper}; `store` and `windowMs` are required. */
export interface IdempotencySweeperOptions {
  store: Pick<Store, 'pruneIdempotent'>;
  /** The API's idempotency window (ms): older answers are deleted. */
  windowMs: number;
  clock?: Clock;
  logger?: Logger;
  intervalMs?: number;
  batchSize?: number;
}

/** What one sweep did (`deleted`: answers deleted); emitted as `sweep`. */
export type IdempotencySweepEvent = SweepResult<'deleted'>;

/** Runs the idempotency answers' sweep; emits `sweep` ({@link IdempotencySweepEvent}). */
export class IdempotencySweeper extends Sweeper<'deleted'> {
  constructor(options: IdempotencySweeperOptions) {
    const clock = options.clock ?? systemClock;
    super(
      {
        ...options,
        clock,
        intervalMs: options.intervalMs ?? IDEMPOTENCY_SWEEPER_DEFAULTS.intervalMs,
        batchSize: options.batchSize ?? IDEMPOTENCY_SWEEPER_DEFAULTS.batchSize,
      },
      {
        count: 'deleted',
        step: (batchSize) => options.store.pruneIdempotent(batchSize, clock.now() - options.windowMs),
        done: 'idempotency answers past their window deleted',
        failed: 'idempotency sweep failed; next one at the interval',
      },
    );
  }
}
