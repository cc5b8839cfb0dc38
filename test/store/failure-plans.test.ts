/**
 * The dashboard's failures page never reads the attempts, however many: its groups come from
 * `failure_groups`, and each endpoint's count of deliveries failed now from the partial index
 * `deliveries_failed`. Asserted on each backend's query plan (the figures on a 1M-attempt
 * outage are in BENCHMARKS.md).
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { FAILURE_ENDPOINTS, FAILURE_ROWS } from '../../src/store/postgres/failures.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { FAILURE_SQL } from '../../src/store/sqlite/failures.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers.js';
import { PG_URL } from '../pg.js';

const dir = tempDir();
const schema = `t${process.pid}_${Date.now().toString(36)}_failure_plans`;

afterAll(async () => {
  dir.remove();
  const client = new pg.Client(PG_URL);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

describe('failure page plans', () => {
  it('SQLite counts failed deliveries on the covering partial index, and reads no attempt', async () => {
    const path = dir.path('failure-plans.db');
    await openSqliteStore({ path })[Symbol.asyncDispose]();
    const db = new Database(path, { readonly: true });
    const plan = (sql: string, params: Record<string, unknown>) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[])
        .map((p) => p.detail)
        .join('\n');
    const rows = plan(FAILURE_SQL.rows, { appId: null, since: 0 });
    const endpoints = plan(FAILURE_SQL.endpoints, { ids: '["ep_x"]', floor: 'dlv_0', cap: 10_000 });
    expect(rows).toMatch(/failure_groups/);
    expect(endpoints).toMatch(/USING COVERING INDEX deliveries_failed \(endpoint_id=\? AND id>\?\)/);
    for (const p of [rows, endpoints]) expect(p).not.toMatch(/attempts/);
    db.close();
  });

  it('PostgreSQL counts failed deliveries on the partial index, and reads no attempt', async () => {
    await (await openPostgresStore({ url: PG_URL, schema }))[Symbol.asyncDispose]();
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await client.connect();
    try {
      // An empty table would be read whole: plan as for a big one.
      await client.query('SET enable_seqscan = off');
      const plan = async (sql: string, args: unknown[]) =>
        (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, args)).rows
          .map((r) => r['QUERY PLAN'])
          .join('\n');
      const rows = await plan(FAILURE_ROWS, [null, 0]);
      const endpoints = await plan(FAILURE_ENDPOINTS, [['ep_x'], 'dlv_0', 10_000]);
      expect(rows).toMatch(/failure_groups/);
      expect(endpoints).toMatch(/Index Only Scan using deliveries_failed/);
      for (const p of [rows, endpoints]) expect(p).not.toMatch(/attempts/);
    } finally {
      await client.end();
    }
  });
});
