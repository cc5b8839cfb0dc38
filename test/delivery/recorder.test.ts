/** The recorder: batched completions and releases, all written on stop, none lost on a failed write. */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { Attempt } from '../../src/core/types.js';
import { type AttemptEvent, Recorder } from '../../src/delivery/recorder.js';
import type { ClaimedDelivery, DisabledEndpoint } from '../../src/store/store.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const LEASE_MS = 120_000;
let t: TestStore | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** A real store with `count` deliveries claimed by worker `w1`, and a recorder for it. */
async function setUp(count: number, batchSize = 1_000) {
  const clock = new ManualClock(Date.now());
  t = await openTestStore('recorder', { clock });
  const { store } = t;
  const app = await store.createApplication({ name: 'recorder' });
  const ep = await store.createEndpoint(app.id, { url: 'http://127.0.0.1:9/' });
  for (let n = 0; n < count; n++)
    await store.acceptMessage({ appId: app.id, eventType: 'a.b', payload: `{"n":${n}}` });
  const claim = () =>
    store.claimDue({ owner: 'w1', now: clock.now(), leaseMs: LEASE_MS, limit: 1_000, skipEndpoints: [] });
  const claimed = await claim();
  expect(claimed).toHaveLength(count);
  const committed: AttemptEvent[] = [];
  const disabled: DisabledEndpoint[] = [];
  const errors: unknown[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => errors.push(JSON.parse(line)) });
  const recorder = new Recorder({
    store,
    clock,
    logger,
    workerId: 'w1',
    batchSize,
    autoDisableAfterMs: 5 * 24 * 3_600_000,
    committed: (events, d) => {
      committed.push(...events);
      disabled.push(...d);
    },
    retryScheduled: () => {},
  });
  const attemptOf = (d: ClaimedDelivery): Attempt => ({
    id: `atmpt_${d.id}`,
    deliveryId: d.id,
    msgId: d.msgId,
    endpointId: d.endpointId,
    appId: d.appId,
    url: 'http://127.0.0.1:9/',
    trigger: d.trigger,
    succeeded: true,
    statusCode: 200,
    responseBody: 'ok',
    durationMs: 1,
    errorKind: null,
    errorMessage: null,
    requestHeaders: {},
    createdAt: clock.now(),
  });
  const succeed = (d: ClaimedDelivery) =>
    recorder.finish({
      owner: 'w1',
      deliveryId: d.id,
      endpointId: d.endpointId,
      attempt: attemptOf(d),
      next: { status: 'succeeded' },
      disableEndpoint: false,
    });
  const stateOf = (d: ClaimedDelivery) => store.getDelivery(d.msgId, ep.id);
  return { store, clock, claimed, claim, recorder, succeed, stateOf, committed, disabled, errors };
}

describe('Recorder', () => {
  it('writes every completion and release on drain (stop), batch not full and no timer waited for', async () => {
    const s = await setUp(6);
    const [a, b, c, d, e, g] = s.claimed as [ClaimedDelivery, ...ClaimedDelivery[]];
    for (const x of [a, b, c, d]) s.succeed(x!);
    s.recorder.giveBack(e!.id, s.clock.now() + 1_000);
    s.recorder.giveBack(g!.id, s.clock.now());
    await s.recorder.drain();
    expect(s.committed.map((x) => x.attempt.deliveryId)).toEqual([a, b, c, d].map((x) => x!.id));
    for (const x of [a, b, c, d]) expect((await s.stateOf(x!))?.status).toBe('succeeded');
    const given = [await s.stateOf(e!), await s.stateOf(g!)];
    expect(given.map((x) => [x?.status, x?.dueAt, x?.leaseOwner])).toEqual([
      ['pending', s.clock.now() + 1_000, null],
      ['pending', s.clock.now(), null],
    ]);
    // A drain with nothing left writes nothing more and reports nothing twice.
    await s.recorder.drain();
    expect(s.committed).toHaveLength(4);
  });

  it('loses no delivery when the store fails to write a batch: it stays leased and is claimed again after the lease', async () => {
    const s = await setUp(3);
    // The real store, failing its next write once (a lost connection, a full disk).
    const complete = s.store.complete.bind(s.store);
    let failures = 1;
    s.store.complete = (...args) =>
      failures-- > 0 ? Promise.reject(new Error('disk full')) : complete(...args);
    for (const x of s.claimed) s.succeed(x);
    await s.recorder.drain();
    // Logged, not reported as committed, and not written.
    expect(s.errors).toMatchObject([{ msg: 'recording attempts failed', count: 3 }]);
    expect(s.committed).toEqual([]);
    for (const x of s.claimed) {
      const state = await s.stateOf(x);
      expect([state?.status, state?.leaseOwner, state?.attempts]).toEqual(['sending', 'w1', 0]);
    }
    // Not claimable while leased; once the lease ends, claimed again: sent at least once.
    expect(await s.claim()).toEqual([]);
    s.clock.advance(LEASE_MS);
    expect((await s.claim()).map((x) => x.id).sort()).toEqual(s.claimed.map((x) => x.id).sort());
  });
});
