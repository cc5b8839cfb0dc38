/** The verdict → next state decision, row by row of README's "Delivery rules" table. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_SCHEDULE_MS, judge, nextState } from '../../src/core/retry.js';
import type { AttemptErrorKind } from '../../src/core/types.js';

const now = Date.UTC(2026, 0, 1);

/** What becomes of a delivery after its first attempt got this answer (no jitter). */
function answered(
  statusCode: number | null,
  errorKind: AttemptErrorKind | null,
  { attemptsMade = 1, retryAfterMs = null as number | null } = {},
) {
  return nextState({
    verdict: judge(statusCode, errorKind),
    attemptsMade,
    schedule: DEFAULT_RETRY_SCHEDULE_MS,
    retryAfterMs,
    random: 0.5,
    now,
  });
}

const retriedIn = (ms: number) => ({ next: { status: 'pending', dueAt: now + ms }, disableEndpoint: false });

describe('nextState', () => {
  it('2xx: success', () => {
    for (const status of [200, 201, 204, 299])
      expect(answered(status, null)).toEqual({ next: { status: 'succeeded' }, disableEndpoint: false });
  });

  it('3xx: failure, retried on the schedule', () => {
    for (const status of [301, 302, 307]) expect(answered(status, 'http_status')).toEqual(retriedIn(5_000));
  });

  it('410 Gone: failure, not retried, the endpoint disabled', () => {
    expect(answered(410, 'http_status')).toEqual({
      next: { status: 'failed', exhausted: false },
      disableEndpoint: true,
    });
  });

  it('429, 502, 503, 504: failure, retried no sooner than 60 s', () => {
    for (const status of [429, 502, 503, 504])
      expect(answered(status, 'http_status')).toEqual(retriedIn(60_000));
    // Later in the schedule the scheduled delay is longer than the floor, and wins.
    expect(answered(503, 'http_status', { attemptsMade: 2 })).toEqual(retriedIn(300_000));
  });

  it('Retry-After: honoured, clamped between the scheduled delay and twice it', () => {
    expect(answered(503, 'http_status', { retryAfterMs: 90_000 })).toEqual(retriedIn(90_000));
    expect(answered(503, 'http_status', { retryAfterMs: 1_000 })).toEqual(retriedIn(60_000));
    expect(answered(503, 'http_status', { retryAfterMs: 3_600_000 })).toEqual(retriedIn(120_000));
    expect(answered(500, 'http_status', { retryAfterMs: 7_000 })).toEqual(retriedIn(7_000));
  });

  it('timeout, refused, reset, DNS failure, other statuses: failure, retried', () => {
    for (const kind of [
      'timeout',
      'connection_refused',
      'connection_reset',
      'dns',
      'tls',
      'network',
    ] as const)
      expect(answered(null, kind)).toEqual(retriedIn(5_000));
    for (const status of [400, 404, 500]) expect(answered(status, 'http_status')).toEqual(retriedIn(5_000));
  });

  it('an answer that is not HTTP: failure (invalid_response), retried', () => {
    expect(answered(null, 'invalid_response')).toEqual(retriedIn(5_000));
  });

  it('blocked address (SSRF guard), invalid URL, disabled endpoint: failure, not retried', () => {
    for (const kind of ['blocked_address', 'invalid_url', 'endpoint_disabled'] as const)
      expect(answered(null, kind)).toEqual({
        next: { status: 'failed', exhausted: false },
        disableEndpoint: false,
      });
  });

  it('past the schedule (8 attempts): failure, exhausted', () => {
    expect(answered(500, 'http_status', { attemptsMade: 7 })).toEqual(retriedIn(36_000_000));
    expect(answered(500, 'http_status', { attemptsMade: 8 })).toEqual({
      next: { status: 'failed', exhausted: true },
      disableEndpoint: false,
    });
  });
});
