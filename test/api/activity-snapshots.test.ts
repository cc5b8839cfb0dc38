/**
 * The API's minute round of activity snapshots (`ActivitySnapshots`) on the store under test,
 * with a manual clock: a snapshot at start and one a second into every minute after, none
 * more however time moves within a minute; two rounds on one database (two API processes)
 * take each minute once between them; minutes past the kept span are pruned once an hour.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type ActivityRound, ActivitySnapshots } from '../../src/api/activity-snapshots.js';
import { ManualClock } from '../../src/core/clock.js';
import { MINUTE_MS, minuteOf } from '../../src/store/activity.js';
import type { Store } from '../../src/store/store.js';
import { attemptOf, waitForEvent } from '../helpers.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

/** 40 s into a minute. */
const START = Date.UTC(2026, 11, 3, 10, 0, 40);

let t: TestStore | undefined;
const rounds: ActivitySnapshots[] = [];
afterEach(async () => {
  for (const r of rounds.splice(0)) await r[Symbol.asyncDispose]();
  await t?.close();
});

/** A round on `store`, and the minutes it took and the prunes it made, as its rounds tell. */
function round(store: Store, clock: ManualClock, keptMs?: number) {
  const r = new ActivitySnapshots({ store, clock, ...(keptMs === undefined ? {} : { keptMs }) });
  const took: number[] = [];
  const prunes: number[] = [];
  const made = { rounds: 0 };
  r.on('round', (e: ActivityRound) => {
    made.rounds++;
    if (e.took) took.push(minuteOf(clock.now()));
    if (e.pruned !== null) prunes.push(clock.now());
  });
  rounds.push(r);
  return { r, took, prunes, made };
}

/** Moves the clock to `at` and waits for the round that the move set off. */
async function advanceTo(clock: ManualClock, at: number, r: ActivitySnapshots): Promise<void> {
  const heard = waitForEvent(r, 'round');
  clock.advance(at - clock.now());
  await heard;
}

/** Starts `r` and waits for its first round. */
async function started(r: ActivitySnapshots): Promise<void> {
  const heard = waitForEvent(r, 'round');
  r.start();
  await heard;
}

describe('the activity snapshots round', () => {
  it('takes one snapshot a minute, a second into it, and two processes share the minutes', async () => {
    const clock = new ManualClock(START);
    t = await openTestStore('activity-round', { clock });
    const first = round(t.store, clock);
    const second = round(await t.reopen(), clock);
    await started(first.r);
    expect(first.took).toEqual([minuteOf(START)]);
    clock.advance(10_000);
    // Another process, the same minute: the snapshot is taken already.
    await started(second.r);
    expect(second.took).toEqual([]);
    const next = minuteOf(START) + MINUTE_MS;
    const both = Promise.all([waitForEvent(first.r, 'round'), waitForEvent(second.r, 'round')]);
    // Moving within the minute sets nothing off; the next minute's second 1 sets off both.
    clock.advance(next - clock.now() - 1);
    clock.advance(1_001);
    await both;
    expect([...first.took, ...second.took].sort()).toEqual([minuteOf(START), next]);
    const again = Promise.all([waitForEvent(first.r, 'round'), waitForEvent(second.r, 'round')]);
    clock.advance(next + MINUTE_MS + 1_000 - clock.now());
    await again;
    const buckets = await t.store.activity(minuteOf(START), next + 2 * MINUTE_MS, MINUTE_MS);
    expect(buckets.map((b) => b.queue !== null)).toEqual([true, true, true]);
    // A round a minute each, no more: time moved within a minute set none off.
    expect([first.made.rounds, second.made.rounds]).toEqual([3, 3]);
  });

  it('prunes the minutes past the kept span at start and then once an hour', async () => {
    const clock = new ManualClock(START);
    t = await openTestStore('activity-prune', { clock });
    const { r, prunes } = round(t.store, clock, 10 * MINUTE_MS);
    await started(r);
    for (let m = 1; m <= 61; m++) await advanceTo(clock, minuteOf(START) + m * MINUTE_MS + 1_000, r);
    // At start, then at the first round an hour or more after it (minute 61, second 1).
    expect(prunes).toEqual([START, minuteOf(START) + 61 * MINUTE_MS + 1_000]);
    const kept = await t.store.activity(minuteOf(START), clock.now() + MINUTE_MS, MINUTE_MS);
    // Those of minutes starting after 10 min before the prune (51:01) are left: 52 to 61.
    expect(kept.filter((b) => b.queue !== null).map((b) => b.start)).toEqual(
      Array.from({ length: 10 }, (_, i) => minuteOf(START) + (52 + i) * MINUTE_MS),
    );
  });

  it('drops the failure groups not seen for their kept span, with the hourly prune', async () => {
    const clock = new ManualClock(START);
    t = await openTestStore('activity-prune-failures', { clock });
    const { store } = t;
    const app = await store.createApplication({ name: 'shop' });
    await store.createEndpoint(app.id, { url: 'https://down.example/hook' });
    await store.acceptMessage({ appId: app.id, eventType: 'order.paid', payload: '{}' });
    const [d] = await store.claimDue({
      owner: 'w',
      now: START,
      leaseMs: 60_000,
      limit: 1,
      skipEndpoints: [],
    });
    await store.complete(
      [
        {
          owner: 'w',
          deliveryId: d!.id,
          endpointId: d!.endpointId,
          attempt: attemptOf(d!, false, START),
          next: { status: 'pending', dueAt: START + 86_400_000 },
          disableEndpoint: false,
        },
      ],
      START,
      86_400_000,
    );
    const r = new ActivitySnapshots({ store, clock, failuresKeptMs: 30 * MINUTE_MS });
    rounds.push(r);
    const pruned: (number | null)[] = [];
    r.on('round', (e: ActivityRound) => pruned.push(e.prunedFailures));
    const groups = async () =>
      (await store.listFailures({ groupBy: 'endpoint', failedSince: 0, limit: 10 })).data.length;
    await started(r);
    expect([pruned, await groups()]).toEqual([[0], 1]);
    // The next prune, an hour on: the group, last seen at the start, is past 30 minutes.
    for (let m = 1; m <= 61; m++) await advanceTo(clock, minuteOf(START) + m * MINUTE_MS + 1_000, r);
    expect(pruned.filter((n) => n !== null)).toEqual([0, 1]);
    expect(await groups()).toBe(0);
  });
});
