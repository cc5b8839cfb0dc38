/**
 * A resend of a delivery being sent, on the store under test: refused while the sender's
 * lease lasts (the attempt in flight is the one the endpoint gets), taken once the lease has
 * expired (the sender died and nobody is sending).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ConflictError } from '../../src/core/errors.js';
import { db, openTestStore, type TestStore } from '../store-under-test.js';

let clock: ManualClock;
let t: TestStore;

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 11, 4, 9));
  t = await openTestStore('resend', { clock });
});

afterEach(async () => {
  await t.close();
});

describe(`resend of a delivery being sent, on ${db}`, () => {
  it('is refused while the lease lasts and taken once it has expired', async () => {
    const { store } = t;
    const app = await store.createApplication({ name: 'Shop' });
    const ep = await store.createEndpoint(app.id, { url: 'https://shop.example/hook' });
    const { message } = await store.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' });
    const [claimed] = await store.claimDue({
      owner: 'gone',
      now: clock.now(),
      leaseMs: 60_000,
      limit: 10,
      skipEndpoints: [],
    });
    expect(claimed?.msgId).toBe(message.id);
    await expect(store.resend(message.id, ep.id)).rejects.toThrow(ConflictError);
    expect((await store.getDelivery(message.id, ep.id))?.status).toBe('sending');
    clock.advance(60_000);
    const resent = await store.resend(message.id, ep.id);
    expect(resent).toMatchObject({ status: 'pending', dueAt: clock.now(), leaseOwner: null });
  });
});
