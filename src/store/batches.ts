/**
 * What the background-task batches of both backends share: a time window as a range of ids.
 * Ids sort by creation time (`core/ids.ts`), so the records created in [since, until) lie
 * between the smallest id of `since` and the smallest of `until`, and a batch reads at most
 * its limit of them on an index by id, however few match. A window without an end has no
 * upper id: no string is safely "after every id" once a database compares text by a
 * linguistic collation (where '~' sorts before letters).
 */
import { type IdPrefix, idFloor } from '../core/ids.js';
import type { TimeWindow } from './store.js';

/** Where a batch starts (after `after`, or at the window's start) and the id it stays below, if any. */
export function idRange(
  prefix: IdPrefix,
  window: TimeWindow,
  after: string | null,
): { start: string; end: string | null } {
  return {
    start: after ?? idFloor(prefix, window.since),
    end: window.until === null ? null : idFloor(prefix, window.until),
  };
}

/** Whether a time is in [since, until). */
export function inWindow(at: number, window: TimeWindow): boolean {
  return at >= window.since && (window.until === null || at < window.until);
}
