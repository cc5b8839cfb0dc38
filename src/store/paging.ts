/**
 * Keyset paging as the Svix API pages, shared by both backends: a page is read from an
 * index in key order, never by offset, so each page costs its own size whatever the table's.
 *
 * An iterator `X` (a page's `iterator`, its last key) asks for the page after X in the list's
 * order; `-X` (a page's `prevIterator`, `-` and its first key) for the page just before X,
 * read against the list's order from X and turned round, so it comes in the list's order too.
 * `done` says whether nothing is left past the page in the direction it was read.
 */
import { type IdPrefix, idCeiling, idFloor } from '../core/ids.js';
import type { Order, Page, PageRequest } from './store.js';

/** How to read one page: the comparison with the cursor, the SQL order, and whether to turn the rows round. */
export interface Keyset {
  /** The key the page starts from, exclusive; `null` reads from the start of the list (or of the window). */
  cursor: string | null;
  /** How a row's key compares with the cursor: `>` or `<`. */
  op: '>' | '<';
  /** The order of the SQL query. */
  sql: 'ASC' | 'DESC';
  /** Read against the list's order (a page before the cursor): the rows are turned round. */
  backward: boolean;
}

/**
 * How to read `page` of a list whose order is `page.order`, or `defaultOrder`. With
 * `fromOldest` and no iterator, a newest-first list reads its oldest page first (Svix's
 * `after` without `before`: a poller gets what came right after its time, then pages forward
 * with `prevIterator`, and never skips what the newest page would have hidden).
 */
export function keyset(page: PageRequest, defaultOrder: Order, fromOldest = false): Keyset {
  const ascending = (page.order ?? defaultOrder) === 'ascending';
  const iterator = page.iterator ?? null;
  const backward = iterator === null ? fromOldest && !ascending : iterator.startsWith('-');
  const cursor = iterator === null ? null : backward ? iterator.slice(1) : iterator;
  // Reading up the keys: the list's order is ascending and we go with it, or descending and we go against it.
  const up = ascending !== backward;
  return { cursor, op: up ? '>' : '<', sql: up ? 'ASC' : 'DESC', backward };
}

/**
 * The page of `rows`, read with `keyset(page, …)` and `LIMIT page.limit + 1`: the extra row
 * only tells that more exist. An empty page read backward gives its iterator back as
 * `prevIterator`, so that a poller asks again from where it was.
 */
export function pageFrom<T>(rows: T[], page: PageRequest, ks: Keyset, key: (row: T) => string): Page<T> {
  const done = rows.length <= page.limit;
  const data = done ? rows : rows.slice(0, page.limit);
  if (ks.backward) data.reverse();
  const first = data[0];
  const last = data[data.length - 1];
  return {
    data,
    iterator: last === undefined ? null : key(last),
    prevIterator:
      first !== undefined ? `-${key(first)}` : ks.backward && ks.cursor !== null ? `-${ks.cursor}` : null,
    done,
  };
}

/**
 * A time window (`before`/`after`, exclusive, in ms) as bounds on ids of `prefix`: an id
 * begins with its record's creation time, which is the record's `createdAt`, so `id < below`
 * is `createdAt < before` and `id > above` is `createdAt > after`, and the window is a range
 * of the index the list reads anyway rather than a filter on every row it passes.
 */
export function idWindow(
  prefix: IdPrefix,
  window: { before?: number; after?: number },
): { below?: string; above?: string } {
  return {
    ...(window.before !== undefined ? { below: idFloor(prefix, window.before) } : {}),
    ...(window.after !== undefined ? { above: idCeiling(prefix, window.after) } : {}),
  };
}

/**
 * The range of the strings that start with `prefix`, in byte order (SQLite's BINARY, or
 * COLLATE "C"): `from <= s < to`. U+10FFFF is the greatest code point, whose UTF-8 bytes
 * sort after those of any other.
 */
export function prefixRange(prefix: string): { from: string; to: string } {
  return { from: prefix, to: `${prefix}\u{10FFFF}` };
}
