/**
 * An inbound request log as the migrations before retention left it (every body whole, no
 * sizes, no places in the log), and what the store must make of it once migrated. Each
 * backend's test file writes it with its own SQL, then opens the store on it.
 */
import { expect } from 'vitest';
import type { Store } from '../../src/store/store.js';

/** The application, source and requests to write, oldest request first. */
export const OLD_LOG = {
  app: { id: 'app_old', name: 'Old', createdAt: 1 },
  source: { id: 'src_old', name: 'Old source', provider: 'none', secrets: '[]' },
  // Ids of the shape `newId` makes, older than any it makes now.
  requests: [
    { id: `inreq_${'0'.repeat(26)}1`, status: 'rejected', reason: 'no_matching_signature', body: 4096 },
    { id: `inreq_${'0'.repeat(26)}2`, status: 'accepted', reason: null, body: 4096 },
    { id: `inreq_${'0'.repeat(26)}3`, status: 'duplicate', reason: null, body: 10 },
  ],
} as const;

/** The body of an old request: `size` bytes of one letter per request. */
export function oldBody(index: number, size: number): Buffer {
  return Buffer.alloc(size, 0x61 + index);
}

/**
 * Checks a store opened on {@link OLD_LOG} with `maxPerSource: 3`: sizes backfilled, the
 * rejected body cut to 1 KiB, and the cap counting the old requests, oldest out first.
 */
export async function expectMigratedLog(store: Store): Promise<void> {
  const [first, second, third] = OLD_LOG.requests;
  const sizes = async () =>
    (await store.listInbound(OLD_LOG.source.id, { limit: 10 })).data.map((r) => [
      r.id,
      r.body.length,
      r.bodySize,
    ]);
  expect(await sizes()).toEqual([
    [third.id, 10, 10],
    [second.id, 4096, 4096],
    [first.id, 1024, 4096],
  ]);
  const log = await store.listInbound(OLD_LOG.source.id, { limit: 10 });
  expect(log.data[2]!.body.equals(oldBody(0, 1024))).toBe(true);
  const body = Buffer.from('{}');
  const recorded = await store.recordInbound({
    sourceId: OLD_LOG.source.id,
    status: 'accepted',
    reason: null,
    headers: {},
    body,
    bodySize: body.length,
    msgId: null,
  });
  expect((await sizes()).map(([id]) => id)).toEqual([recorded.id, third.id, second.id]);
}
