/**
 * The payload retention sweep: at start and then every `intervalMs` of the clock, it
 * expunges, batch by batch, the payloads whose retention (`payloadRetentionPeriod` /
 * `payloadRetentionHours`, or else the server's `--retention-days`) has ended
 * (`Store.expirePayloads`), with their attempts' response bodies. The messages stay; a
 * delivery still pending for one fails unsent when it comes due (`payload_expired`). On
 * SQLite the freed pages go back to the file system after a sweep (`Store.reclaimSpace`).
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import { reclaimAll, Sweeper, type SweepResult } from '../store/sweeper.js';

const DAY_MS = 86_400_000;

/** Defaults of {@link PayloadSweeperOptions}. */
export const PAYLOAD_SWEEPER_DEFAULTS = {
  /** Time between sweeps (5 min): a payload outlives its retention by at most this. */
  intervalMs: 5 * 60_000,
  /** Payloads expunged per store call (200), each call a transaction of its own. */
  batchSize: 200,
  /**
   * How long a message without a retention of its own keeps its payload (`--retention-days`):
   * 90 days, as Svix. `null` keeps it as long as the message.
   */
  retentionMs: (90 * DAY_MS) as number | null,
};

/** Options of {@link PayloadSweeper}; only `store` is required. */
export interface PayloadSweeperOptions {
  store: Pick<Store, 'expirePayloads' | 'reclaimSpace'>;
  clock?: Clock;
  logger?: Logger;
  intervalMs?: number;
  batchSize?: number;
  retentionMs?: number | null;
}

/** What one sweep did (`expunged`: payloads expunged); emitted as `sweep`. */
export type PayloadSweepEvent = SweepResult<'expunged'>;

/** Runs the payload retention sweep; emits `sweep` ({@link PayloadSweepEvent}) after each one. */
export class PayloadSweeper extends Sweeper<'expunged'> {
  constructor(options: PayloadSweeperOptions) {
    const retentionMs =
      options.retentionMs === undefined ? PAYLOAD_SWEEPER_DEFAULTS.retentionMs : options.retentionMs;
    super(
      {
        ...options,
        intervalMs: options.intervalMs ?? PAYLOAD_SWEEPER_DEFAULTS.intervalMs,
        batchSize: options.batchSize ?? PAYLOAD_SWEEPER_DEFAULTS.batchSize,
      },
      {
        count: 'expunged',
        step: (batchSize) => options.store.expirePayloads(batchSize, retentionMs),
        after: async () => void (await reclaimAll(options.store)),
        done: 'message payloads past their retention expunged',
        failed: 'payload retention sweep failed; next one at the interval',
      },
    );
  }
}
