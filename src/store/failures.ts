/**
 * The failure groups as the dashboard reads them (`Store.listFailures`; the words are in
 * `src/core/failures.ts`). Each backend reads the groups summed over their writers, one row
 * per endpoint and cause (the table holds a row per group, never one per attempt), and the
 * state of the endpoints on a page; this module groups by host when asked, orders, pages,
 * and says which groups are still failing, the same way for both.
 */
import type { FailureCount } from '../core/failures.js';

/** How long a group not seen is kept (14 days, as far back as recover reaches). */
export const FAILURES_KEPT_MS = 14 * 86_400_000;

/** Endpoints listed per host group at most (newest failure first); `endpointCount` has them all. */
export const HOST_ENDPOINTS_MAX = 100;

/**
 * Deliveries failed now counted per endpoint at most, unless the query asks for `exact`
 * counts: an index range of a million failed deliveries takes a few hundred ms to count
 * (BENCHMARKS.md), too long for each of a page's 50 endpoints; one endpoint's exact count,
 * for a confirmation, is one such count.
 */
export const FAILED_NOW_CAP = 10_000;

/** One endpoint's failures of one cause, summed over the writers' rows: what batches add up to. */
export type FailureRow = FailureCount;

/** What a page needs to know of an endpoint now. */
export interface FailureEndpointState {
  url: string;
  disabled: boolean;
  appName: string;
  /** Its deliveries failed now, created since the query's `failedSince` ({@link FAILED_NOW_CAP} at most unless `exact`). */
  failedNow: number;
  /** The start of its failure streak; null when its last attempt succeeded. */
  streakSince: number | null;
}

/** What `Store.listFailures` reads. */
export interface FailureQuery {
  /** One group per endpoint and cause, or per host and cause (across endpoints and applications). */
  groupBy: 'endpoint' | 'host';
  /** Only this application's endpoints. */
  appId?: string;
  /** Only groups seen at or after this time (ms). */
  since?: number;
  /** Only this endpoint's groups. */
  endpointId?: string;
  /** Only the groups of endpoints on this host. */
  host?: string;
  /** Count the deliveries failed now exactly, however many; else up to {@link FAILED_NOW_CAP}. */
  exact?: boolean;
  /** Count the deliveries failed now that were created at or after this time (ms): recover's reach. */
  failedSince: number;
  limit: number;
  /** The page after this group (the `next` of the page before). */
  after?: FailureCursor;
}

/** Where a page ends: groups are ordered by last failure, newest first, then key. */
export interface FailureCursor {
  lastAt: number;
  key: string;
}

/** An endpoint in a failure group. */
export interface FailureEndpoint {
  endpointId: string;
  appId: string;
  appName: string;
  url: string;
  disabled: boolean;
  attempts: number;
  firstAt: number;
  lastAt: number;
  lastStatusCode: number | null;
  /** Its deliveries failed now (since the query's `failedSince`): what recover would send again. */
  failedNow: number;
  /** `failedNow` stopped at {@link FAILED_NOW_CAP}: there may be more. */
  failedNowCapped: boolean;
  /** Its last failure of this cause came after its last success, or it has deliveries failed now. */
  failing: boolean;
}

/** A failure group: an endpoint's, or a host's, failed attempts of one cause. */
export interface FailureGroup {
  /** `endpointId cause` or `host cause`. */
  key: string;
  cause: string;
  host: string;
  attempts: number;
  firstAt: number;
  lastAt: number;
  /** The status code of the group's last failure (null: no response). */
  lastStatusCode: number | null;
  /** Some endpoint of the group is still failing. */
  failing: boolean;
  /** The sum over the listed endpoints. */
  failedNow: number;
  /** Some endpoint's `failedNow` stopped at the cap: the sum is a floor. */
  failedNowCapped: boolean;
  /** How many endpoints the group has (host groups list {@link HOST_ENDPOINTS_MAX} at most). */
  endpointCount: number;
  /** Newest failure first. */
  endpoints: FailureEndpoint[];
}

/** A page of failure groups; `next` is null on the last page. */
export interface FailurePage {
  data: FailureGroup[];
  next: FailureCursor | null;
}

const newestFirst = (a: { lastAt: number; key: string }, b: { lastAt: number; key: string }) =>
  b.lastAt - a.lastAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * A page of groups from a backend's rows (already filtered by application and `since`), and
 * the state of the page's endpoints, read by `endpoints` once the page is cut.
 */
export async function failurePage(
  query: FailureQuery,
  rows: readonly FailureRow[],
  endpoints: (ids: string[]) => Promise<Map<string, FailureEndpointState>>,
): Promise<FailurePage> {
  const byKey = new Map<string, { key: string; lastAt: number; rows: FailureRow[] }>();
  for (const r of rows) {
    if (query.endpointId !== undefined && r.endpointId !== query.endpointId) continue;
    if (query.host !== undefined && r.host !== query.host) continue;
    const key = `${query.groupBy === 'host' ? r.host : r.endpointId} ${r.cause}`;
    const g = byKey.get(key);
    if (g) {
      g.rows.push(r);
      g.lastAt = Math.max(g.lastAt, r.lastAt);
    } else byKey.set(key, { key, lastAt: r.lastAt, rows: [r] });
  }
  const after = query.after;
  const sorted = [...byKey.values()].filter((g) => !after || newestFirst(g, after) > 0).sort(newestFirst);
  const page = sorted.slice(0, query.limit);
  const listed = page.map((g) =>
    [...g.rows].sort((a, b) => b.lastAt - a.lastAt).slice(0, HOST_ENDPOINTS_MAX),
  );
  const state = await endpoints([...new Set(listed.flat().map((r) => r.endpointId))]);
  const data = page.map((g, i): FailureGroup => {
    const members = listed[i]!.flatMap((r): FailureEndpoint[] => {
      const s = state.get(r.endpointId);
      if (!s) return []; // deleted since the rows were read
      const failing = (s.streakSince !== null && r.lastAt >= s.streakSince) || s.failedNow > 0;
      const failedNowCapped = !query.exact && s.failedNow >= FAILED_NOW_CAP;
      const { appName, url, disabled, failedNow } = s;
      return [{ ...r, appName, url, disabled, failedNow, failedNowCapped, failing }];
    });
    const last = g.rows.reduce((a, b) => (b.lastAt > a.lastAt ? b : a));
    return {
      key: g.key,
      cause: last.cause,
      host: last.host,
      attempts: g.rows.reduce((n, r) => n + r.attempts, 0),
      firstAt: g.rows.reduce((n, r) => Math.min(n, r.firstAt), Number.POSITIVE_INFINITY),
      lastAt: g.lastAt,
      lastStatusCode: last.lastStatusCode,
      failing: members.some((m) => m.failing),
      failedNow: members.reduce((n, m) => n + m.failedNow, 0),
      failedNowCapped: members.some((m) => m.failedNowCapped),
      endpointCount: g.rows.length,
      endpoints: members,
    };
  });
  const end = page[page.length - 1];
  return { data, next: sorted.length > query.limit && end ? { lastAt: end.lastAt, key: end.key } : null };
}
