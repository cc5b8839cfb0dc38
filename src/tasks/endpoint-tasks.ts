/**
 * The endpoint's background tasks, as Svix names them: `endpoint.recover` (failed deliveries
 * made due again), `endpoint.replay` (replay-missing: deliveries created for messages the
 * endpoint never got) and `endpoint.bulk-replay` (deliveries matching filters sent again).
 * Each reports `deliveries`, how many it made due or created so far, with its window, and
 * `through`: the creation time of the record it has got to (ids sort by time), so that a
 * client can tell how far through the window it is.
 */
import { idTime } from '../core/ids.js';
import type { BackgroundTask } from '../core/types.js';
import type { BatchResult, BulkReplayFilter, Store, TimeWindow } from '../store/store.js';
import type { TaskHandler, TaskStep } from './runner.js';

/** The params every endpoint task keeps: its window, in ms. */
export interface EndpointTaskParams extends TimeWindow {
  [key: string]: unknown;
}

/** What an endpoint task reports before its first batch. */
export function endpointTaskData(window: TimeWindow): Record<string, unknown> {
  return {
    since: new Date(window.since).toISOString(),
    until: window.until === null ? null : new Date(window.until).toISOString(),
    deliveries: 0,
    through: null,
  };
}

/** A handler that runs `batch` over the task's endpoint from its cursor, adding up `deliveries`. */
function endpointTask(
  kind: string,
  batch: (
    store: Store,
    endpointId: string,
    params: EndpointTaskParams,
    after: string | null,
    limit: number,
  ) => Promise<BatchResult>,
): TaskHandler {
  return {
    kind,
    async step(task: BackgroundTask, store: Store, batchSize: number): Promise<TaskStep> {
      if (task.endpointId === null) throw new Error(`a ${kind} task names no endpoint`);
      const params = task.params as EndpointTaskParams;
      const { count, next } = await batch(store, task.endpointId, params, task.cursor, batchSize);
      const before = typeof task.data.deliveries === 'number' ? task.data.deliveries : 0;
      const at = next === null ? null : idTime(next);
      const through = at === null ? (task.data.through ?? null) : new Date(at).toISOString();
      return {
        cursor: next,
        data: { ...task.data, deliveries: before + count, through },
        done: next === null,
      };
    },
  };
}

/** `POST …/recover`. */
export const recoverTask = endpointTask('endpoint.recover', (store, id, p, after, limit) =>
  store.recoverBatch(id, { since: p.since, until: p.until }, after, limit),
);

/** `POST …/replay-missing`. */
export const replayMissingTask = endpointTask('endpoint.replay', (store, id, p, after, limit) =>
  store.replayMissingBatch(id, { since: p.since, until: p.until }, after, limit),
);

/** `POST …/bulk-replay`; its params are a {@link BulkReplayFilter}. */
export const bulkReplayTask = endpointTask('endpoint.bulk-replay', (store, id, p, after, limit) =>
  store.bulkReplayBatch(id, p as unknown as BulkReplayFilter, after, limit),
);

/** Every handler Herald ships. */
export const ENDPOINT_TASKS: readonly TaskHandler[] = [recoverTask, replayMissingTask, bulkReplayTask];
