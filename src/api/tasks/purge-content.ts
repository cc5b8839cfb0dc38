/**
 * The `application.purge_content` background task (Svix's `expunge-all-contents`): expunges
 * the payload of every message of an application, and its attempts' response bodies, batch
 * by batch in id order (each batch one transaction of the store), then answers the task as
 * finished. It runs to completion before the route answers, as recover and replay-missing
 * do; {@link purgeAppContent} is the one entry point, to move behind a task queue later.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { newId } from '../../core/ids.js';
import type { Store } from '../../store/store.js';

/** Messages expunged per store call (one transaction each); other work runs between two. */
export const PURGE_BATCH = 500;

/** A finished purge, in Svix's `ExpungeAllContentsOut` shape, plus what it did. */
export interface PurgeTask {
  id: string;
  status: 'finished';
  task: 'application.purge_content';
  updatedAt: string;
  /** Messages visited (their content is gone now, whether or not it was before). */
  data: { messagesPurged: number };
}

/** Expunges the content of all of `appId`'s messages; throws what the store throws. */
export async function purgeAppContent(
  store: Pick<Store, 'expungeAppContents'>,
  appId: string,
  batchSize = PURGE_BATCH,
): Promise<PurgeTask> {
  let after: string | null = null;
  let purged = 0;
  for (;;) {
    const { visited, last }: { visited: number; last: string | null } = await store.expungeAppContents(
      appId,
      after,
      batchSize,
    );
    purged += visited;
    after = last;
    if (visited < batchSize) break;
    // SQLite's statements run synchronously: let requests in between two batches.
    await nextTurn();
  }
  return {
    id: `qtask_${newId('msg').slice(4)}`,
    status: 'finished',
    task: 'application.purge_content',
    updatedAt: new Date().toISOString(),
    data: { messagesPurged: purged },
  };
}
