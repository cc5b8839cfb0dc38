/**
 * The rows retention sweep (`--retention-rows-days`): at start and then every `intervalMs` of
 * the clock, it deletes, batch by batch, the messages created more than `retentionMs` ago
 * whose deliveries are all done, with their deliveries and attempts (`Store.pruneMessages`).
 * The payload retention (`payload-sweeper.ts`) empties them first; this removes them
 * altogether, as Svix does past its second limit. On SQLite the freed pages go back to the
 * file system after a sweep (`Store.reclaimSpace`).
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import { reclaimAll, Sweeper, type SweepResult } from '../store/sweeper.js';

/** Defaults of {@link RowSweeperOptions}. */
export const ROW_SWEEPER_DEFAULTS = {
  /** Time between sweeps (1 h): a message outlives its rows retention by at most this. */
  intervalMs: 60 * 60_000,
  /**
   * Messages deleted per store call (200), each call a transaction of its own with their
   * deliveries and attempts (a few thousand rows at a fan-out of ten with retries).
   */
  batchSize: 200,
} as const;

/** Options of {@link RowSweeper}; `store` and `retentionMs` are required. */
export interface RowSweeperOptions {
  store: Pick<Store, 'pruneMessages' | 'reclaimSpace'>;
  /** Messages older than this (ms) go, once their deliveries are done. */
  retentionMs: number;
  clock?: Clock;
  logger?: Logger;
  intervalMs?: number;
  batchSize?: number;
}

/** What one sweep did (`deleted`: messages deleted); emitted as `sweep`. */
export type RowSweepEvent = SweepResult<'deleted'>;

/** Runs the rows retention sweep; emits `sweep` ({@link RowSweepEvent}) after each one. */
export class RowSweeper extends Sweeper<'deleted'> {
  constructor(options: RowSweeperOptions) {
    super(
      {
        ...options,
        intervalMs: options.intervalMs ?? ROW_SWEEPER_DEFAULTS.intervalMs,
        batchSize: options.batchSize ?? ROW_SWEEPER_DEFAULTS.batchSize,
      },
      {
        count: 'deleted',
        step: (batchSize) => options.store.pruneMessages(batchSize, options.retentionMs),
        after: async () => void (await reclaimAll(options.store)),
        done: 'messages past the rows retention deleted, with their deliveries and attempts',
        failed: 'rows retention sweep failed; next one at the interval',
      },
    );
  }
}
