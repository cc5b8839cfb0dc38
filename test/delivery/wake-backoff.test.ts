/**
 * A worker whose wake-ups keep finding nothing (other workers took the work first) answers
 * the next ones later, with one claim for all of them (`wakeBackoffMs`); the first claim
 * that finds work makes it answer at once again.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { receiversClosedAfterEach, waitForEvent } from '../helpers.js';
import { watchEveryClaim } from './claims.js';
import { type Fixture, fixture } from './fixture.js';

const receiver = receiversClosedAfterEach();
let f: Fixture;

afterEach(async () => {
  await f?.close();
});

/** Counts the claims made on `store` (the real store's, passed through), and tells when one ends. */
function countClaims(store: Store) {
  const ended = new EventEmitter();
  let count = 0;
  watchEveryClaim(store, {
    ended() {
      count++;
      ended.emit('claim', count);
    },
  });
  return {
    get count() {
      return count;
    },
    /** Resolves when the claims made so far reach `n`. */
    reach: (n: number) =>
      count >= n
        ? Promise.resolve()
        : waitForEvent<number>(ended, 'claim', (c) => c >= n).then(() => undefined),
  };
}

const BACKOFF_MS = 4_000;

describe('wake-up backoff', () => {
  it('answers wake-ups that keep finding nothing later and together, and at once after a claim finds work', async () => {
    f = await fixture({ wakeBackoffMs: BACKOFF_MS });
    const r = await receiver();
    const endpoint = await f.store.createEndpoint(f.appId, { url: r.url });
    await f.idle();
    const claims = countClaims(f.store);
    const later = () =>
      f.store.acceptMessage({
        appId: f.appId,
        eventType: 'report.ready',
        payload: '{}',
        deliverAt: Date.now() + 3_600_000,
      });

    // Each message due in an hour wakes the worker, and its claim finds nothing: the first is
    // answered at once, the next after 1/16 of the backoff, then 1/8 (the claims follow each
    // other closely: a streak older than the backoff would be forgotten).
    for (let i = 1; i <= 3; i++) {
      await later();
      await claims.reach(i);
    }
    expect(claims.count).toBe(3);

    // Now the wait is 1/4 of the backoff (1 s): five wake-ups in a burst get one claim.
    const burst = Date.now();
    for (let i = 0; i < 5; i++) await later();
    await claims.reach(4);
    expect(Date.now() - burst).toBeGreaterThanOrEqual(BACKOFF_MS / 4 - 50);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(claims.count).toBe(4);

    // A message due now is still delivered (on PostgreSQL after the wait, 1/2 of the backoff;
    // on SQLite straight through the standing claim), and a claim that found work (or the
    // standing claim filled) ends the backoff: a resend after it, which only a wake-up starts
    // on either store, is claimed as soon as its wake-up comes (without the reset, after 1/2
    // of the backoff).
    const first = f.nextAttempt();
    const accepted = Date.now();
    const { message } = await f.store.acceptMessage({
      appId: f.appId,
      eventType: 'report.ready',
      payload: '{}',
    });
    expect((await first).attempt.succeeded).toBe(true);
    if (!f.store.standingClaims) {
      const waited = Date.now() - accepted;
      expect(waited).toBeGreaterThanOrEqual(BACKOFF_MS / 2 - 50);
      expect(waited).toBeLessThan(BACKOFF_MS / 2 + 1_500);
    }
    await f.idle();
    const second = f.nextAttempt();
    const sent = Date.now();
    await f.store.resend(message.id, endpoint.id);
    expect((await second).attempt.succeeded).toBe(true);
    expect(Date.now() - sent).toBeLessThan(BACKOFF_MS / 4);
    expect(r.received).toHaveLength(2);
  });

  it('forgets a streak older than the backoff: a lone worker answers a wake-up heard later at once', async () => {
    f = await fixture({ wakeBackoffMs: 2_400 });
    const r = await receiver();
    const endpoint = await f.store.createEndpoint(f.appId, { url: r.url });
    const delivered = f.nextAttempt();
    const { message } = await f.store.acceptMessage({
      appId: f.appId,
      eventType: 'report.ready',
      payload: '{}',
    });
    await delivered;
    await f.idle();
    const claims = countClaims(f.store);
    for (let i = 1; i <= 5; i++) {
      await f.store.acceptMessage({
        appId: f.appId,
        eventType: 'report.ready',
        payload: '{}',
        deliverAt: Date.now() + 3_600_000,
      });
      await claims.reach(i);
    }
    // The streak now holds the next wake-up for 1,200 ms at least (the empty claim right after
    // the delivery may not count); once the backoff has passed since its last empty claim, it
    // is forgotten. A resend is started by its wake-up alone, on either store.
    await new Promise((resolve) => setTimeout(resolve, 2_600));
    const attempt = f.nextAttempt();
    const resent = Date.now();
    await f.store.resend(message.id, endpoint.id);
    expect((await attempt).attempt.succeeded).toBe(true);
    expect(Date.now() - resent).toBeLessThan(800);
  });
});
