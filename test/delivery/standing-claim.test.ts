/**
 * Standing claims: a dispatcher that waits for work leaves its free capacity open, and the
 * deliveries of messages accepted next are written leased to it in the same commit and
 * handed over, with no wake-up and no claim.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AttemptEvent } from '../../src/delivery/dispatcher.js';
import type { ClaimedDelivery } from '../../src/store/store.js';
import { collectEvents, receiversClosedAfterEach } from '../helpers.js';
import { type Fixture, fixture } from './fixture.js';

const receiver = receiversClosedAfterEach();
let f: Fixture | undefined;

afterEach(async () => {
  await f?.close();
  f = undefined;
});

/** Every fresh delivery and every wake-up the store announces from now on. */
function watch(fx: Fixture) {
  const fresh: ClaimedDelivery[] = [];
  const woken: (readonly string[] | null)[] = [];
  fx.store.standingClaims!.onFresh((_owner, d) => fresh.push(...d));
  fx.store.onWake((ids) => woken.push(ids));
  return { fresh, woken };
}

const accept = (fx: Fixture, n: number) =>
  Promise.all(
    Array.from({ length: n }, (_, i) =>
      fx.store.acceptMessage({ appId: fx.appId, eventType: 'a', payload: `{"i":${i}}` }),
    ),
  );

describe('standing claims', () => {
  it('hand a waiting dispatcher the deliveries of new messages, leased in the commit, without a wake-up', async () => {
    const r = await receiver();
    f = await fixture();
    const ep = await f.store.createEndpoint(f.appId, { url: r.url });
    await f.idle();
    const seen = watch(f);
    const done = collectEvents<AttemptEvent>(f.dispatcher, 'attempt', 5);
    const accepted = await accept(f, 5);
    expect(seen.fresh.map((d) => d.msgId).sort()).toEqual(accepted.map((a) => a.message.id).sort());
    expect(seen.woken).toEqual([]);
    expect((await done).every((e) => e.attempt.succeeded)).toBe(true);
    for (const { message } of accepted) {
      expect((await f.store.getDelivery(message.id, ep.id))?.status).toBe('succeeded');
    }
  });

  it('take no more than the free capacity; the rest is woken for and claimed later', async () => {
    const held: (() => void)[] = [];
    const r = await receiver((_req, res) => held.push(() => res.end('ok')));
    f = await fixture({ concurrency: 4 });
    await f.store.createEndpoint(f.appId, { url: r.url });
    await f.idle();
    const seen = watch(f);
    const done = collectEvents<AttemptEvent>(f.dispatcher, 'attempt', 10);
    await accept(f, 10);
    expect(seen.fresh).toHaveLength(4);
    expect(seen.woken.length).toBeGreaterThan(0);
    expect(f.dispatcher.inFlight).toBeLessThanOrEqual(4);
    // Answer everything as it arrives; the 6 that waited are claimed as room frees up.
    const answer = setInterval(() => {
      for (const release of held.splice(0)) release();
    }, 5);
    try {
      const events = await done;
      expect(new Set(events.map((e) => e.attempt.msgId)).size).toBe(10);
    } finally {
      clearInterval(answer);
    }
  });

  it('are withdrawn when the dispatcher stops: a message accepted afterwards waits, pending', async () => {
    const r = await receiver();
    f = await fixture();
    const ep = await f.store.createEndpoint(f.appId, { url: r.url });
    await f.idle();
    await f.dispatcher.stop();
    const [accepted] = await accept(f, 1);
    const delivery = await f.store.getDelivery(accepted!.message.id, ep.id);
    expect(delivery?.status).toBe('pending');
    expect(r.received).toHaveLength(0);
  });

  it('go to their own worker only: two dispatchers on one store send every delivery once', async () => {
    const r = await receiver();
    f = await fixture();
    const fx = f;
    await fx.store.createEndpoint(fx.appId, { url: r.url });
    const second = fx.another('second');
    await Promise.all([fx.idle(), fx.idle('second')]);
    const owners = new Set<string>();
    fx.store.standingClaims!.onFresh((owner) => owners.add(owner));
    const done = new Promise<void>((resolve) => {
      let n = 0;
      const count = () => {
        if (++n === 50) resolve();
      };
      fx.dispatcher.on('attempt', count);
      second.on('attempt', count);
    });
    const accepted = await accept(fx, 50);
    await done;
    // Stopping lets any attempt still open finish: a second send would show below.
    await Promise.all([second.stop(), fx.dispatcher.stop()]);
    expect(owners.size).toBeGreaterThan(0);
    const ids = r.received.map((x) => String(x.headers['webhook-id']));
    expect(ids).toHaveLength(50);
    expect(new Set(ids)).toEqual(new Set(accepted.map((a) => a.message.id)));
  });

  it('of a worker that died leave leases that expire; another worker sends those deliveries', async () => {
    const r = await receiver();
    f = await fixture({ manualClock: true, leaseMs: 60_000 });
    const fx = f;
    await fx.dispatcher.stop();
    const ep = await fx.store.createEndpoint(fx.appId, { url: r.url });
    // The "dead" worker leaves a standing claim and never does anything with what fills it.
    const stopListening = fx.store.standingClaims!.onFresh(() => undefined);
    await fx.store.claimDue({
      owner: 'dead-worker',
      now: fx.clock!.now(),
      leaseMs: 60_000,
      limit: 100,
      skipEndpoints: [],
    });
    await fx.store.standingClaims!.stand('dead-worker', { leaseMs: 60_000, limit: 100, skipEndpoints: [] });
    const accepted = await accept(fx, 20);
    stopListening();
    for (const { message } of accepted) {
      expect((await fx.store.getDelivery(message.id, ep.id))?.status).toBe('sending');
    }
    const survivor = fx.another('survivor');
    // Its first claim comes back empty while the leases hold, before the clock moves.
    await fx.idle('survivor');
    expect(r.received).toHaveLength(0);
    const all = collectEvents<AttemptEvent>(survivor, 'attempt', 20);
    fx.clock!.advance(60_000);
    await all;
    expect(new Set(r.received.map((x) => x.headers['webhook-id']))).toEqual(
      new Set(accepted.map((a) => a.message.id)),
    );
  });
});
