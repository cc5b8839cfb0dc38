/** A store, a dispatcher and receivers wired together for one test. */
import { ManualClock } from '../../src/core/clock.js';
import type { DispatcherOptions } from '../../src/delivery/config.js';
import { type AttemptEvent, Dispatcher } from '../../src/delivery/dispatcher.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { collectEvents, tempDir, waitForEvent } from '../helpers.js';

export interface Fixture {
  store: SqliteStore;
  dispatcher: Dispatcher;
  clock: ManualClock | undefined;
  appId: string;
  /** Resolves with the next committed attempt (optionally of one endpoint). */
  nextAttempt(endpointId?: string): Promise<AttemptEvent>;
  attempts(count: number, endpointId?: string): Promise<AttemptEvent[]>;
  /** Starts another worker on the same store and clock; close() stops it. */
  another(workerId?: string): Dispatcher;
  close(): Promise<void>;
}

/** Options: `manualClock` runs time by hand; the rest goes to the dispatcher. */
export async function fixture(
  options: Partial<DispatcherOptions> & { manualClock?: boolean } = {},
): Promise<Fixture> {
  const dir = tempDir();
  const { manualClock, ...dispatcherOptions } = options;
  const clock = manualClock ? new ManualClock(Date.now()) : undefined;
  const store = openSqliteStore({ path: dir.path('herald.db'), ...(clock ? { clock } : {}) });
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
    dispatcher,
    clock,
    appId: app.id,
    nextAttempt: (endpointId) => waitForEvent(dispatcher, 'attempt', byEndpoint(endpointId)),
    attempts: (count, endpointId) => collectEvents(dispatcher, 'attempt', count, byEndpoint(endpointId)),
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
      await store[Symbol.asyncDispose]();
      dir.remove();
    },
  };
}
