/**
 * The inbound request log's sweep: at start and then every `intervalMs` of the clock, it
 * deletes, batch by batch, what the store's retention no longer keeps (requests older than
 * `maxAgeMs`; those past a source's cap after the cap was lowered). The cap itself is
 * applied as each request is recorded (`Store.recordInbound`). A second sweep expunges the
 * bodies of requests past `bodyMaxAgeMs` before their rows go.
 */

import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import { reclaimAll, Sweeper, type SweepResult } from '../store/sweeper.js';

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
  store: Pick<Store, 'pruneInbound' | 'reclaimSpace'>;
  clock?: Clock;
  logger?: Logger;
  intervalMs?: number;
  batchSize?: number;
}

/** What one sweep did (`deleted`: requests deleted); emitted as `sweep`. */
export type SweepEvent = SweepResult<'deleted'>;

/** Runs the inbound retention sweep; emits `sweep` ({@link SweepEvent}) after each one. */
export class InboundSweeper extends Sweeper<'deleted'> {
  constructor(options: InboundSweeperOptions) {
    super(
      {
        ...options,
        intervalMs: options.intervalMs ?? INBOUND_SWEEPER_DEFAULTS.intervalMs,
        batchSize: options.batchSize ?? INBOUND_SWEEPER_DEFAULTS.batchSize,
      },
      {
        count: 'deleted',
        step: (batchSize) => options.store.pruneInbound(batchSize),
        after: async () => void (await reclaimAll(options.store)),
        done: 'inbound requests past retention deleted',
        failed: 'inbound retention sweep failed; next one at the interval',
      },
    );
  }
}

/** Options of {@link InboundBodySweeper}; only `store` is required. */
export interface InboundBodySweeperOptions {
  store: Pick<Store, 'expireInboundBodies' | 'reclaimSpace'>;
  clock?: Clock;
  logger?: Logger;
  intervalMs?: number;
  batchSize?: number;
}

/** What one body sweep did (`expunged`: bodies expunged); emitted as `sweep`. */
export type BodySweepEvent = SweepResult<'expunged'>;

/**
 * Expunges the bodies of requests past the store's `bodyMaxAgeMs` (`Store.expireInboundBodies`),
 * batch by batch, with the timing of {@link InboundSweeper}: their rows stay until it deletes them.
 */
export class InboundBodySweeper extends Sweeper<'expunged'> {
  constructor(options: InboundBodySweeperOptions) {
    super(
      {
        ...options,
        intervalMs: options.intervalMs ?? INBOUND_SWEEPER_DEFAULTS.intervalMs,
        batchSize: options.batchSize ?? INBOUND_SWEEPER_DEFAULTS.batchSize,
      },
      {
        count: 'expunged',
        step: (batchSize) => options.store.expireInboundBodies(batchSize),
        after: async () => void (await reclaimAll(options.store)),
        done: 'inbound request bodies past retention expunged',
        failed: 'inbound body retention sweep failed; next one at the interval',
      },
    );
  }
}
