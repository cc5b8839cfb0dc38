/**
 * Response handling and the retry schedule, as data (DESIGN.md, "Response handling").
 */
import type { AttemptErrorKind } from './types.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Delays before each retry, after the first try: 8 attempts in all. */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [
  5 * SECOND,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  10 * HOUR,
];

/** The sender's rules for what a response means. */
export const RESPONSE_RULES = {
  /** Statuses that disable the endpoint and stop retrying it. */
  disableStatuses: [410] as readonly number[],
  /** Statuses that mean "slow down": the next delay is at least {@link RESPONSE_RULES.throttleMinDelayMs}. */
  throttleStatuses: [429, 502, 503, 504] as readonly number[],
  throttleMinDelayMs: 60 * SECOND,
  /** Fraction of random spread applied to each scheduled delay (±). */
  jitter: 0.2,
  /** Error kinds that are never retried: sending again cannot succeed. */
  finalErrorKinds: [
    'blocked_address',
    'invalid_url',
    'endpoint_disabled',
    'payload_expired',
  ] as readonly AttemptErrorKind[],
} as const;

/** What one attempt's result means for its delivery and endpoint. */
export interface Verdict {
  succeeded: boolean;
  /** Retry this delivery (if the schedule allows). */
  retry: boolean;
  /** Disable the endpoint (410 Gone). */
  disableEndpoint: boolean;
  /** The next delay must be at least the throttle minimum. */
  throttle: boolean;
}

/** Classifies an attempt: a status code, or an error kind when no response arrived. */
export function judge(statusCode: number | null, errorKind: AttemptErrorKind | null): Verdict {
  if (statusCode !== null && statusCode >= 200 && statusCode < 300) {
    return { succeeded: true, retry: false, disableEndpoint: false, throttle: false };
  }
  if (statusCode !== null && RESPONSE_RULES.disableStatuses.includes(statusCode)) {
    return { succeeded: false, retry: false, disableEndpoint: true, throttle: false };
  }
  if (
    errorKind !== null &&
    errorKind !== 'http_status' &&
    RESPONSE_RULES.finalErrorKinds.includes(errorKind)
  ) {
    return { succeeded: false, retry: false, disableEndpoint: false, throttle: false };
  }
  const throttle = statusCode !== null && RESPONSE_RULES.throttleStatuses.includes(statusCode);
  return { succeeded: false, retry: true, disableEndpoint: false, throttle };
}

// The HTTP-date form senders must use (RFC 9110): `Sun, 06 Nov 1994 08:49:37 GMT`.
const IMF_FIXDATE = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * Parses a `Retry-After` value (delta seconds or an HTTP date) into milliseconds from `now`;
 * `null` when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * SECOND;
  if (!IMF_FIXDATE.test(text)) return null;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}

/** Inputs of {@link nextDelay}. */
export interface DelayInput {
  /** Attempts made so far, including the one just judged (1 after the first try). */
  attemptsMade: number;
  schedule: readonly number[];
  throttle: boolean;
  retryAfterMs: number | null;
  /** A number in [0, 1); 0.5 means no jitter. */
  random: number;
}

/**
 * The delay before the next attempt, or `null` when the schedule is exhausted.
 * Jitter first, then the throttle floor, then `Retry-After` clamped between that delay and
 * twice it, so a receiver can slow Herald down but never stall a delivery indefinitely.
 */
export function nextDelay(input: DelayInput): number | null {
  const base = input.schedule[input.attemptsMade - 1];
  if (base === undefined) return null;
  let delay = Math.round(base * (1 + RESPONSE_RULES.jitter * (2 * input.random - 1)));
  if (input.throttle) delay = Math.max(delay, RESPONSE_RULES.throttleMinDelayMs);
  if (input.retryAfterMs !== null) delay = Math.min(Math.max(input.retryAfterMs, delay), 2 * delay);
  return delay;
}

/**
 * What becomes of a delivery after an attempt: the same shape as the store's `DeliveryNext`
 * (core imports nothing of the store's).
 */
export type NextState =
  | { status: 'pending'; dueAt: number }
  | { status: 'succeeded' }
  | { status: 'failed'; exhausted: boolean }
  /** Its transformation canceled it: done, neither a success nor a failure. */
  | { status: 'canceled' };

/** Inputs of {@link nextState}: the verdict, and what the retry delay depends on. */
export interface NextStateInput {
  verdict: Verdict;
  /** Attempts made so far, including the one judged. */
  attemptsMade: number;
  schedule: readonly number[];
  /** The response's `Retry-After`, parsed (see {@link parseRetryAfter}). */
  retryAfterMs: number | null;
  /** A number in [0, 1) for jitter. */
  random: number;
  now: number;
}

/**
 * The verdict → next state decision: succeeded; failed (not retried, and the endpoint
 * disabled on 410); pending at the next delay; or failed and exhausted past the schedule.
 */
export function nextState(input: NextStateInput): { next: NextState; disableEndpoint: boolean } {
  const { verdict } = input;
  const disableEndpoint = verdict.disableEndpoint;
  if (verdict.succeeded) return { next: { status: 'succeeded' }, disableEndpoint };
  if (!verdict.retry) return { next: { status: 'failed', exhausted: false }, disableEndpoint };
  const delay = nextDelay({
    attemptsMade: input.attemptsMade,
    schedule: input.schedule,
    throttle: verdict.throttle,
    retryAfterMs: input.retryAfterMs,
    random: input.random,
  });
  const next: NextState =
    delay === null ? { status: 'failed', exhausted: true } : { status: 'pending', dueAt: input.now + delay };
  return { next, disableEndpoint };
}
