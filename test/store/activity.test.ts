/**
 * The activity minutes behind the dashboard's overview, on the store under test: messages
 * accepted and attempts by outcome counted in the minute they happened, the queue's snapshot
 * once a minute whoever takes it, the endpoints failing now, a window cut into buckets, and
 * the prune. Two stores on one database stand for two processes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { MINUTE_MS, minuteOf } from '../../src/store/activity.js';
import type { Store } from '../../src/store/store.js';
import { attemptOf } from '../helpers.js';
import { db, openTestStore, type TestStore } from '../store-under-test.js';

/** Noon of a fixed day, 10 s into its minute. */
const START = Date.UTC(2026, 11, 3, 12, 0, 10);

let clock: ManualClock;
let t: TestStore;
let store: Store;
let appId: string;
let good: string;

beforeEach(async () => {
  clock = new ManualClock(START);
  t = await openTestStore('activity', { clock });
  store = t.store;
  appId = (await store.createApplication({ name: 'shop' })).id;
  good = (await store.createEndpoint(appId, { url: 'https://good.example/hook' })).id;
  await store.createEndpoint(appId, { url: 'https://bad.example/hook' });
});

afterEach(async () => {
  await t.close();
});

const send = (s: Store, n: number) =>
  Promise.all(
    Array.from({ length: n }, (_, i) =>
      s.acceptMessage({ appId, eventType: 'order.paid', payload: `{"n":${i}}` }),
    ),
  );

/** Claims what is due and completes it: the good endpoint's succeed, the bad one's are retried in 5 min. */
async function attemptAll(): Promise<number> {
  const now = clock.now();
  const claimed = await store.claimDue({ owner: 'w', now, leaseMs: 60_000, limit: 500, skipEndpoints: [] });
  await store.complete(
    claimed.map((d) => {
      const ok = d.endpointId === good;
      return {
        owner: 'w',
        deliveryId: d.id,
        endpointId: d.endpointId,
        attempt: attemptOf(d, ok, now),
        next: ok ? { status: 'succeeded' as const } : { status: 'pending' as const, dueAt: now + 300_000 },
        disableEndpoint: false,
      };
    }),
    now,
    5 * 86_400_000,
  );
  return claimed.length;
}

describe(`activity minutes on ${db}`, () => {
  it('counts messages and attempts in their minutes, and cuts the last hour and day into buckets', async () => {
    await send(store, 3);
    expect(await attemptAll()).toBe(6);
    clock.advance(2 * MINUTE_MS);
    await send(store, 2);
    clock.advance(5 * MINUTE_MS);
    // The bad endpoint's three retries are due; the two new messages' deliveries too.
    expect(await attemptAll()).toBe(4 + 3);

    const until = minuteOf(clock.now()) + MINUTE_MS;
    const hour = await store.activity(until - 60 * MINUTE_MS, until, MINUTE_MS);
    expect(hour).toHaveLength(60);
    const byStart = new Map(hour.map((b) => [b.start, b]));
    expect(byStart.get(minuteOf(START))).toMatchObject({ accepted: 3, succeeded: 3, failed: 3 });
    expect(byStart.get(minuteOf(START) + 2 * MINUTE_MS)).toMatchObject({
      accepted: 2,
      succeeded: 0,
      failed: 0,
    });
    expect(byStart.get(minuteOf(START) + 7 * MINUTE_MS)).toMatchObject({
      accepted: 0,
      succeeded: 2,
      failed: 5,
    });
    const total = (k: 'accepted' | 'succeeded' | 'failed') => hour.reduce((n, b) => n + b[k], 0);
    expect([total('accepted'), total('succeeded'), total('failed')]).toEqual([5, 5, 8]);
    // No snapshot was taken: the queue's figures are unknown, not zero.
    expect(hour.every((b) => b.queue === null)).toBe(true);

    const hourMs = 60 * MINUTE_MS;
    const dayUntil = until - (until % hourMs) + hourMs;
    const day = await store.activity(dayUntil - 24 * hourMs, dayUntil, hourMs);
    expect(day).toHaveLength(24);
    expect(day.at(-1)).toMatchObject({ start: dayUntil - hourMs, accepted: 5, succeeded: 5, failed: 8 });
  });

  it('takes one snapshot a minute, whichever process gets there, with the endpoints failing now', async () => {
    await send(store, 4);
    await attemptAll();
    expect(await store.countRetrying()).toEqual({ endpoints: 1, deliveries: 4 });
    clock.advance(MINUTE_MS);
    await send(store, 1);
    clock.advance(30_000);
    const other = await t.reopen();
    expect(await store.snapshotActivity(clock.now())).toBe(true);
    // Another process, the same minute: the snapshot is taken already.
    expect(await other.snapshotActivity(clock.now())).toBe(false);
    expect(await store.snapshotActivity(clock.now() + 5_000)).toBe(false);
    const minute = minuteOf(clock.now());
    const [bucket] = await store.activity(minute, minute + MINUTE_MS, MINUTE_MS);
    // 4 retries waiting (due in 5 min) and 2 new deliveries due 30 s ago.
    expect(bucket!.queue).toEqual({
      pending: 6,
      sending: 0,
      oldestDueMs: 30_000,
      failingEndpoints: 1,
      retrying: 4,
    });

    // The next minute is the other process's to take; the good endpoint starts failing too.
    clock.advance(MINUTE_MS);
    const due = await store.claimDue({
      owner: 'w',
      now: clock.now(),
      leaseMs: 60_000,
      limit: 10,
      skipEndpoints: [],
    });
    await store.complete(
      due.map((d) => ({
        owner: 'w',
        deliveryId: d.id,
        endpointId: d.endpointId,
        attempt: attemptOf(d, false, clock.now()),
        next: { status: 'pending' as const, dueAt: clock.now() + 300_000 },
        disableEndpoint: false,
      })),
      clock.now(),
      5 * 86_400_000,
    );
    expect(await other.snapshotActivity(clock.now())).toBe(true);
    expect(await store.countRetrying()).toEqual({ endpoints: 2, deliveries: 6 });
    const two = await store.activity(minute, minute + 2 * MINUTE_MS, 2 * MINUTE_MS);
    // The highest of each figure over the bucket's two snapshots.
    expect(two[0]!.queue).toEqual({
      pending: 6,
      sending: 0,
      oldestDueMs: 30_000,
      failingEndpoints: 2,
      retrying: 6,
    });
  });

  it('adds the batches of several processes into the same minute', async () => {
    const others = [await t.reopen(), await t.reopen()];
    await Promise.all([send(store, 20), send(others[0]!, 15), send(others[1]!, 10)]);
    const minute = minuteOf(clock.now());
    const [bucket] = await others[1]!.activity(minute, minute + MINUTE_MS, MINUTE_MS);
    expect(bucket!.accepted).toBe(45);
  });

  it('prunes the minutes before a time, counters and snapshots', async () => {
    await send(store, 1);
    await store.snapshotActivity(clock.now());
    clock.advance(10 * MINUTE_MS);
    await send(store, 1);
    await store.snapshotActivity(clock.now());
    expect(await store.pruneActivity(minuteOf(clock.now()))).toBe(2);
    const since = minuteOf(START);
    const buckets = await store.activity(since, since + 11 * MINUTE_MS, MINUTE_MS);
    expect(buckets.filter((b) => b.accepted > 0 || b.queue).map((b) => b.start)).toEqual([
      since + 10 * MINUTE_MS,
    ]);
  });
});
