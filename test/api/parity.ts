/**
 * What the message-parity suites share: a store of the backend under test, a dispatcher and
 * the real API on 127.0.0.1 port 0, driven through the official `svix` client; optionally on
 * a manual clock (store and dispatcher), so that due times are reached by advancing it.
 */
import { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { type ApiException, Svix } from 'svix';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { type AttemptEvent, Dispatcher } from '../../src/delivery/dispatcher.js';
import type { Resolver } from '../../src/delivery/ssrf.js';
import type { Store } from '../../src/store/store.js';
import { watchEveryClaim } from '../delivery/claims.js';
import { collectEvents, waitForEvent } from '../helpers.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

export { failure } from './svix-calls.js';

/** A claim the dispatcher made: at what time, and how many deliveries it got. */
export interface SeenClaim {
  now: number;
  claimed: number;
}

export interface Parity {
  svix: Svix;
  url: string;
  token: string;
  store: Store;
  testStore: TestStore;
  clock: ManualClock | undefined;
  dispatcher: Dispatcher;
  /** Resolves with the next committed attempt matching `predicate`. */
  nextAttempt(predicate?: (e: AttemptEvent) => boolean): Promise<AttemptEvent>;
  /** Resolves with the next `count` committed attempts. */
  attempts(count: number): Promise<AttemptEvent[]>;
  /** Resolves with the dispatcher's next claim made at `now >= at` (the real store's answer). */
  claimAt(at: number): Promise<SeenClaim>;
  /** A raw request to `/api/v1{path}` with the admin token. */
  raw(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; json: unknown }>;
  close(): Promise<void>;
}

export async function startParity(
  name: string,
  options: { manualClock?: boolean; taskBatchSize?: number; resolver?: Resolver } = {},
): Promise<Parity> {
  const clock = options.manualClock ? new ManualClock(Date.now()) : undefined;
  const testStore = await openTestStore(name, clock ? { clock } : {});
  const { store } = testStore;
  const token = `parity_${Math.random().toString(36).slice(2)}`;
  await store.saveToken(hashToken(token), null);
  // Every claim goes through to the real store unchanged; its time and size are told.
  const claims = new EventEmitter();
  watchEveryClaim(store, {
    ended(request, claimed) {
      if (claimed) claims.emit('claim', { now: request.now, claimed: claimed.length } satisfies SeenClaim);
    },
  });
  const dispatcher = new Dispatcher({
    store,
    allowNetworks: ['127.0.0.0/8'],
    random: () => 0.5,
    ...(clock ? { clock } : {}),
    ...(options.resolver ? { resolver: options.resolver } : {}),
  }).start();
  const api: FastifyInstance = await buildApi({
    store,
    ...(options.taskBatchSize ? { tasks: { batchSize: options.taskBatchSize } } : {}),
  });
  const url = await api.listen({ port: 0, host: '127.0.0.1' });
  return {
    svix: new Svix(token, { serverUrl: url }),
    url,
    token,
    store,
    testStore,
    clock,
    dispatcher,
    nextAttempt: (predicate = () => true) => waitForEvent<AttemptEvent>(dispatcher, 'attempt', predicate),
    attempts: (count) => collectEvents<AttemptEvent>(dispatcher, 'attempt', count),
    claimAt: (at) => waitForEvent<SeenClaim>(claims, 'claim', (c) => c.now >= at),
    async raw(method, path, body, headers = {}) {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: {
          ...headers,
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, json: text === '' ? null : JSON.parse(text) };
    },
    async close() {
      await api.close();
      await dispatcher.stop();
      await testStore.close();
    },
  };
}

/** The `loc`s of a 422's details. */
export function locs(error: ApiException<unknown>): string[][] {
  return ((error.body as { detail?: { loc: string[] }[] }).detail ?? []).map((d) => d.loc);
}
