/**
 * The application's background tasks, as Svix names them: `application.purge_content`
 * (Svix's `expunge-all-contents`), which expunges the payload of every message of an
 * application and its attempts' response bodies, batch by batch in id order (each batch one
 * transaction of the store). It reports `messagesPurged`, how many messages it has gone
 * through so far (their content is gone now, whether or not it was before).
 */
import type { BackgroundTask } from '../core/types.js';
import type { Store } from '../store/store.js';
import type { TaskHandler, TaskStep } from './runner.js';

/** What a purge reports before its first batch. */
export const PURGE_CONTENT_DATA = { messagesPurged: 0 } as const;

/** `POST …/msg/expunge-all-contents`. */
export const purgeContentTask: TaskHandler = {
  kind: 'application.purge_content',
  async step(task: BackgroundTask, store: Store, batchSize: number): Promise<TaskStep> {
    if (task.appId === null) throw new Error('an application.purge_content task names no application');
    const { visited, last } = await store.expungeAppContents(task.appId, task.cursor, batchSize);
    const before = typeof task.data.messagesPurged === 'number' ? task.data.messagesPurged : 0;
    const done = visited < batchSize;
    return { cursor: done ? null : last, data: { ...task.data, messagesPurged: before + visited }, done };
  },
};

/** Every application handler Herald ships. */
export const APPLICATION_TASKS: readonly TaskHandler[] = [purgeContentTask];
