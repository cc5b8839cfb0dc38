/**
 * The payload retention sweep: at start and then every `intervalMs` of the clock, it
 * expunges, batch by batch, the payloads whose retention (`payloadRetentionPeriod` /
 * `payloadRetentionHours`) has ended (`Store.expirePayloads`). The messages stay; a delivery
 * still pending for one fails unsent when it comes due (`payload_expired`).
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import { Sweeper, type SweepResult } from '../store/sweeper.js';

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

/** What one sweep did (`expunged`: payloads expunged); emitted as `sweep`. */
export type PayloadSweepEvent = SweepResult<'expunged'>;

/** Runs the payload retention sweep; emits `sweep` ({@link PayloadSweepEvent}) after each one. */
export class PayloadSweeper extends Sweeper<'expunged'> {
  constructor(options: PayloadSweeperOptions) {
    super(
      {
        ...options,
        intervalMs: options.intervalMs ?? PAYLOAD_SWEEPER_DEFAULTS.intervalMs,
        batchSize: options.batchSize ?? PAYLOAD_SWEEPER_DEFAULTS.batchSize,
      },
      {
        count: 'expunged',
        step: (batchSize) => options.store.expirePayloads(batchSize),
        done: 'message payloads past their retention expunged',
        failed: 'payload retention sweep failed; next one at the interval',
      },
    );
  }
}
