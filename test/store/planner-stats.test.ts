/**
 * A queue table that outgrows its statistics is analyzed by the process completing
 * deliveries (src/store/postgres/planner-stats.ts), so that the delivery path's prepared
 * statements are re-planned on its real size: on a new database the completion's generic plan
 * otherwise scans every delivery, once per batch, until autovacuum's first pass.
 */
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.js';
import { CHECK_EVERY_ROWS, MIN_ROWS, plannerStatsLock } from '../../src/store/postgres/planner-stats.js';
import type { Completion } from '../../src/store/store.js';
import { attemptOf } from '../helpers.js';
import { PG_URL } from '../pg.js';

const prefix = `ps${process.pid}_${Date.now().toString(36)}`;
const schemas: string[] = [];
const admin = new pg.Client(PG_URL);
let store: PostgresStore | undefined;

afterEach(async () => {
  await store?.[Symbol.asyncDispose]();
  store = undefined;
});

afterAll(async () => {
  await admin.connect();
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await admin.end();
});

/**
 * A store on a new schema, with one application and endpoint and `n` messages accepted by
 * another store first: its sessions end with it, and a session that ends reports its row
 * counts to the statistics collector at once (an idle one can take ten seconds).
 */
async function storeWith(n: number) {
  const schema = `${prefix}_${schemas.length}`;
  schemas.push(schema);
  const loader = await openPostgresStore({ url: PG_URL, schema });
  const app = await loader.createApplication({ name: 'planner stats' });
  const endpoint = await loader.createEndpoint(app.id, { url: 'https://receiver.invalid/hook' });
  for (let i = 0; i < n; i += 200)
    await Promise.all(
      Array.from({ length: Math.min(200, n - i) }, () =>
        loader.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' }),
      ),
    );
  await loader[Symbol.asyncDispose]();
  store = await openPostgresStore({ url: PG_URL, schema });
  return { store, schema, endpoint };
}

/** What the planner knows of a table (`pg_class.reltuples`: -1 before any VACUUM or ANALYZE). */
async function plannerRows(schema: string, table: string): Promise<number> {
  const client = new pg.Client(PG_URL);
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      'SELECT c.reltuples::float8 AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relname = $2',
      [schema, table],
    );
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

/**
 * Waits until the statistics collector counts at least `n` live rows in `table` (the
 * sessions that wrote them have ended: a moment).
 */
async function liveRowsCounted(schema: string, table: string, n: number): Promise<void> {
  const client = new pg.Client(PG_URL);
  await client.connect();
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { rows } = await client.query<{ n: string }>(
        'SELECT n_live_tup AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2',
        [schema, table],
      );
      if (Number(rows[0]?.n ?? 0) >= n) return;
      if (Date.now() > deadline) throw new Error(`${table}: fewer than ${n} live rows counted after 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await client.end();
  }
}

describe('queue tables that outgrow their statistics (PostgreSQL)', () => {
  it('analyzes the tables holding more than four times the rows the planner knows, and then not again', async () => {
    const { store, schema } = await storeWith(MIN_ROWS + 200);
    await liveRowsCounted(schema, 'deliveries', MIN_ROWS + 200);
    await liveRowsCounted(schema, 'messages', MIN_ROWS + 200);
    expect(await plannerRows(schema, 'deliveries')).toBeLessThan(MIN_ROWS);

    // No attempt yet: the attempts table is below MIN_ROWS and left alone.
    expect(await store.plannerStats.refresh()).toEqual(['deliveries', 'messages']);
    expect(await plannerRows(schema, 'deliveries')).toBe(MIN_ROWS + 200);
    expect(await plannerRows(schema, 'messages')).toBe(MIN_ROWS + 200);
    // The statistics now match: nothing has outgrown them.
    expect(await store.plannerStats.refresh()).toEqual([]);
  });

  it('is checked by the process completing deliveries, once every thousand rows it writes', async () => {
    const { store, schema, endpoint } = await storeWith(CHECK_EVERY_ROWS);
    await liveRowsCounted(schema, 'deliveries', CHECK_EVERY_ROWS);
    const now = Date.now();
    const claimed = await store.claimDue({
      owner: 'w',
      now,
      leaseMs: 60_000,
      limit: CHECK_EVERY_ROWS,
      skipEndpoints: [],
    });
    expect(claimed).toHaveLength(CHECK_EVERY_ROWS);
    const done = (d: (typeof claimed)[number]): Completion => ({
      owner: 'w',
      deliveryId: d.id,
      endpointId: endpoint.id,
      attempt: attemptOf(d, true, now),
      next: { status: 'succeeded' },
      disableEndpoint: false,
    });
    // One short of the count: no check has started.
    await store.complete(claimed.slice(0, -1).map(done), now, 86_400_000);
    expect(await store.plannerStats.settled()).toEqual([]);
    expect(await plannerRows(schema, 'deliveries')).toBeLessThan(CHECK_EVERY_ROWS);
    // The thousandth row starts one, which analyzes the deliveries the planner did not know of.
    await store.complete(claimed.slice(-1).map(done), now, 86_400_000);
    expect(await store.plannerStats.settled()).toContain('deliveries');
    expect(await plannerRows(schema, 'deliveries')).toBe(CHECK_EVERY_ROWS);
  });

  it('leaves the work to the process that holds the lock', async () => {
    const { store, schema } = await storeWith(MIN_ROWS);
    await liveRowsCounted(schema, 'deliveries', MIN_ROWS);
    const other = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await other.connect();
    try {
      await other.query('BEGIN');
      // Another process analyzing: it holds the lock.
      await other.query('SELECT pg_advisory_xact_lock($1)', [plannerStatsLock(schema)]);
      expect(await store.plannerStats.refresh()).toEqual([]);
      await other.query('COMMIT');
      expect(await store.plannerStats.refresh()).toEqual(['deliveries', 'messages']);
    } finally {
      await other.end();
    }
  });
});
