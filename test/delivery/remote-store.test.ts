import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../src/core/errors.js';
import { type AttemptEvent, Dispatcher } from '../../src/delivery/dispatcher.js';
import {
  capabilitiesOf,
  errorFromPort,
  errorToPort,
  hostDeliveryStore,
  RemoteDeliveryStore,
} from '../../src/delivery/remote-store.js';
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

/** A SQLite store hosted on one end of a port, the remote store on the other, and a receiver. */
async function overPort(capabilities?: ConstructorParameters<typeof RemoteDeliveryStore>[1]) {
  const store = sqlite();
  const receiver: Receiver = await startReceiver();
  cleanups.push(() => receiver.close());
  const { port1, port2 } = channel();
  cleanups.push(hostDeliveryStore(store, port1));
  return { store, receiver, remote: new RemoteDeliveryStore(port2, capabilities ?? capabilitiesOf(store)) };
}

describe('the delivery store across a port (the dispatcher thread of herald serve)', () => {
  it('a dispatcher over the port delivers what the host store accepts (standing claim, claims) and resends (wake-up)', async () => {
    const { store, receiver, remote } = await overPort();
    expect(remote.standingClaims).toBeDefined();
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
    store.standingClaims.onFresh((_owner, d) => {
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

  it('without standing claims (as on PostgreSQL) claims with the next due time, and sleeps until it', async () => {
    const { store, receiver, remote } = await overPort({ standingClaims: false });
    const app = await store.createApplication({ name: 'remote' });
    const endpoint = await store.createEndpoint(app.id, { url: receiver.url });
    const now = Date.now();
    await store.acceptMessage({ appId: app.id, eventType: 'a', payload: '{}' });
    await store.acceptMessage({ appId: app.id, eventType: 'a', payload: '{}', deliverAt: now + 1_500 });
    const request = { owner: 'w', now: now + 10, leaseMs: 60_000, limit: 5, skipEndpoints: [] };
    const answer = await remote.claimDueAndNext(request);
    expect(answer.claimed.map((c) => c.endpointId)).toEqual([endpoint.id]);
    expect(answer.nextDueAt).toBe(now + 1_500);
    await store.release('w', [{ deliveryId: answer.claimed[0]!.id, dueAt: now }]);
    // An idle re-check of 10 minutes and no wake-up for the later message: only the next due
    // time the claim answered can start it.
    const dispatcher = new Dispatcher({
      store: remote,
      allowNetworks: ['127.0.0.0/8'],
      idleRecheckMs: 600_000,
    });
    const attempts = collectEvents<AttemptEvent>(dispatcher, 'attempt', 2);
    dispatcher.start();
    cleanups.push(() => dispatcher.stop());
    await attempts;
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[1]!.at).toBeGreaterThanOrEqual(now + 1_500);
  });

  it('a call the host store fails rejects with the class and message of the host error, that error as cause', async () => {
    const dir = tempDir();
    const store = openSqliteStore({ path: dir.path('closed.db') });
    await store[Symbol.asyncDispose]();
    dir.remove();
    const { port1, port2 } = channel();
    cleanups.push(hostDeliveryStore(store, port1));
    const remote = new RemoteDeliveryStore(port2);
    const error = await remote.nextDueAt().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/not open/);
    expect(((error as Error).cause as Error).stack).toMatch(/sqlite/);
  });

  it("Herald's errors cross the port with their class, code and field", () => {
    const cause = new Error('unique');
    for (const error of [
      new NotFoundError('endpoint ep_1 not found'),
      new ConflictError('an endpoint with uid a exists', { cause }),
      new ValidationError('url', 'must be http or https'),
    ]) {
      // As a MessagePort carries it: a structured clone of the plain record.
      const again = errorFromPort(structuredClone(errorToPort(error)));
      expect(again).toBeInstanceOf(error.constructor);
      expect(again).toMatchObject({ name: error.name, message: error.message, code: error.code });
      expect((again.cause as Error).stack).toBe(error.stack);
      if (error instanceof ValidationError) expect((again as ValidationError).field).toBe('url');
    }
  });

  it('has standing claims only when the host store has them', () => {
    const { port2 } = channel();
    expect(new RemoteDeliveryStore(port2, { standingClaims: false }).standingClaims).toBeUndefined();
  });

  it('answers only the delivery methods: anything else is refused and changes nothing', async () => {
    const store = sqlite();
    const app = await store.createApplication({ name: 'kept' });
    const { port1, port2 } = channel();
    cleanups.push(hostDeliveryStore(store, port1));
    const reply = new Promise((resolve) => port2.once('message', resolve));
    port2.postMessage({ calls: [{ id: 7, method: 'deleteApplication', args: [app.id] }] });
    expect(await reply).toEqual({
      replies: [
        {
          id: 7,
          ok: false,
          error: { name: 'Error', message: 'deleteApplication is not a delivery store method' },
        },
      ],
    });
    expect(await store.getApplication(app.id)).not.toBeNull();
  });
});
