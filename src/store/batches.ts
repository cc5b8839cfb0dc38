/**
 * What the background-task batches of both backends share: a time window as a range of ids.
 * Ids sort by creation time (`core/ids.ts`), so the records created in [since, until) lie
 * between the smallest id of `since` and the smallest of `until`, and a batch reads at most
 * its limit of them on an index by id, however few match.
 */
import { type IdPrefix, idFloor } from '../core/ids.js';
import type { TimeWindow } from './store.js';

/** Where a batch starts (after `after`, or at the window's start) and the id it stays below. */
export function idRange(
  prefix: IdPrefix,
  window: TimeWindow,
  after: string | null,
): { start: string; end: string } {
  return {
    start: after ?? idFloor(prefix, window.since),
    // '~' sorts after every id (base62 digits and '_' are below it).
    end: window.until === null ? '~' : idFloor(prefix, window.until),
  };
}

/** Whether a time is in [since, until). */
export function inWindow(at: number, window: TimeWindow): boolean {
  return at >= window.since && (window.until === null || at < window.until);
}
