/**
 * Failure groups and streaks on PostgreSQL (see `src/core/failures.ts`, `src/store/failures.ts`).
 * The completions write them (`deliveries.ts`: the streaks' end with the attempts, the
 * groups in a statement of their own when the batch has a failure); here they are read,
 * each group summed over its writers' rows, and pruned.
 */
import { idFloor } from '../../core/ids.js';
import { OPERATIONAL_APP_ID } from '../../core/operational.js';
import {
  FAILED_NOW_CAP,
  type FailurePage,
  type FailureQuery,
  type FailureRow,
  failurePage,
} from '../failures.js';
import type { PostgresConnection } from './connection.js';

/**
 * The groups, one row per endpoint and cause, but those of the operational webhooks' endpoints
 * (Herald's own, not an application's). $1: application id or null; $2: seen since (ms).
 */
export const FAILURE_ROWS = `
  SELECT f.endpoint_id AS "endpointId", min(f.app_id) AS "appId", f.cause,
    (array_agg(f.host ORDER BY f.last_at DESC))[1] AS host,
    min(f.first_at) AS "firstAt", max(f.last_at) AS "lastAt", sum(f.attempts)::float8 AS attempts,
    (array_agg(f.last_status_code ORDER BY f.last_at DESC))[1] AS "lastStatusCode"
  FROM failure_groups f JOIN endpoints e ON e.id = f.endpoint_id
  WHERE ($1::text IS NULL OR f.app_id = $1) AND f.last_at >= $2 AND f.app_id <> '${OPERATIONAL_APP_ID}'
  GROUP BY f.endpoint_id, f.cause`;

/**
 * The endpoints of a page, with their deliveries failed now counted on the partial index
 * `deliveries_failed` (up to $3; null: all), and their streak. $1: the endpoint ids; $2: the
 * lowest delivery id counted.
 */
export const FAILURE_ENDPOINTS = `
  SELECT e.id, e.url, e.disabled, a.name AS "appName",
    (SELECT count(*) FROM (SELECT 1 FROM deliveries d
     WHERE d.endpoint_id = e.id AND d.status = 'failed' AND d.id >= $2 LIMIT $3) f)::float8 AS "failedNow",
    (SELECT since FROM failure_streaks s WHERE s.endpoint_id = e.id) AS "streakSince"
  FROM endpoints e JOIN applications a ON a.id = e.app_id
  WHERE e.id = ANY($1::text[])`;

/** The failure groups of a PostgreSQL store. */
export class PostgresFailures {
  constructor(private readonly conn: PostgresConnection) {}

  /** See `Store.listFailures`. */
  async list(query: FailureQuery): Promise<FailurePage> {
    const { rows } = await this.conn.q<FailureRow>(FAILURE_ROWS, [query.appId ?? null, query.since ?? 0]);
    const floor = idFloor('dlv', query.failedSince);
    return failurePage(query, rows, async (ids) => {
      const found = await this.conn.q<{
        id: string;
        url: string;
        disabled: boolean;
        appName: string;
        failedNow: number;
        streakSince: number | null;
      }>(FAILURE_ENDPOINTS, [ids, floor, query.exact ? null : FAILED_NOW_CAP]);
      return new Map(found.rows.map(({ id, ...s }) => [id, s]));
    });
  }

  /**
   * See `Store.pruneFailures`; also drops the streaks of endpoints deleted since. A group goes
   * with all its writers' rows (one of them seen lately keeps them all, and its counts whole).
   */
  async prune(before: number): Promise<number> {
    const { rows } = await this.conn.q<{ n: number }>(
      `WITH old AS (SELECT endpoint_id, cause FROM failure_groups GROUP BY endpoint_id, cause
                   HAVING max(last_at) < $1),
            g AS (DELETE FROM failure_groups f USING old
                  WHERE f.endpoint_id = old.endpoint_id AND f.cause = old.cause RETURNING 1),
            s AS (DELETE FROM failure_streaks WHERE endpoint_id NOT IN (SELECT id FROM endpoints) RETURNING 1)
       SELECT ((SELECT count(*) FROM old) + (SELECT count(*) FROM s))::int AS n`,
      [before],
    );
    return rows[0]!.n;
  }
}
