/** Endpoint rate limits (`rateLimit` / `throttleRate`): attempts start at most `rate` per second. */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../src/core/types.js';
import { Throttle } from '../../src/delivery/throttle.js';
import { receiversClosedAfterEach } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { type Fixture, fixture } from './fixture.js';

const receiver = receiversClosedAfterEach();
let f: Fixture | undefined;
let herald: HeraldProcess | undefined;

afterEach(async () => {
  await f?.close();
  f = undefined;
  await herald?.stop();
  herald = undefined;
});

/** Polls `check` (real time) until it returns true, or fails after 5 s. */
async function until(check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('endpoint rate limit', () => {
  it('starts attempts 1/rate apart, and gives back what would wait past the horizon, due at its own slot', async () => {
    f = await fixture({ manualClock: true });
    const clock = f.clock!;
    const r = await receiver();
    const limited = await f.store.createEndpoint(f.appId, { url: r.url, rateLimit: 2 });
    const t0 = clock.now();
    // Every attempt from the start: one made early would show here with its time.
    const made: number[] = [];
    f.dispatcher.on('attempt', (e) => made.push(e.attempt.createdAt - t0));
    const first = f.nextAttempt();
    // Accepted together (one commit), so the worker gets all seven at once.
    const store = f.store;
    const accepted = await Promise.all(
      [0, 1, 2, 3, 4, 5, 6].map((n) =>
        store.acceptMessage({ appId: f!.appId, eventType: 'a.b', payload: `{"n":${n}}` }),
      ),
    );
    const msgs: Message[] = accepted.map((a) => a.message);
    expect((await first).attempt.createdAt).toBe(t0);

    // At 2/s a worker holds 2 s of work (4 deliveries) besides the one sent; the last two go
    // back to the store, due at 2.5 s and 3 s: one slot each, after the four held.
    const givenBack = () => Promise.all(msgs.slice(5).map((m) => f!.store.getDelivery(m.id, limited.id)));
    // (Before, they are pending as accepted, due at t0, or leased to the worker.)
    await until(async () => (await givenBack()).every((d) => d!.status === 'pending' && d!.dueAt! > t0));
    const given = await givenBack();
    expect(given.map((d) => [d?.status, d?.dueAt, d?.leaseOwner])).toEqual([
      ['pending', t0 + 2_500, null],
      ['pending', t0 + 3_000, null],
    ]);

    // Nothing more is sent until the clock reaches the next slot: the clock stops 1 ms short
    // of each slot first, so an attempt started early would carry that time (or t0).
    const starts = [t0];
    for (let i = 1; i < 7; i++) {
      const next = f.nextAttempt();
      clock.advance(499);
      clock.advance(1);
      starts.push((await next).attempt.createdAt);
    }
    expect(starts.map((t) => t - t0)).toEqual([0, 500, 1_000, 1_500, 2_000, 2_500, 3_000]);
    expect(made).toEqual([0, 500, 1_000, 1_500, 2_000, 2_500, 3_000]);
    expect(r.received.map((x) => JSON.parse(x.body).n).sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('leaves endpoints without a limit at full speed beside a limited one', async () => {
    f = await fixture({ manualClock: true });
    const slow = await receiver();
    const fast = await receiver();
    await f.store.createEndpoint(f.appId, { url: slow.url, rateLimit: 1 });
    const free = await f.store.createEndpoint(f.appId, { url: fast.url });
    const done = f.attempts(5, free.id);
    for (let i = 0; i < 5; i++)
      await f.store.acceptMessage({ appId: f.appId, eventType: 'a.b', payload: '{}' });
    // The clock never moves: the free endpoint gets all five, the limited one only its first.
    await done;
    expect(fast.received).toHaveLength(5);
    expect(slow.received).toHaveLength(1);
  });

  it('applies throttleRate set through the API to what herald serve sends', async () => {
    const r = await receiver();
    herald = await startHerald();
    const app = await herald.post('/app', { name: 'throttled' });
    const endpoint = await herald.post(`/app/${app.id}/endpoint`, { url: r.url, throttleRate: 10 });
    expect(endpoint).toMatchObject({ throttleRate: 10, rateLimit: 10 });
    for (let i = 0; i < 8; i++) await herald.post(`/app/${app.id}/msg`, { eventType: 'a.b', payload: { i } });
    await until(async () => r.received.length === 8);
    // Unthrottled, eight deliveries arrive within milliseconds; at 10/s they start 0.1 s
    // apart. Counted from the second arrival: the first request also opens the connection, so
    // on a loaded machine it arrives later after its start than the others (spans of 643 ms
    // from the first were seen under the full suite).
    const span = r.received.at(-1)!.at - r.received[1]!.at;
    expect(span).toBeGreaterThanOrEqual(550);
  });
});

describe('Throttle slots', () => {
  // Any interleaving of start attempts and give-backs, at any rate, with time moving forward.
  const ops = fc.array(
    fc.record({
      advance: fc.integer({ min: 0, max: 3_000 }),
      defer: fc.option(
        fc.record({ queued: fc.integer({ min: 0, max: 5 }), count: fc.integer({ min: 1, max: 20 }) }),
      ),
    }),
    { maxLength: 60 },
  );

  it('never starts two attempts closer than 1/rate, and gives each deferred delivery a later slot', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65_535 }), ops, (rate, steps) => {
        const throttle = new Throttle();
        const interval = 1000 / rate;
        let now = 1_000_000;
        const starts: number[] = [];
        let lastDue = Number.NEGATIVE_INFINITY;
        for (const step of steps) {
          now += step.advance;
          if (step.defer) {
            const due = throttle.defer('ep', rate, now, step.defer.queued, step.defer.count);
            expect(due).toHaveLength(step.defer.count);
            for (const d of due) {
              expect(d).toBeGreaterThanOrEqual(now);
              // Later than every slot handed out before, one interval on (rounded up to a ms).
              expect(d).toBeGreaterThanOrEqual(lastDue + Math.floor(interval));
              if (rate <= 1000) expect(d).toBeGreaterThan(lastDue);
              lastDue = d;
            }
          } else {
            const wait = throttle.take('ep', rate, now);
            if (wait > 0) {
              // Asked again when the wait is over, it starts.
              now += wait;
              expect(throttle.take('ep', rate, now)).toBe(0);
            }
            starts.push(now);
          }
        }
        for (let i = 1; i < starts.length; i++) {
          expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(interval - 1e-6);
        }
      }),
    );
  });
});
