/**
 * Listener endpoints (`herald listen`) in the store contract, on the backend under test
 * (HERALD_TEST_DB): opened by name, their deliveries claimed by their stream only (never by a
 * dispatcher's claim), leases handed again once expired, results recorded by `complete`, and
 * idle ones disabled.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { ClaimedDelivery, Store } from '../../src/store/store.js';
import { attemptOf } from '../helpers.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

let t: TestStore;
let store: Store;
let clock: ManualClock;
let appId: string;

beforeEach(async () => {
  clock = new ManualClock();
  t = await openTestStore('listeners', { clock });
  store = t.store;
  appId = (await store.createApplication({ name: 'shop', uid: 'shop' })).id;
});
afterEach(async () => t.close());

const claimAll = { owner: 'w', leaseMs: 60_000, limit: 100, skipEndpoints: [] as string[] };
const send = (eventType = 'order.paid', n = 1) =>
  store.acceptMessage({ appId, eventType, payload: JSON.stringify({ n }) });

const attemptFor = (d: ClaimedDelivery, ok: boolean) =>
  attemptOf(d, ok, clock.now(), 'http://listener.invalid/laptop');

describe(`listener endpoints (${process.env.HERALD_TEST_DB ?? 'sqlite'})`, () => {
  it('opens a listener by name: the same name takes the same endpoint and secret up again', async () => {
    const first = await store.openListener('shop', 'laptop', ['order.paid']);
    expect(first).toMatchObject({ listener: 'laptop', filterTypes: ['order.paid'], disabled: false });
    clock.advance(1_000);
    await store.updateEndpoint(appId, first.id, { disabled: true });
    const again = await store.openListener(appId, 'laptop', null);
    expect(again.id).toBe(first.id);
    expect(again.secrets[0]!.key).toBe(first.secrets[0]!.key);
    expect(again).toMatchObject({ disabled: false, filterTypes: null, listenerSeenAt: clock.now() });
    const other = await store.openListener(appId, 'desktop', null);
    expect(other.id).not.toBe(first.id);
    await expect(store.openListener(appId, 'bad name!', null)).rejects.toThrow(/name/);
    await expect(store.openListener('nope', 'laptop', null)).rejects.toThrow(/not found/);
  });

  it('a reconnect that asks for nothing new changes nothing (no endpoint.updated for each reconnect)', async () => {
    const first = await store.openListener(appId, 'laptop', ['order.paid', 'order.refunded']);
    clock.advance(1_000);
    const same = await store.openListener(appId, 'laptop', ['order.refunded', 'order.paid']);
    expect(same.updatedAt).toBe(first.updatedAt);
    expect(same.listenerSeenAt).toBe(clock.now());
    const kept = await store.openListener(appId, 'laptop');
    expect(kept).toMatchObject({ updatedAt: first.updatedAt, filterTypes: ['order.paid', 'order.refunded'] });
    clock.advance(1_000);
    const changed = await store.openListener(appId, 'laptop', ['order.paid']);
    expect(changed).toMatchObject({ filterTypes: ['order.paid'], updatedAt: clock.now() });
  });

  it("never hands a listener's deliveries to a dispatcher's claim; its stream claims them in order", async () => {
    const listener = await store.openListener(appId, 'laptop', null);
    const normal = await store.createEndpoint(appId, { url: 'https://example.com/hook' });
    for (let n = 1; n <= 5; n++) {
      await send('order.paid', n);
      clock.advance(10);
    }
    const dispatched = await store.claimDue({ ...claimAll, now: clock.now() });
    expect(dispatched.map((d) => d.endpointId)).toEqual(Array(5).fill(normal.id));
    // Only the dispatched ones count: their leases end first; no listener delivery is due for it.
    expect(await store.nextDueAt()).toBe(clock.now() + 60_000);
    expect((await store.queueStats(clock.now())).pending).toBe(0);

    const handed = await store.claimListener({
      endpointId: listener.id,
      owner: 'conn-1',
      now: clock.now(),
      leaseMs: 60_000,
      limit: 3,
    });
    expect(handed.map((d) => JSON.parse(d.payload!).n)).toEqual([1, 2, 3]);
    const rest = await store.claimListener({
      endpointId: listener.id,
      owner: 'conn-1',
      now: clock.now(),
      leaseMs: 60_000,
      limit: 10,
    });
    expect(rest.map((d) => JSON.parse(d.payload!).n)).toEqual([4, 5]);
    // A dispatcher's claim still sees none of them, leased or not.
    clock.advance(120_000);
    expect(await store.claimDue({ ...claimAll, now: clock.now() })).toHaveLength(5);
    expect(
      (await store.claimDue({ ...claimAll, now: clock.now() + 1_000_000 })).every(
        (d) => d.endpointId === normal.id,
      ),
    ).toBe(true);
  });

  it('hands a delivery again once the lease of a stream that vanished expires; complete records the answer', async () => {
    const listener = await store.openListener(appId, 'laptop', null);
    const { message } = await send();
    const claim = (owner: string) =>
      store.claimListener({ endpointId: listener.id, owner, now: clock.now(), leaseMs: 60_000, limit: 10 });
    const [d] = await claim('conn-1');
    expect(d!.msgId).toBe(message.id);
    expect(await claim('conn-2')).toEqual([]);
    clock.advance(60_001);
    const [again] = await claim('conn-2');
    expect(again!.id).toBe(d!.id);
    // The first holder's late answer changes nothing; the second's is kept.
    await store.complete(
      [
        {
          owner: 'conn-1',
          deliveryId: d!.id,
          endpointId: listener.id,
          attempt: attemptFor(d!, true),
          next: { status: 'succeeded' },
          disableEndpoint: false,
        },
      ],
      clock.now(),
      86_400_000,
    );
    expect((await store.getDelivery(message.id, listener.id))!.status).toBe('sending');
    const heard: string[] = [];
    const off = await store.onAttempts((events) => heard.push(...events.map((e) => e.attempt.msgId)));
    await store.complete(
      [
        {
          owner: 'conn-2',
          deliveryId: again!.id,
          endpointId: listener.id,
          attempt: attemptFor(again!, false),
          next: { status: 'pending', dueAt: clock.now() + 1_000 },
          disableEndpoint: false,
        },
      ],
      clock.now(),
      86_400_000,
    );
    off();
    expect(heard).toEqual([message.id]);
    expect(await claim('conn-2')).toEqual([]);
    clock.advance(1_000);
    expect((await claim('conn-2')).map((x) => x.attempts)).toEqual([1]);
    const attempts = await store.listAttempts({ appId, endpointId: listener.id }, { limit: 10 });
    expect(attempts.data.map((a) => a.statusCode).sort()).toEqual([200, 500]);
  });

  it('a resend and a replay-missing to a listener stay with its stream', async () => {
    const { message } = await send();
    const listener = await store.openListener(appId, 'laptop', null);
    await store.resend(message.id, listener.id);
    expect(await store.claimDue({ ...claimAll, now: clock.now() })).toEqual([]);
    const other = await store.openListener(appId, 'desktop', null);
    const replayed = await store.replayMissingBatch(other.id, { since: 0, until: null }, null, 100);
    expect(replayed.count).toBe(1);
    expect(await store.claimDue({ ...claimAll, now: clock.now() })).toEqual([]);
    const claimed = await store.claimListener({
      endpointId: other.id,
      owner: 'c',
      now: clock.now(),
      leaseMs: 60_000,
      limit: 10,
    });
    expect(claimed.map((d) => d.msgId)).toEqual([message.id]);
  });

  it('disables listeners idle since a time, failing what waited for them; seen ones stay', async () => {
    const idle = await store.openListener(appId, 'old', null);
    const seen = await store.openListener(appId, 'new', null);
    const normal = await store.createEndpoint(appId, { url: 'https://example.com/hook' });
    await send();
    clock.advance(7 * 86_400_000);
    await store.claimListener({
      endpointId: seen.id,
      owner: 'c',
      now: clock.now(),
      leaseMs: 60_000,
      limit: 0,
    });
    clock.advance(1);
    expect(await store.disableIdleListeners(clock.now() - 7 * 86_400_000, 100)).toBe(1);
    expect((await store.getEndpoint(appId, idle.id))!.disabled).toBe(true);
    expect((await store.getEndpoint(appId, seen.id))!.disabled).toBe(false);
    expect((await store.getEndpoint(appId, normal.id))!.disabled).toBe(false);
    const [delivery] = await store.listDeliveries(
      (await store.listMessages({ appId }, { limit: 1 })).data[0]!.id,
    );
    expect((await store.listDeliveries(delivery!.msgId)).find((d) => d.endpointId === idle.id)!.status).toBe(
      'failed',
    );
    expect(await store.disableIdleListeners(clock.now(), 100)).toBe(1);
  });
});
