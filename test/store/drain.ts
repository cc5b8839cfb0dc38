/**
 * A recover or replay-missing run to its end through the store's batches, as the background
 * task runs it (src/tasks/endpoint-tasks.ts): what the contract cases count at once.
 */
import type { Store } from '../../src/store/store.js';

/** Runs `recoverBatch` until the endpoint's deliveries are all looked at; how many became due. */
export function recoverAll(store: Store, endpointId: string, since: number, until: number | null) {
  return drain((after) => store.recoverBatch(endpointId, { since, until }, after, 100));
}

/** Runs `replayMissingBatch` until the application's messages are all looked at; how many were made. */
export function replayMissingAll(store: Store, endpointId: string, since: number, until: number | null) {
  return drain((after) => store.replayMissingBatch(endpointId, { since, until }, after, 100));
}

async function drain(batch: (after: string | null) => Promise<{ count: number; next: string | null }>) {
  let total = 0;
  let after: string | null = null;
  do {
    const { count, next } = await batch(after);
    total += count;
    after = next;
  } while (after !== null);
  return total;
}
