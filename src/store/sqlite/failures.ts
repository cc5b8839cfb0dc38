/**
 * Failure groups and streaks on SQLite (see `src/core/failures.ts`, `src/store/failures.ts`):
 * what each batch of completions adds in its transaction, the page the dashboard reads, and
 * the prune of groups not seen for long. One process writes a file at a time: writer 0.
 */
import type { FailureCount, FailureTally } from '../../core/failures.js';
import { idFloor } from '../../core/ids.js';
import { OPERATIONAL_APP_ID } from '../../core/operational.js';
import {
  FAILED_NOW_CAP,
  type FailureEndpointState,
  type FailurePage,
  type FailureQuery,
  type FailureRow,
  failurePage,
} from '../failures.js';
import type { SqliteConnection } from './connection.js';

/** What the dashboard's page reads (named parameters); neither reads `attempts`. */
export const FAILURE_SQL = {
  /** The groups, one row per endpoint and cause (writer 0 only: the row is the group), but the operational webhooks'. */
  rows: `SELECT f.endpoint_id AS endpointId, f.app_id AS appId, f.cause, f.host, f.first_at AS firstAt,
      f.last_at AS lastAt, f.attempts, f.last_status_code AS lastStatusCode
    FROM failure_groups f JOIN endpoints e ON e.id = f.endpoint_id
    WHERE (@appId IS NULL OR f.app_id = @appId) AND f.last_at >= @since
      AND f.app_id <> '${OPERATIONAL_APP_ID}'`,
  /**
   * The state of the endpoints in JSON array @ids, with their deliveries failed now since the
   * id @floor, up to @cap (-1: all): `deliveries_failed` alone answers the count (a covering
   * index range, no table row read).
   */
  endpoints: `SELECT e.id, e.url, e.disabled, a.name AS appName,
      (SELECT count(*) FROM (SELECT 1 FROM deliveries d INDEXED BY deliveries_failed
       WHERE d.endpoint_id = e.id AND d.status = 'failed' AND d.id >= @floor LIMIT @cap)) AS failedNow,
      (SELECT since FROM failure_streaks s WHERE s.endpoint_id = e.id) AS streakSince
    FROM endpoints e JOIN applications a ON a.id = e.app_id
    WHERE e.id IN (SELECT value FROM json_each(@ids))`,
};

function prepare({ db }: SqliteConnection) {
  return {
    add: db.prepare<[FailureCount]>(
      `INSERT INTO failure_groups (endpoint_id, cause, writer, app_id, host, first_at, last_at, attempts, last_status_code)
       VALUES (@endpointId, @cause, 0, @appId, @host, @firstAt, @lastAt, @attempts, @lastStatusCode)
       ON CONFLICT (endpoint_id, cause, writer) DO UPDATE SET
         app_id = excluded.app_id, host = excluded.host,
         first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at),
         attempts = attempts + excluded.attempts,
         last_status_code = CASE WHEN excluded.last_at >= last_at THEN excluded.last_status_code ELSE last_status_code END`,
    ),
    endStreak: db.prepare<[string]>('DELETE FROM failure_streaks WHERE endpoint_id = ?'),
    startStreak: db.prepare<[{ endpointId: string; since: number }]>(
      'INSERT INTO failure_streaks (endpoint_id, since) VALUES (@endpointId, @since) ON CONFLICT DO NOTHING',
    ),
    rows: db.prepare<[{ appId: string | null; since: number }], FailureRow>(FAILURE_SQL.rows),
    endpoints: db.prepare<
      [{ ids: string; floor: string; cap: number }],
      Omit<FailureEndpointState, 'disabled'> & { id: string; disabled: number }
    >(FAILURE_SQL.endpoints),
    prune: db.prepare<[number]>('DELETE FROM failure_groups WHERE last_at < ?'),
    pruneStreaks: db.prepare<[]>(
      'DELETE FROM failure_streaks WHERE endpoint_id NOT IN (SELECT id FROM endpoints)',
    ),
  };
}

/** The failure groups of a SQLite store. */
export class SqliteFailures {
  private readonly stmt;

  constructor(private readonly conn: SqliteConnection) {
    this.stmt = prepare(conn);
  }

  /** Writes a batch's tally in the caller's transaction: ended streaks first, then the failures. */
  add(tally: FailureTally): void {
    for (const id of tally.ended) this.stmt.endStreak.run(id);
    for (const g of tally.groups) this.stmt.add.run(g);
    for (const s of tally.started) this.stmt.startStreak.run(s);
  }

  /** See `Store.listFailures`. */
  list(query: FailureQuery): Promise<FailurePage> {
    const rows = this.stmt.rows.all({ appId: query.appId ?? null, since: query.since ?? 0 });
    const floor = idFloor('dlv', query.failedSince);
    return failurePage(query, rows, async (ids) => {
      const cap = query.exact ? -1 : FAILED_NOW_CAP;
      const found = this.stmt.endpoints.all({ ids: JSON.stringify(ids), floor, cap });
      return new Map(found.map(({ id, ...s }) => [id, { ...s, disabled: s.disabled !== 0 }]));
    });
  }

  /** See `Store.pruneFailures`; also drops the streaks of endpoints deleted since. */
  prune(before: number): number {
    return this.conn.immediate(
      () => this.stmt.prune.run(before).changes + this.stmt.pruneStreaks.run().changes,
    );
  }
}
