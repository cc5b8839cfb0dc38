/**
 * Failures grouped by endpoint and cause, for the dashboard (issue 18): what a batch of
 * completed attempts adds to the store's failure groups, as data. Both backends compute it
 * with {@link tallyFailures} and write it in the batch's own transaction, so an outage of a
 * million failed attempts reads as one row without a scan of the attempts.
 *
 * Words:
 * - **cause**: what an attempt failed on: the class of the status it got (`http_5xx`), or
 *   the kind of error when no status came back (`timeout`, `connection_refused`, …).
 * - **failure group**: an endpoint's failed attempts of one cause, counted, with the first
 *   and last time seen. A success erases none of it; a group not seen for
 *   `FAILURES_KEPT_MS` ages out.
 * - **failure streak**: an endpoint's failed attempts since its last success: the time of the
 *   first one, or none when its last attempt succeeded. A group is still failing when its
 *   last failure is in the streak.
 */
import type { Attempt } from './types.js';

/** What an attempt failed on (see the module comment). */
export function causeOf(a: Pick<Attempt, 'statusCode' | 'errorKind'>): string {
  if (a.statusCode !== null && a.statusCode >= 100) return `http_${Math.floor(a.statusCode / 100)}xx`;
  return a.errorKind ?? 'network';
}

/** The host (and port, when given) of an endpoint URL, lower case; the URL itself if it does not parse. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    // An endpoint URL is checked when it is saved; one that does not parse groups as itself.
    return url;
  }
}

/** What a batch adds to one failure group. */
export interface FailureCount {
  endpointId: string;
  appId: string;
  cause: string;
  host: string;
  firstAt: number;
  lastAt: number;
  attempts: number;
  /** The status of the group's last failure in the batch (null: no response). */
  lastStatusCode: number | null;
}

/** What a batch writes: counts per group, and how the endpoints' failure streaks move. */
export interface FailureTally {
  groups: FailureCount[];
  /** Endpoints with a success in the batch: their streak ends (before `started` is written). */
  ended: string[];
  /** Endpoints with a failure after their last success in the batch: a streak starts, unless one runs. */
  started: { endpointId: string; since: number }[];
}

/** The failure groups and streaks that `attempts` (in batch order) change. */
export function tallyFailures(attempts: readonly Attempt[]): FailureTally {
  const groups = new Map<string, FailureCount>();
  const ended = new Set<string>();
  const started = new Map<string, number>();
  for (const a of attempts) {
    if (a.succeeded) {
      ended.add(a.endpointId);
      started.delete(a.endpointId);
      continue;
    }
    if (!started.has(a.endpointId)) started.set(a.endpointId, a.createdAt);
    const cause = causeOf(a);
    const key = `${a.endpointId} ${cause}`;
    const g = groups.get(key);
    if (!g) {
      groups.set(key, {
        endpointId: a.endpointId,
        appId: a.appId,
        cause,
        host: hostOf(a.url),
        firstAt: a.createdAt,
        lastAt: a.createdAt,
        attempts: 1,
        lastStatusCode: a.statusCode,
      });
      continue;
    }
    g.attempts++;
    g.firstAt = Math.min(g.firstAt, a.createdAt);
    if (a.createdAt >= g.lastAt) {
      g.lastAt = a.createdAt;
      g.lastStatusCode = a.statusCode;
    }
  }
  // In key order: two batches writing the same rows at once lock them in one order (PostgreSQL
  // upserts them in the order given), so they wait for each other but never deadlock.
  const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    groups: [...groups.values()].sort((a, b) => byKey(a.endpointId, b.endpointId) || byKey(a.cause, b.cause)),
    ended: [...ended].sort(byKey),
    started: [...started]
      .map(([endpointId, since]) => ({ endpointId, since }))
      .sort((a, b) => byKey(a.endpointId, b.endpointId)),
  };
}
