/**
 * The idle listener sweep: at start and then every `intervalMs` of the clock, it disables the
 * listener endpoints (`herald listen`) that no client has held for `idleMs`
 * (`--listener-idle-days`), so a forgotten laptop's endpoint stops collecting deliveries. The
 * same name takes it up again, enabled, on the next `herald listen`.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import { Sweeper, type SweepResult } from '../store/sweeper.js';

/** Defaults of {@link ListenerSweeperOptions}. */
export const LISTENER_SWEEPER_DEFAULTS = {
  /** Unused this long, a listener endpoint is disabled (7 days). */
  idleMs: 7 * 86_400_000,
  /** Time between sweeps (1 h). */
  intervalMs: 3_600_000,
  /** Listener endpoints disabled per store call. */
  batchSize: 100,
} as const;

/** Options of {@link ListenerSweeper}; only `store` is required. */
export interface ListenerSweeperOptions {
  store: Pick<Store, 'disableIdleListeners'>;
  clock?: Clock;
  logger?: Logger;
  idleMs?: number;
  intervalMs?: number;
  batchSize?: number;
}

/** What one sweep did (`disabled`: listener endpoints disabled); emitted as `sweep`. */
export type ListenerSweepEvent = SweepResult<'disabled'>;

/** Runs the idle listener sweep. */
export class ListenerSweeper extends Sweeper<'disabled'> {
  constructor(options: ListenerSweeperOptions) {
    const clock = options.clock ?? systemClock;
    const idleMs = options.idleMs ?? LISTENER_SWEEPER_DEFAULTS.idleMs;
    super(
      {
        ...options,
        clock,
        intervalMs: options.intervalMs ?? LISTENER_SWEEPER_DEFAULTS.intervalMs,
        batchSize: options.batchSize ?? LISTENER_SWEEPER_DEFAULTS.batchSize,
      },
      {
        count: 'disabled',
        step: (batchSize) => options.store.disableIdleListeners(clock.now() - idleMs, batchSize),
        done: 'idle listener endpoints disabled',
        failed: 'idle listener sweep failed; next one at the interval',
      },
    );
  }
}
