/** A store of the backend under test, a dispatcher and receivers wired together for one test. */
import { EventEmitter } from 'node:events';
import { ManualClock } from '../../src/core/clock.js';
import type { DispatcherOptions } from '../../src/delivery/config.js';
import { type AttemptEvent, Dispatcher } from '../../src/delivery/dispatcher.js';
import type { Store } from '../../src/store/store.js';
import { collectEvents, waitForEvent } from '../helpers.js';
import { openTestStore, type TestStore } from '../store-under-test.js';
import { watchEveryClaim } from './claims.js';

export interface Fixture {
  store: Store;
  /** The store's file or schema, for raw reads. */
  testStore: TestStore;
  dispatcher: Dispatcher;
  clock: ManualClock | undefined;
  appId: string;
  /** Resolves with the next committed attempt (optionally of one endpoint). */
  nextAttempt(endpointId?: string): Promise<AttemptEvent>;
  attempts(count: number, endpointId?: string): Promise<AttemptEvent[]>;
  /**
   * Resolves once worker `workerId` (default the fixture's dispatcher) has come back from a
   * claim with room to spare: it has taken all that was due and waits (on SQLite, with its
   * standing claim open). An event, not a pause: a test proves "nothing was due" with it.
   */
  idle(workerId?: string): Promise<void>;
  /** Starts another worker on the same store and clock; close() stops it. */
  another(workerId?: string): Dispatcher;
  close(): Promise<void>;
}

/**
 * Watches the claims the dispatchers make on `store` (the real store: each call goes through
 * unchanged, however it claims: {@link watchEveryClaim}), and tells, per worker, whether its
 * last claim came back short of its limit.
 */
function watchClaims(store: Store) {
  const claims = new EventEmitter();
  const state = new Map<string, { open: number; short: boolean }>();
  watchEveryClaim(store, {
    started(request) {
      const s = state.get(request.owner) ?? { open: 0, short: false };
      state.set(request.owner, s);
      s.open++;
    },
    ended(request, claimed) {
      const s = state.get(request.owner)!;
      s.open--;
      if (claimed) s.short = claimed.length < request.limit;
      claims.emit('claimed', request.owner);
    },
  });
  const isIdle = (owner: string) => {
    const s = state.get(owner);
    return s !== undefined && s.open === 0 && s.short;
  };
  return (owner: string) =>
    isIdle(owner)
      ? Promise.resolve()
      : waitForEvent<string>(claims, 'claimed', (o) => o === owner && isIdle(owner)).then(() => undefined);
}

/** Options: `manualClock` runs time by hand; the rest goes to the dispatcher. */
export async function fixture(
  options: Partial<DispatcherOptions> & { manualClock?: boolean } = {},
): Promise<Fixture> {
  const { manualClock, ...dispatcherOptions } = options;
  const clock = manualClock ? new ManualClock(Date.now()) : undefined;
  const testStore = await openTestStore('delivery', clock ? { clock } : {});
  const { store } = testStore;
  const idle = watchClaims(store);
  const app = await store.createApplication({ name: 'test app' });
  const dispatcher = new Dispatcher({
    store,
    allowNetworks: ['127.0.0.0/8'],
    random: () => 0.5,
    ...(clock ? { clock } : {}),
    ...dispatcherOptions,
  }).start();
  const others: Dispatcher[] = [];
  const byEndpoint = (endpointId?: string) => (e: AttemptEvent) =>
    endpointId === undefined || e.attempt.endpointId === endpointId;
  return {
    store,
    testStore,
    dispatcher,
    clock,
    appId: app.id,
    nextAttempt: (endpointId) => waitForEvent(dispatcher, 'attempt', byEndpoint(endpointId)),
    attempts: (count, endpointId) => collectEvents(dispatcher, 'attempt', count, byEndpoint(endpointId)),
    idle: (workerId) => idle(workerId ?? dispatcher.config.workerId),
    another(workerId) {
      const other = new Dispatcher({
        store,
        allowNetworks: ['127.0.0.0/8'],
        ...(clock ? { clock } : {}),
        ...(workerId ? { workerId } : {}),
      }).start();
      others.push(other);
      return other;
    },
    async close() {
      for (const other of others) await other.stop();
      await dispatcher.stop();
      await testStore.close();
    },
  };
}
