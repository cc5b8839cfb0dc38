/**
 * What the list tests share: a Herald API on 127.0.0.1 over a fresh store of the backend under
 * test, on a manual clock (so rows can share a millisecond), the svix SDK pointed at it, and
 * attempts made the way the dispatcher makes them (claimed, then completed), with no
 * dispatcher running to take deliveries behind the test's back.
 */
import type { FastifyInstance } from 'fastify';
import { Svix } from 'svix';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { newId } from '../../src/core/ids.js';
import type { Attempt } from '../../src/core/types.js';
import type { ClaimedDelivery, Store } from '../../src/store/store.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

/** A running API over a fresh store, and how the tests reach it. */
export interface ListsFixture {
  store: Store;
  clock: ManualClock;
  svix: Svix;
  /** Where the API listens (`http://127.0.0.1:port`). */
  url: string;
  /** GETs `/api/v1{path}` with the admin token. */
  get<T = unknown>(path: string): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

const TOKEN = 'lists-admin-token';

/** Opens a fresh store on a manual clock and an API on 127.0.0.1 port 0 in front of it. */
export async function openListsFixture(name: string): Promise<ListsFixture> {
  const clock = new ManualClock();
  const under: TestStore = await openTestStore(name, { clock });
  const store = under.store;
  await store.saveToken(hashToken(TOKEN), null);
  const api: FastifyInstance = await buildApi({ store });
  const url = await api.listen({ port: 0, host: '127.0.0.1' });
  return {
    store,
    clock,
    svix: new Svix(TOKEN, { serverUrl: url }),
    url,
    async get<T>(path: string) {
      const res = await fetch(`${url}/api/v1${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return { status: res.status, body: (await res.json()) as T };
    },
    async close() {
      await api.close();
      await under.close();
    },
  };
}

/** How an attempt ended. */
export interface Outcome {
  succeeded: boolean;
  statusCode: number | null;
  /** Due again now (a retry), or finished. */
  retry?: boolean;
}

/** Which deliveries a call takes: all that are due, or those `which` keeps. */
export type Which = (d: ClaimedDelivery) => boolean;

/** Claims the due deliveries `which` keeps (leased, so sending) and gives the others back, due now. */
export async function claim(
  store: Store,
  clock: ManualClock,
  which: Which = () => true,
): Promise<ClaimedDelivery[]> {
  const now = clock.now();
  const claimed = await store.claimDue({
    owner: 'test',
    now,
    leaseMs: 60_000,
    limit: 250,
    skipEndpoints: [],
  });
  const mine = claimed.filter(which);
  const others = claimed.filter((d) => !mine.includes(d));
  if (others.length > 0)
    await store.release(
      'test',
      others.map((d) => ({ deliveryId: d.id, dueAt: now })),
    );
  return mine;
}

/**
 * Makes one attempt, at the clock's time, of every delivery due now (those `which` keeps):
 * claimed and completed as the dispatcher does. Returns the attempts.
 */
export async function attemptDue(
  store: Store,
  clock: ManualClock,
  outcome: Outcome = { succeeded: false, statusCode: 500, retry: true },
  which?: Which,
): Promise<Attempt[]> {
  const now = clock.now();
  const mine = await claim(store, clock, which);
  const attempts = mine.map(
    (d): Attempt => ({
      id: newId('atmpt', now),
      deliveryId: d.id,
      msgId: d.msgId,
      endpointId: d.endpointId,
      appId: d.appId,
      url: 'https://example.com/hook',
      trigger: d.trigger,
      succeeded: outcome.succeeded,
      statusCode: outcome.statusCode,
      responseBody: `answer of ${d.msgId}`,
      durationMs: 5,
      errorKind: outcome.succeeded ? null : outcome.statusCode === null ? 'timeout' : 'http_status',
      errorMessage: null,
      requestHeaders: {},
      createdAt: now,
    }),
  );
  await store.complete(
    attempts.map((attempt, i) => ({
      owner: 'test',
      deliveryId: mine[i]!.id,
      endpointId: mine[i]!.endpointId,
      attempt,
      next: outcome.succeeded
        ? { status: 'succeeded' }
        : outcome.retry
          ? { status: 'pending', dueAt: now }
          : { status: 'failed', exhausted: true },
      disableEndpoint: false,
    })),
    now,
    86_400_000,
  );
  return attempts;
}
