/**
 * The dispatcher's options, their defaults (one object, each documented), and the check
 * that turns user options into a complete config.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { type Clock, systemClock } from '../core/clock.js';
import { ValidationError } from '../core/errors.js';
import { DEFAULT_RETRY_SCHEDULE_MS } from '../core/retry.js';
import { checkRetrySchedule, checkTimeout } from '../core/rules.js';
import type { DeliveryStore } from '../store/store.js';
import { type Liveness, STALL_MS_DEFAULT } from './liveness.js';
import type { Resolver } from './ssrf.js';

/** Shortest lease: room for a 1 s request plus the 5 s safety margin, and some queueing. */
export const LEASE_MIN_MS = 10_000;

/** Which header family carries id, timestamp and signature. */
export type HeaderStyle = 'standard' | 'svix';

/** Defaults of {@link DispatcherOptions}. */
export const DISPATCHER_DEFAULTS = {
  /** Deliveries held (queued locally or sending) by this worker at most. */
  concurrency: 512,
  /**
   * Requests in flight per endpoint at most; an endpoint holds at most twice this many
   * deliveries, so a slow endpoint cannot take every slot.
   */
  endpointConcurrency: 64,
  /** Deliveries claimed per statement at most. */
  batchSize: 128,
  /** Request timeout in ms unless the endpoint sets its own (1,000 to 30,000). */
  timeoutMs: 15_000,
  /**
   * Lease length in ms: how long a claimed delivery stays with this worker, so also how long
   * a crashed worker's deliveries wait before another worker takes them. A request's timeout
   * is cut to fit in what is left of its lease (minus 5 s); at least 10 s.
   */
  leaseMs: 120_000,
  /** Retry delays after the first try. */
  retrySchedule: DEFAULT_RETRY_SCHEDULE_MS,
  /** Exhausted deliveries for this long with no success disable an endpoint (5 days). */
  autoDisableAfterMs: 5 * 24 * 3_600_000,
  /** `standard` sends `webhook-*` headers, `svix` sends `svix-*` headers. */
  headerStyle: 'standard' as HeaderStyle,
  /** Private or loopback ranges that endpoints may reach (`--allow-network`). */
  allowNetworks: [] as readonly string[],
  /** Response bytes kept per attempt. */
  maxResponseBytes: 20_000,
  /** How long shutdown waits for in-flight attempts before aborting and releasing them. */
  shutdownDeadlineMs: 10_000,
  /**
   * Longest idle sleep in ms. Wake-ups come from the store and from the next due time; this
   * only bounds how late a worker notices work it was not told about (another process
   * writing the same SQLite file).
   */
  idleRecheckMs: 30_000,
  /**
   * Longest wait in ms before a worker answers a wake-up from the store, once the wake-ups it
   * answered kept finding nothing (other workers took the work first); 0 answers every
   * wake-up at once. See `wake-backoff.ts` for when the wait starts, grows and ends.
   */
  wakeBackoffMs: 50,
  /** `User-Agent` of every request. */
  userAgent: 'Herald/0.1.0',
  /**
   * How long the loop may stay in one turn, or sleep past due work, before `/api/v1/health`
   * calls the dispatcher stalled (also how long its thread may not answer): 30 s.
   */
  stallMs: STALL_MS_DEFAULT,
  /**
   * With tracing on, send each attempt's W3C `traceparent` (and `tracestate`) to the endpoint,
   * so that its own spans join the trace (`--no-trace-propagation` turns it off).
   */
  tracePropagation: true,
} as const;

/** Options of the dispatcher; only `store` is required. */
export interface DispatcherOptions {
  store: DeliveryStore;
  clock?: Clock;
  logger?: Logger;
  /** Lease owner id; default a random UUID per dispatcher. */
  workerId?: string;
  /** Resolver for host names; a stub in tests. */
  resolver?: Resolver;
  /** A number in [0, 1) for jitter; injectable for tests. */
  random?: () => number;
  concurrency?: number;
  endpointConcurrency?: number;
  batchSize?: number;
  timeoutMs?: number;
  leaseMs?: number;
  retrySchedule?: readonly number[];
  autoDisableAfterMs?: number;
  headerStyle?: HeaderStyle;
  allowNetworks?: readonly string[];
  maxResponseBytes?: number;
  shutdownDeadlineMs?: number;
  idleRecheckMs?: number;
  wakeBackoffMs?: number;
  userAgent?: string;
  stallMs?: number;
  /** Where the loop records its turns (`liveness.ts`); default a record of its own. */
  liveness?: Liveness;
  tracePropagation?: boolean;
}

/** The resolved config: every field present and checked. */
export type DispatcherConfig = Required<Omit<DispatcherOptions, 'resolver' | 'liveness'>> & {
  resolver: Resolver | undefined;
};

function positiveInt(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new ValidationError(field, 'must be a whole number >= 1');
  return value;
}

/** The longest `wakeBackoffMs` accepted. */
export const WAKE_BACKOFF_MAX_MS = 10_000;

function wakeBackoff(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > WAKE_BACKOFF_MAX_MS) {
    throw new ValidationError(
      'wakeBackoffMs',
      `must be a whole number of ms from 0 to ${WAKE_BACKOFF_MAX_MS}`,
    );
  }
  return value;
}

/** Checks options once, at the boundary, and fills in defaults. */
export function resolveDispatcherConfig(options: DispatcherOptions): DispatcherConfig {
  const d = DISPATCHER_DEFAULTS;
  const timeoutMs = checkTimeout('timeoutMs', options.timeoutMs ?? d.timeoutMs)!;
  const leaseMs = positiveInt('leaseMs', options.leaseMs ?? d.leaseMs);
  if (leaseMs < LEASE_MIN_MS) throw new ValidationError('leaseMs', `must be at least ${LEASE_MIN_MS} ms`);
  const headerStyle = options.headerStyle ?? d.headerStyle;
  if (headerStyle !== 'standard' && headerStyle !== 'svix') {
    throw new ValidationError('headerStyle', 'must be standard or svix');
  }
  return {
    store: options.store,
    clock: options.clock ?? systemClock,
    logger: options.logger ?? pino({ level: 'silent' }),
    workerId: options.workerId ?? `worker-${randomUUID()}`,
    resolver: options.resolver,
    random: options.random ?? Math.random,
    concurrency: positiveInt('concurrency', options.concurrency ?? d.concurrency),
    endpointConcurrency: positiveInt(
      'endpointConcurrency',
      options.endpointConcurrency ?? d.endpointConcurrency,
    ),
    batchSize: positiveInt('batchSize', options.batchSize ?? d.batchSize),
    timeoutMs,
    leaseMs,
    retrySchedule: checkRetrySchedule('retrySchedule', options.retrySchedule ?? d.retrySchedule)!,
    autoDisableAfterMs: positiveInt('autoDisableAfterMs', options.autoDisableAfterMs ?? d.autoDisableAfterMs),
    headerStyle,
    allowNetworks: [...(options.allowNetworks ?? d.allowNetworks)],
    maxResponseBytes: positiveInt('maxResponseBytes', options.maxResponseBytes ?? d.maxResponseBytes),
    shutdownDeadlineMs: positiveInt('shutdownDeadlineMs', options.shutdownDeadlineMs ?? d.shutdownDeadlineMs),
    idleRecheckMs: positiveInt('idleRecheckMs', options.idleRecheckMs ?? d.idleRecheckMs),
    wakeBackoffMs: wakeBackoff(options.wakeBackoffMs ?? d.wakeBackoffMs),
    userAgent: options.userAgent ?? d.userAgent,
    stallMs: positiveInt('stallMs', options.stallMs ?? d.stallMs),
    tracePropagation: options.tracePropagation ?? d.tracePropagation,
  };
}
