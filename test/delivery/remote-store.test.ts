import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { type AttemptEvent, Dispatcher } from '../../src/delivery/dispatcher.js';
import { hostDeliveryStore, RemoteDeliveryStore } from '../../src/store/remote.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { collectEvents, type Receiver, startReceiver, tempDir } from '../helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function sqlite(): SqliteStore {
  const dir = tempDir();
  const store = openSqliteStore({ path: dir.path('herald.db') });
  cleanups.push(async () => {
    await store[Symbol.asyncDispose]();
    dir.remove();
  });
  return store;
}

function channel() {
  const { port1, port2 } = new MessageChannel();
  cleanups.push(() => {
    port1.close();
    port2.close();
  });
  return { port1, port2 };
}

describe('the delivery store across a port (the dispatcher thread of herald serve)', () => {
  it('a dispatcher over the port delivers what the host store accepts (standing claim, claims) and resends (wake-up)', async () => {
    const store = sqlite();
    const receiver: Receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const { port1, port2 } = channel();
    cleanups.push(hostDeliveryStore(store, port1));
    const remote = new RemoteDeliveryStore(port2);
    // An idle re-check of 10 minutes: only the forwarded wake-up can start these deliveries.
    const dispatcher = new Dispatcher({
      store: remote,
      allowNetworks: ['127.0.0.0/8'],
      idleRecheckMs: 600_000,
    }).start();
    cleanups.push(() => dispatcher.stop());
    const app = await store.createApplication({ name: 'remote' });
    const endpoint = await store.createEndpoint(app.id, { url: receiver.url });
    // Let the dispatcher find nothing and go to sleep first.
    await new Promise((resolve) => setTimeout(resolve, 50));

    let fresh = 0;
    let wakes = 0;
    store.onFresh((_owner, d) => {
      fresh += d.length;
    });
    store.onWake(() => {
      wakes++;
    });
    // More than one claim's worth (128): the standing claim takes the first ones, the rest
    // wait for a claim.
    const done = collectEvents<AttemptEvent>(dispatcher, 'attempt', 300);
    const accepted = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        store.acceptMessage({ appId: app.id, eventType: 'thing.happened', payload: `{"n":${i}}` }),
      ),
    );
    const events = await done;
    expect(events.every((e) => e.attempt.succeeded)).toBe(true);
    expect(fresh).toBeGreaterThan(0);
    expect(fresh).toBeLessThan(300);
    expect(wakes).toBeGreaterThan(0);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id']))).toEqual(
      new Set(accepted.map((a) => a.message.id)),
    );
    // Recorded by the host store: every delivery succeeded, with its attempt.
    for (const { message } of accepted) {
      const delivery = await store.getDelivery(message.id, endpoint.id);
      expect(delivery?.status).toBe('succeeded');
      expect(delivery?.attempts).toBe(1);
    }
    expect((await store.countDeliveries(endpoint.id)).succeeded).toBe(300);
    // A resend makes a delivery due without a standing claim: only the wake-up passed over
    // the port can start it.
    const again = collectEvents<AttemptEvent>(dispatcher, 'attempt', 1);
    await store.resend(accepted[0]!.message.id, endpoint.id);
    expect((await again)[0]?.attempt.trigger).toBe('manual');
  });

  it('a call the host store fails rejects with its message', async () => {
    const dir = tempDir();
    const store = openSqliteStore({ path: dir.path('closed.db') });
    await store[Symbol.asyncDispose]();
    dir.remove();
    const { port1, port2 } = channel();
    cleanups.push(hostDeliveryStore(store, port1));
    const remote = new RemoteDeliveryStore(port2);
    await expect(remote.nextDueAt()).rejects.toThrow(/not open/);
  });

  it('answers only the delivery methods: anything else is refused and changes nothing', async () => {
    const store = sqlite();
    const app = await store.createApplication({ name: 'kept' });
    const { port1, port2 } = channel();
    cleanups.push(hostDeliveryStore(store, port1));
    const reply = new Promise((resolve) => port2.once('message', resolve));
    port2.postMessage({ calls: [{ id: 7, method: 'deleteApplication', args: [app.id] }] });
    expect(await reply).toEqual({
      replies: [{ id: 7, ok: false, error: 'deleteApplication is not a delivery store method' }],
    });
    expect(await store.getApplication(app.id)).not.toBeNull();
  });
});
