import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeId, idTime, isId, newId } from '../../src/core/ids.js';
import { judge, nextDelay, parseRetryAfter } from '../../src/core/retry.js';

describe('nextDelay', () => {
  const schedule = [5_000, 300_000];
  it('follows the schedule and ends after it', () => {
    const base = { schedule, throttle: false, retryAfterMs: null, random: 0.5 };
    expect(nextDelay({ ...base, attemptsMade: 1 })).toBe(5_000);
    expect(nextDelay({ ...base, attemptsMade: 2 })).toBe(300_000);
    expect(nextDelay({ ...base, attemptsMade: 3 })).toBeNull();
  });

  it('stays within ±20 % jitter, above the throttle floor and within the Retry-After clamp', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }),
        fc.boolean(),
        fc.option(fc.integer({ min: 0, max: 10_000_000 })),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        (attemptsMade, throttle, retryAfterMs, random) => {
          const delay = nextDelay({ attemptsMade, schedule, throttle, retryAfterMs, random })!;
          const base = schedule[attemptsMade - 1]!;
          let low = Math.round(base * 0.8);
          if (throttle) low = Math.max(low, 60_000);
          expect(delay).toBeGreaterThanOrEqual(low);
          expect(delay).toBeLessThanOrEqual(2 * Math.max(Math.round(base * 1.2), throttle ? 60_000 : 0));
        },
      ),
    );
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 0, 1);
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now)).toBe(30_000);
    expect(parseRetryAfter(new Date(now - 30_000).toUTCString(), now)).toBe(0);
  });
  it('ignores what it cannot read', () => {
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
  });
});

describe('judge', () => {
  it('maps the response table', () => {
    expect(judge(204, null)).toMatchObject({ succeeded: true, retry: false });
    expect(judge(302, 'http_status')).toMatchObject({ succeeded: false, retry: true, throttle: false });
    expect(judge(410, 'http_status')).toMatchObject({ retry: false, disableEndpoint: true });
    for (const s of [429, 502, 503, 504])
      expect(judge(s, 'http_status')).toMatchObject({ retry: true, throttle: true });
    expect(judge(null, 'timeout')).toMatchObject({ retry: true, throttle: false });
    expect(judge(null, 'blocked_address')).toMatchObject({ retry: false, disableEndpoint: false });
  });
});

describe('ids', () => {
  it('are prefixed, 27 base62 characters, and sort by creation time', () => {
    const ids = Array.from({ length: 2_000 }, (_, i) =>
      newId('msg', 1_700_000_000_000 + Math.floor(i / 100)),
    );
    for (const id of ids) expect(isId(id, 'msg')).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('encode the 160-bit number (48 bits of time, 112 random) exactly, as base62', () => {
    // The reference: the same number as a BigInt, divided digit by digit.
    const reference = (ms: number, random: Uint8Array) => {
      let value = BigInt(ms);
      for (const byte of random) value = (value << 8n) | BigInt(byte);
      let digits = '';
      for (let i = 0; i < 27; i++) {
        digits =
          '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'[Number(value % 62n)] + digits;
        value /= 62n;
      }
      return `msg_${digits}`;
    };
    const edges = [new Uint8Array(14), new Uint8Array(14).fill(255)];
    for (const ms of [0, 1, 2 ** 48 - 1, 1_700_000_000_000])
      for (const random of edges) expect(encodeId('msg', ms, random)).toBe(reference(ms, random));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 48 - 1 }),
        fc.uint8Array({ minLength: 14, maxLength: 14 }),
        (ms, random) => encodeId('msg', ms, random) === reference(ms, random),
      ),
      { numRuns: 2_000 },
    );
  });

  it('give back the millisecond they were made at, within 1 ms (metrics read a message id so), and null for anything else', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 48 - 1 }),
        fc.uint8Array({ minLength: 14, maxLength: 14 }),
        (ms, random) => {
          const read = idTime(encodeId('msg', ms, random))!;
          return Math.abs(read - ms) <= 1;
        },
      ),
      { numRuns: 2_000 },
    );
    expect(Math.abs(idTime(newId('msg', 1_700_000_000_123))! - 1_700_000_000_123)).toBeLessThanOrEqual(1);
    for (const other of ['my-uid', 'msg_', 'msg_short', `_${'0'.repeat(27)}`, `msg_${'!'.repeat(27)}`])
      expect(idTime(other)).toBeNull();
  });
});
